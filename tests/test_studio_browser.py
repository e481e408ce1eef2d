"""`ivrflow studio` in a real browser: headless Chromium driven by Selenium
(Debian's chromium and chromium-driver, which `make setup` installs), against
`ivrflow studio --no-browser --port 0` started as a process on copies of the
examples. End to end: `make test` runs it, `make test-fast` leaves it out."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver  # a dev dependency: missing, the suite fails rather than skips
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from .conftest import EXAMPLES
from .servers import stop

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
MONDAY_MORNING = "2026-11-23T10:00"
SUPPORT = (EXAMPLES / "support.ivr").read_text(encoding="utf-8")

Driver = Any


def _line_of(text: str, start: str) -> int:
    """The 1-based line of the first line of `text` that starts with `start`."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.lstrip().startswith(start))


def _without_test(text: str, name: str) -> str:
    return re.sub(r'\ntest "' + re.escape(name) + r'" \{\n.*?\n\}\n', "\n", text, flags=re.S)


@pytest.fixture(scope="module")
def browser() -> Iterator[Driver]:
    assert CHROMIUM and CHROMEDRIVER, "chromium and chromium-driver are not installed: `make test` installs them"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,800", "--mute-audio", "--lang=en-GB"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def _viewport(driver: Driver, width: int, height: int, *, mobile: bool = False) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})


@pytest.fixture
def page(browser: Driver, tmp_path: Path) -> Driver:
    _viewport(browser, 1280, 800)
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    return browser


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """start(name=text, ..., editor=None): writes the files into the test's
    folder (with the examples' prompts), starts `ivrflow studio` on them and
    returns the URL it prints."""
    shutil.copytree(EXAMPLES / "prompts", tmp_path / "prompts")
    processes: list[subprocess.Popen[bytes]] = []

    def start(editor: str | None = None, **files: str) -> str:
        names = []
        for name, text in files.items():
            (tmp_path / f"{name}.ivr").write_text(text, encoding="utf-8")
            names.append(f"{name}.ivr")
        out, err = tmp_path / "studio.out", tmp_path / "studio.err"
        command = [sys.executable, "-m", "ivrflow", "studio", "--no-browser", "--port", "0", *names]
        if editor:
            command += ["--editor", editor]
        env = {**os.environ, "IVRFLOW_EDITOR_URL": ""}
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(command, cwd=tmp_path, stdout=stdout, stderr=stderr, env=env)
        processes.append(process)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = re.search(r"studio: (http://\S+)", out.read_text(encoding="utf-8"))
            if found:
                return found.group(1)
            assert process.poll() is None, f"ivrflow studio exited: {err.read_text(encoding='utf-8')}"
            time.sleep(0.05)
        raise AssertionError("ivrflow studio printed no URL")

    yield start
    for process in processes:
        stop(process)


def _wait(driver: Driver, condition: Callable[[Driver], Any], message: str, timeout: float = 10) -> Any:
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)
    except TimeoutException:
        raise AssertionError(f"{message}; the page says: {driver.find_element(By.TAG_NAME, 'body').text}") from None


def _open(driver: Driver, url: str) -> None:
    driver.get(url)
    _wait(driver, lambda d: d.execute_script("return !!document.getElementById('node-main')"), "no diagram")


def _classes(driver: Driver, element_id: str) -> set[str]:
    value = driver.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.getAttribute('class') : null;", element_id)
    assert value is not None, f"no element #{element_id}"
    return set(value.split())


def _text(driver: Driver, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def _set_time(driver: Driver, value: str) -> None:
    driver.execute_script(
        "const input = document.getElementById('call-at'); input.value = arguments[0];"
        "input.dispatchEvent(new Event('change', {bubbles: true}));", value)


def _key(driver: Driver, key: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f'#keypad button[data-key="{key}"]').click()


def _ended(driver: Driver, words: str) -> str:
    return str(_wait(driver, lambda d: words in _text(d, "ended") and _text(d, "ended"),
                     f"the call never showed {words!r}"))


def test_the_page_lists_the_files_shows_the_diagram_and_a_nodes_details(page: Driver, studio) -> None:
    quickstart = (EXAMPLES / "quickstart.ivr").read_text(encoding="utf-8")
    _open(page, studio(support=SUPPORT, quickstart=quickstart))
    files = [button.text for button in page.find_elements(By.CSS_SELECTOR, "#files button.file")]
    assert [name.splitlines()[0] for name in files] == ["support.ivr", "quickstart.ivr"]
    assert "Northwind support line" in files[0]
    for node in ("node-@call", "node-entry", "node-main", "node-tech", "node-billing"):
        assert "node" in _classes(page, node)
    assert "edge" in _classes(page, "edge-e-main-tech-0")
    assert _text(page, "diagnostics") == "No problems found."
    diagram = page.find_element(By.ID, "diagram").rect
    simulator = page.find_element(By.ID, "simulator").rect
    assert simulator["x"] >= diagram["x"] + diagram["width"], "at 1280x800 the simulator is beside the diagram"

    page.find_element(By.ID, "node-main").click()
    details = _wait(page, lambda d: "Main menu" in _text(d, "details") and _text(d, "details"), "no details")
    line = _line_of(SUPPORT, "menu main")
    assert f"support.ivr:{line}:" in details
    assert "For orders press 1." in details and "welcome" in details and "prompts/welcome.wav" in details
    assert "goto tech" in details and 'transfer "201"' in details
    assert "timeout\n6s" in details and "retries\n2" in details and "(default)" in details
    assert "on exhausted\ntransfer \"200\"" in details
    assert "selected" in _classes(page, "node-main")

    loaded = page.execute_script("return performance.getEntriesByType('resource').map((entry) => entry.name)")
    assert loaded and all(url.startswith(page.current_url.split("#")[0]) for url in loaded), "offline: nothing else"

    page.find_element(By.CSS_SELECTOR, '#files button[data-file="f1"]').click()
    _wait(page, lambda d: not d.execute_script("return !!document.getElementById('node-tech')"),
          "the second file's diagram never replaced the first")
    assert "quickstart.ivr" in _text(page, "file-path")
    assert "Select a node" in _text(page, "details")


def test_keys_2_then_1_on_a_monday_morning_walk_the_path_to_301(page: Driver, studio, tmp_path: Path) -> None:
    _open(page, studio(support=SUPPORT))
    _set_time(page, MONDAY_MORNING)
    _key(page, "2")
    _wait(page, lambda d: "current" in _classes(d, "node-tech"), "the call never reached the technical menu")
    _key(page, "1")
    assert _ended(page, "301") == "Call ended: transferred to 301"
    for node in ("node-@call", "node-entry", "node-main", "node-tech"):
        assert "visited" in _classes(page, node), node
    for edge in ("edge-e-@call-entry-0", "edge-e-entry-main-0", "edge-e-main-tech-0", "edge-e-tech-tech/press 1-0"):
        assert "visited" in _classes(page, edge), edge
    assert {"current", "visited"} <= _classes(page, "node-tech/press 1")
    assert "current" not in _classes(page, "node-tech")
    assert "visited" not in _classes(page, "node-billing")
    heard = _text(page, "heard")
    assert heard.index("For orders press 1.") < heard.index("For broadband press 1.")
    assert page.find_element(By.ID, "heard").get_attribute("aria-live") == "polite"
    shot = tmp_path / "studio.png"
    assert page.save_screenshot(str(shot))
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 10_000
    if os.environ.get("STUDIO_SCREENSHOT"):  # how docs/studio.png is made
        page.find_element(By.ID, "node-tech").click()
        page.execute_script("window.scrollTo(0, 0)")
        page.save_screenshot(os.environ["STUDIO_SCREENSHOT"])


def test_keyboard_keys_drive_the_keypad_but_not_while_typing(page: Driver, studio) -> None:
    _open(page, studio(support=SUPPORT))
    caller = page.find_element(By.ID, "call-caller")
    caller.send_keys("+4420")
    assert caller.get_attribute("value") == "+4420"
    assert _text(page, "call-status") == "No call yet."
    caller.clear()
    _set_time(page, MONDAY_MORNING)
    body = page.find_element(By.TAG_NAME, "body")
    body.send_keys("2")
    _wait(page, lambda d: "current" in _classes(d, "node-tech"), "key 2 on the keyboard did not press 2")
    body.send_keys("*")
    _wait(page, lambda d: "current" in _classes(d, "node-main"), "* on the keyboard did not go back")
    body.send_keys("2")
    _wait(page, lambda d: "current" in _classes(d, "node-tech"), "key 2 on the keyboard did not press 2")
    body.send_keys("1")
    _ended(page, "transferred to 301")
    assert "    press *\n" in page.execute_script("return window.studio.state.call.test")


def test_saving_the_file_updates_the_diagram_and_diagnostics_without_a_reload(page: Driver, studio,
                                                                                tmp_path: Path) -> None:
    _open(page, studio(support=SUPPORT))
    page.execute_script("window.notReloaded = true")
    edited = SUPPORT.replace('menu tech "Technical support"', 'menu tech "Tech help"').replace(
        'prompt sorry', 'prompt spare     say "Never played."\nprompt sorry')
    (tmp_path / "support.ivr").write_text(edited, encoding="utf-8")
    _wait(page, lambda d: "IVR113" in _text(d, "diagnostics"), "the new warning never showed")
    line = _line_of(edited, "prompt spare")
    assert f"support.ivr:{line}:8 warning[IVR113]" in _text(page, "diagnostics")
    _wait(page, lambda d: "Tech help" in d.find_element(By.ID, "node-tech").text, "the diagram never changed")
    assert page.execute_script("return window.notReloaded") is True
    assert not page.find_element(By.ID, "stale").is_displayed()


def test_a_broken_file_shows_its_error_and_a_stale_diagram_until_it_is_fixed(page: Driver, studio,
                                                                            tmp_path: Path) -> None:
    _open(page, studio(support=SUPPORT, editor="vscode://file/{path}:{line}:{column}"))
    broken = SUPPORT.replace('press 1 -> transfer "301"', "press 1 -> goto nowhere")
    replacement = tmp_path / "support.ivr.new"  # saved the way many editors do: a new file renamed over the old
    replacement.write_text(broken, encoding="utf-8")
    os.replace(replacement, tmp_path / "support.ivr")
    _wait(page, lambda d: d.find_element(By.ID, "stale").is_displayed(), "the diagram was never marked stale")
    line = _line_of(broken, "press 1 -> goto nowhere")
    diagnostics = _text(page, "diagnostics")
    assert f"support.ivr:{line}:21 error[IVR002]" in diagnostics and "nowhere" in diagnostics
    link = page.find_element(By.CSS_SELECTOR, "#diagnostics a.loc")
    assert link.get_attribute("href").startswith("vscode://file/")
    assert link.get_attribute("href").endswith(f"support.ivr:{line}:21")
    assert "is-stale" in _classes(page, "diagram")
    assert "node" in _classes(page, "node-main"), "the last good diagram stays"
    page.find_element(By.ID, "node-main").click()
    source = _wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#details .source a.loc"), "no editor link")
    assert source[0].get_attribute("href").startswith("vscode://file/")
    assert page.find_elements(By.CSS_SELECTOR, "#files .has-errors"), "the file list marks the file"

    (tmp_path / "support.ivr").write_text(SUPPORT, encoding="utf-8")
    _wait(page, lambda d: not d.find_element(By.ID, "stale").is_displayed(), "fixing the file never cleared the mark")
    _wait(page, lambda d: _text(d, "diagnostics") == "No problems found.", "the error stayed")
    assert "is-stale" not in _classes(page, "diagram")
    assert "node" in _classes(page, "node-tech/press 1")
    assert not page.find_elements(By.CSS_SELECTOR, "#files .has-errors")


def test_the_coverage_toggle_marks_an_untested_branch(page: Driver, studio) -> None:
    _open(page, studio(support=_without_test(SUPPORT, "tech line for phones")))
    toggle = page.find_element(By.ID, "coverage-toggle")
    toggle.click()
    _wait(page, lambda d: "missed" in _classes(d, "edge-e-tech-tech/press 2-0"), "the untested branch is not marked")
    assert toggle.get_attribute("aria-pressed") == "true"
    assert "missed" in _classes(page, "node-tech/press 2")
    assert "covered" in _classes(page, "edge-e-tech-tech/press 1-0")
    assert "covered" in _classes(page, "node-main")
    assert "tech" in _text(page, "coverage-summary") and "%" in _text(page, "coverage-summary")
    toggle.click()
    assert not page.find_elements(By.CSS_SELECTOR, "#diagram .missed, #diagram .covered")
    assert not page.find_element(By.ID, "coverage-summary").is_displayed()


def test_save_as_test_gives_a_test_that_ivrflow_test_passes(page: Driver, studio, tmp_path: Path) -> None:
    _open(page, studio(support=SUPPORT))
    _set_time(page, MONDAY_MORNING)
    _key(page, "2")
    _key(page, "1")
    _ended(page, "301")
    page.find_element(By.ID, "save-test").click()
    text = _text(page, "test-text")
    assert text.startswith("test ") and 'expect transfer "301"' in text and "press 2" in text
    page.find_element(By.ID, "copy-test").click()
    _wait(page, lambda d: _text(d, "copy-status"), "the copy button said nothing")
    copy = tmp_path / "walked.ivr"
    copy.write_text(SUPPORT + "\n" + text + "\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "ivrflow", "test", str(copy)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    name = text.splitlines()[0].split('"')[1]
    assert f"✓ {name}" in done.stdout


def test_export_downloads_the_diagram_as_svg_and_png(page: Driver, studio, tmp_path: Path) -> None:
    _open(page, studio(support=SUPPORT))
    page.find_element(By.ID, "export-svg").click()
    page.find_element(By.ID, "export-png").click()
    svg, png = tmp_path / "support.svg", tmp_path / "support.png"
    _wait(page, lambda d: svg.exists() and png.exists() and png.stat().st_size > 0, "no downloads", timeout=15)
    assert "<svg" in svg.read_text(encoding="utf-8") and "Northwind support line" in svg.read_text(encoding="utf-8")
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 1000 and height > 300, (width, height)


def test_at_phone_width_the_panels_stack_without_sideways_scrolling(page: Driver, studio) -> None:
    url = studio(support=SUPPORT)
    _viewport(page, 390, 844, mobile=True)
    _open(page, url)
    _set_time(page, MONDAY_MORNING)
    _key(page, "2")
    _wait(page, lambda d: "current" in _classes(d, "node-tech"), "the key did nothing")
    page.find_element(By.ID, "node-main").click()
    widths = page.execute_script("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1] == 390
    diagram = page.find_element(By.ID, "diagram").rect
    simulator = page.find_element(By.ID, "simulator").rect
    assert simulator["y"] >= diagram["y"] + diagram["height"]
    assert simulator["x"] >= 0 and simulator["x"] + simulator["width"] <= 390
    for key in page.find_elements(By.CSS_SELECTOR, "#keypad button"):
        assert key.rect["width"] >= 44 and key.rect["height"] >= 36, "keys big enough for a thumb"


def test_an_ask_is_answered_with_a_button_for_each_declared_answer(page: Driver, studio) -> None:
    _open(page, studio(clinic=(EXAMPLES / "clinic.ivr").read_text(encoding="utf-8")))
    _key(page, "1")
    _wait(page, lambda d: "where to go" in _text(d, "ended"), "the ask was not shown")
    answers = page.find_elements(By.CSS_SELECTOR, "#choices button")
    assert [button.text for button in answers] == ['transfer "+15550100"', 'transfer "+15550101"', "repeat", "hangup"]
    answers[1].click()
    assert _ended(page, "+15550101") == "Call ended: transferred to +15550101"
    assert not page.find_element(By.ID, "choices").is_displayed()


def test_a_collect_takes_typed_digits_and_a_lookup_is_answered_in_a_form(page: Driver, studio,
                                                                          tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "common.ivr", tmp_path / "common.ivr")
    bank = (EXAMPLES / "bank.ivr").read_text(encoding="utf-8")
    _open(page, studio(bank=bank))
    _set_time(page, MONDAY_MORNING)
    _key(page, "1")
    _wait(page, lambda d: "current" in _classes(d, "node-account"), "the call never reached the collect")
    page.find_element(By.ID, "collect-digits").send_keys("12345678#")
    page.find_element(By.CSS_SELECTOR, "#collect-form button[type=submit]").click()
    _wait(page, lambda d: d.find_element(By.ID, "answer-form").is_displayed(), "the lookup asked for no answer")
    assert "find_balance" in _text(page, "answer-form")
    page.find_element(By.CSS_SELECTOR, "#answer-form input[name=balance]").send_keys("42.10")
    page.find_element(By.CSS_SELECTOR, "#answer-form input[name=status]").send_keys("ok")
    page.find_element(By.CSS_SELECTOR, "#answer-form button[type=submit]").click()
    _wait(page, lambda d: "Your balance is 42.10 dollars." in _text(d, "heard"), "the answer was not used")
    assert "current" in _classes(page, "node-main")
    assert {"visited"} <= _classes(page, "node-find_balance")
    page.find_element(By.ID, "save-test").click()
    text = _text(page, "test-text")
    assert 'press "12345678#"' in text and 'balance="42.10"' in text
    copy = tmp_path / "walked.ivr"
    copy.write_text(bank + "\n" + text + "\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "ivrflow", "test", str(copy)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_say_prompts_are_spoken_and_recordings_played_in_order(page: Driver, studio) -> None:
    _open(page, studio(support=SUPPORT))
    page.execute_script("""
        window.sounds = [];
        window.speechSynthesis.speak = (utterance) => {
          window.sounds.push(['say', utterance.text, utterance.lang]);
          setTimeout(() => utterance.dispatchEvent(new Event('end')), 0);
        };
        HTMLMediaElement.prototype.play = function () {
          window.sounds.push(['file', new URL(this.src).pathname]);
          setTimeout(() => this.dispatchEvent(new Event('ended')), 0);
          return Promise.resolve();
        };""")
    _set_time(page, MONDAY_MORNING)
    _key(page, "2")
    sounds = _wait(page, lambda d: len(d.execute_script("return window.sounds")) >= 3
                   and d.execute_script("return window.sounds"), "nothing was spoken or played")
    assert sounds[0] == ["file", "/api/files/f0/prompts/prompts/welcome.wav"]
    assert sounds[1][0] == "say" and sounds[1][1].startswith("For orders press 1.") and sounds[1][2] == "en-GB"
    assert sounds[2][1].startswith("For broadband press 1.")
    status = page.execute_async_script(
        "fetch(arguments[0]).then((r) => arguments[1]([r.status, r.headers.get('content-type')]))", sounds[0][1])
    assert status[0] == 200 and "audio" in status[1]


def test_silence_and_hang_up(page: Driver, studio) -> None:
    _open(page, studio(support=SUPPORT))
    _set_time(page, MONDAY_MORNING)
    silence = page.find_element(By.ID, "silence")
    for _ in range(3):
        silence.click()
    assert _ended(page, "200") == "Call ended: transferred to 200"
    page.find_element(By.ID, "call-start").click()
    _wait(page, lambda d: not d.find_element(By.ID, "ended").is_displayed(), "the call did not restart")
    _key(page, "3")
    page.find_element(By.ID, "hangup").click()
    _ended(page, "hung up")
    assert "current" in _classes(page, "node-billing")


def test_a_file_that_does_not_parse_has_no_diagram_until_it_does(page: Driver, studio, tmp_path: Path) -> None:
    broken = SUPPORT.replace('press 1 -> transfer "301"', "press 1 ->")
    page.get(studio(support=broken))
    line = broken.splitlines().index("    press 1 ->") + 1
    _wait(page, lambda d: f"support.ivr:{line}:" in _text(d, "diagnostics"), "the syntax error is not listed")
    assert "IVR001" in _text(page, "diagnostics")
    assert "No diagram yet" in _text(page, "diagram") and not page.find_element(By.ID, "stale").is_displayed()
    (tmp_path / "support.ivr").write_text(SUPPORT, encoding="utf-8")
    _wait(page, lambda d: d.execute_script("return !!document.getElementById('node-main')"), "no diagram after the fix")
    assert _text(page, "diagnostics") == "No problems found."
