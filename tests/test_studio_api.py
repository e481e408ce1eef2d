"""ivrflow studio's server (issue 16): the JSON API over the Starlette test
client, the SVG ids, simulated calls whose walk `ivrflow test` passes, and
(end to end, marked slow) a real server that follows a file as it is edited."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from ivrflow.cli import main
from ivrflow.compiler.render import to_dot
from ivrflow.loader import load
from ivrflow.studio import view
from ivrflow.studio.app import MAX_BODY, create_app

with warnings.catch_warnings():  # starlette 1.x suggests httpx2, which is not installed: httpx still works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
MONDAY = "2026-11-23 10:00"

SMALL = """\
flow small "A small line" {
    start main
}

prompt hello say "Hello. Press 1 for sales."

menu main {
    play hello
    press 1 -> transfer "100"
}

test "sales" {
    press 1
    expect transfer "100"
}
"""


def client_for(*paths: Path | str, editor_url: str | None = None) -> TestClient:
    return TestClient(create_app(list(paths), editor_url=editor_url, watch=False), base_url="http://127.0.0.1")


@pytest.fixture
def support(tmp_path: Path) -> Path:
    """A copy of the support example with its prompts."""
    shutil.copy(EXAMPLES / "support.ivr", tmp_path / "support.ivr")
    shutil.copytree(EXAMPLES / "prompts", tmp_path / "prompts")
    return tmp_path / "support.ivr"


def svg_ids(svg: str) -> dict[str, str]:
    """The id of each <g> in the SVG, with its class (entities decoded by the XML parser)."""
    root = ET.fromstring(svg)
    return {g.get("id", ""): g.get("class", "") for g in root.iter("{http://www.w3.org/2000/svg}g")}


# --- the file and its diagram ----------------------------------------------------------------

def test_files_are_listed_by_id_with_their_titles(support: Path) -> None:
    files = client_for(support).get("/api/files").json()["files"]
    assert files == [{"id": "f0", "path": str(support), "name": "support.ivr", "title": "Northwind support line"}]


def test_the_svg_carries_node_and_edge_ids_that_the_json_names(support: Path) -> None:
    document = client_for(support).get("/api/files/f0").json()
    ids = svg_ids(document["svg"])
    assert document["stale"] is False and document["version"] == 1 and document["tests"] == 13
    assert ids["node-main"] == "node" and ids["node-tech/press 1"] == "node"
    edge = next(e for e in document["edges"] if e["from"] == "main" and e["to"] == "tech")
    assert edge == {"id": "e-main-tech-0", "from": "main", "to": "tech", "label": "2", "style": "written"}
    for item in document["edges"]:
        assert ids[f"edge-{item['id']}"] == "edge"
    for name in document["nodes"]:
        assert ids[f"node-{name}"] == "node"


def test_render_keeps_its_output_without_ids_and_adds_them_on_request(support: Path) -> None:
    checked = load(str(support))
    assert checked.flow is not None and checked.graph is not None
    plain = to_dot(checked.flow, checked.graph, checked.diagnostics)
    with_ids = to_dot(checked.flow, checked.graph, checked.diagnostics, ids=True)
    assert "node-" not in plain and 'id="node-main"' in with_ids and 'id="edge-e-main-tech-0"' in with_ids


def test_node_details_make_the_defaults_explicit(tmp_path: Path) -> None:
    flow = tmp_path / "small.ivr"
    flow.write_text(SMALL)
    document = client_for(flow, editor_url="vscode://file/{path}:{line}:{column}").get("/api/files/f0").json()
    main_menu = document["nodes"]["main"]
    assert (main_menu["kind"], main_menu["line"], main_menu["column"]) == ("menu", 7, 6)
    assert main_menu["editor_url"] == f"vscode://file/{flow.resolve()}:7:6"
    details = main_menu["details"]
    assert details["prompts"] == [{"name": "hello", "text": "Hello. Press 1 for sales.", "file": None,
                                   "fully": False, "when": "always"}]
    assert details["keys"] == [{"key": "1", "to": 'transfer "100"', "line": 9}]
    assert (details["timeout"], details["retries"]) == ("5s", 3)
    assert details["handlers"] == {"timeout": "repeat", "invalid": "repeat", "exhausted": "hangup"}
    assert {"timeout", "retries", "handlers.timeout", "handlers.invalid", "handlers.exhausted"} <= set(
        details["defaults"])
    assert document["nodes"]["main/press 1"]["details"]["action"] == "transfer 100"


def test_without_an_editor_template_the_location_is_there_to_copy(tmp_path: Path) -> None:
    flow = tmp_path / "small.ivr"
    flow.write_text(SMALL)
    node = client_for(flow).get("/api/files/f0").json()["nodes"]["main"]
    assert node["editor_url"] is None and (node["file"], node["line"]) == (str(flow), 7)


def test_a_broken_edit_keeps_the_last_good_diagram_and_lists_the_errors(tmp_path: Path) -> None:
    flow = tmp_path / "small.ivr"
    flow.write_text(SMALL)
    client = client_for(flow)
    good = client.get("/api/files/f0").json()
    flow.write_text(SMALL.replace("press 1 -> transfer", "press 1 -> goto nowhere, transfer"))
    client.app.state.workspace.reload("f0")  # type: ignore[attr-defined]
    broken = client.get("/api/files/f0").json()
    assert broken["version"] == 2 and broken["stale"] is True
    assert broken["svg"] == good["svg"] and broken["nodes"] == good["nodes"]
    errors = [d for d in broken["diagnostics"] if d["severity"] == "error"]
    assert errors and errors[0]["line"] == 9 and errors[0]["file"] == str(flow)
    flow.write_text(SMALL.replace("Hello.", "Welcome."))
    client.app.state.workspace.reload("f0")  # type: ignore[attr-defined]
    fixed = client.get("/api/files/f0").json()
    assert fixed["stale"] is False and "Welcome." in fixed["svg"]
    assert not [d for d in fixed["diagnostics"] if d["severity"] == "error"]


def test_an_edit_that_leaves_the_diagram_as_it_was_does_not_run_graphviz_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flow = tmp_path / "small.ivr"
    flow.write_text(SMALL)
    client = client_for(flow)
    before = client.get("/api/files/f0").json()
    runs: list[str] = []
    real = view.run_dot
    monkeypatch.setattr(view, "run_dot", lambda source, fmt, cancelled=None: runs.append(fmt) or real(source, fmt))
    flow.write_text(SMALL + '\ntest "another" {\n    press 1\n    expect transfer "100"\n}\n')
    client.app.state.workspace.reload("f0")  # type: ignore[attr-defined]
    after = client.get("/api/files/f0").json()
    assert runs == [] and after["svg"] == before["svg"]
    assert (after["version"], after["stale"], after["tests"]) == (2, False, 2)
    flow.write_text(SMALL.replace("Hello.", "Hi."))
    client.app.state.workspace.reload("f0")  # type: ignore[attr-defined]
    assert runs == ["svg"] and "Hi." in client.get("/api/files/f0").json()["svg"]


def test_a_first_version_with_errors_is_drawn_but_not_called(tmp_path: Path) -> None:
    flow = tmp_path / "small.ivr"
    flow.write_text(SMALL.replace("press 1 -> transfer", "press 1 -> goto nowhere, transfer"))
    client = client_for(flow)
    document = client.get("/api/files/f0").json()
    assert document["stale"] is True and svg_ids(document["svg"])["node-main"] == "node"
    for path in ("/api/files/f0/calls", "/api/files/f0/coverage"):
        answer = client.request("POST" if path.endswith("calls") else "GET", path)
        assert answer.status_code == 409 and answer.json()["error"]["code"] == "has-errors", path


def test_a_file_that_never_parsed_has_no_diagram_to_simulate(tmp_path: Path) -> None:
    flow = tmp_path / "bad.ivr"
    flow.write_text("menu main {\n    press 1 ->\n}\n")
    client = client_for(flow)
    document = client.get("/api/files/f0").json()
    assert document["stale"] is True and document["svg"] is None and document["diagnostics"][0]["code"] == "IVR001"
    answer = client.post("/api/files/f0/calls", json={})
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "no-diagram"


# --- simulated calls ----------------------------------------------------------------------------

def walk(client: TestClient, *inputs: str, at: str | None = MONDAY, caller: str | None = None) -> dict:
    answer = client.post("/api/files/f0/calls", json={"at": at, "caller": caller})
    assert answer.status_code == 201, answer.text
    state = answer.json()
    for entry in inputs:
        answer = client.post(f"/api/calls/{state['call']}", json={"input": entry})
        assert answer.status_code == 200, answer.text
        state = answer.json()
    return state


def passes_as_test(flow: Path, test: str, tmp_path: Path) -> int:
    """`ivrflow test` on a copy of the flow (beside it, so includes and prompts are found) with the test added."""
    copy = flow.with_name(f"walked_{flow.name}")
    copy.write_text(flow.read_text() + "\n" + test)
    return main(["test", str(copy), "-k", "walked in the studio", "--no-coverage"])


def test_keys_2_then_1_on_a_weekday_morning_transfer_to_301(support: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    state = walk(client_for(support), "2", "1")
    assert state["ended"] == {"kind": "transfer", "text": "transferred to 301"} and state["waiting"] is None
    assert state["path"] == ["@call", "entry", "main", "tech", "tech/press 1"]
    assert state["edges"] == ["e-@call-entry-0", "e-entry-main-0", "e-main-tech-0", "e-tech-tech/press 1-0"]
    assert [h["kind"] for h in state["heard"]] == ["file", "say", "say"]
    assert state["heard"][0]["url"] == "/api/files/f0/prompts/prompts/welcome.wav"
    assert state["heard"][2]["text"].startswith("For broadband press 1")
    assert state["test"] == ('test "walked in the studio" {\n    at "2026-11-23 10:00"\n    press 2\n    press 1\n'
                             '    expect transfer "301"\n}\n')
    assert passes_as_test(support, state["test"], tmp_path) == 0, capsys.readouterr().out


def test_silence_and_a_caller_are_written_into_the_test(support: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    state = walk(client_for(support), "silence", "3", at="2026-11-24 19:59", caller="+15550123")
    assert state["waiting"] == "keys" and state["node"] == "billing" and state["ended"] is None
    assert 'caller "+15550123"' in state["test"] and "    silence\n    press 3\n" in state["test"]
    assert state["test"].endswith("    expect goto billing\n}\n")
    assert passes_as_test(support, state["test"], tmp_path) == 0, capsys.readouterr().out


def test_an_ask_offers_its_declared_answers_and_takes_one(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    clinic = tmp_path / "clinic.ivr"
    shutil.copy(EXAMPLES / "clinic.ivr", clinic)
    client = client_for(clinic)
    state = walk(client, "1")
    assert state["waiting"] == "ask" and state["asking"] == "https://appointments.riverside.example/ivr"
    assert state["choices"] == ['transfer "+15550100"', 'transfer "+15550101"', "repeat", "hangup"]
    assert state["ended"]["kind"] == "ask"
    wrong = client.post(f"/api/calls/{state['call']}", json={"input": 'answer:transfer "999"'})
    assert wrong.status_code == 400 and "not an answer" in wrong.json()["error"]["message"]
    state = client.post(f"/api/calls/{state['call']}", json={"input": 'answer:transfer "+15550101"'}).json()
    assert state["ended"] == {"kind": "transfer", "text": "transferred to +15550101"}
    assert state["edges"][-1].startswith("e-main/press 1-main/press 1/answer 2")
    assert 'answer transfer "+15550101"' in state["test"]
    assert passes_as_test(clinic, state["test"], tmp_path) == 0, capsys.readouterr().out


def test_a_collect_a_lookup_and_a_ringing_transfer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bank = tmp_path / "bank.ivr"
    shutil.copy(EXAMPLES / "bank.ivr", bank)
    shutil.copy(EXAMPLES / "common.ivr", tmp_path / "common.ivr")
    shutil.copytree(EXAMPLES / "prompts", tmp_path / "prompts")
    client = client_for(bank)
    state = walk(client, "1", "12345678#")
    assert state["waiting"] == "lookup"
    assert state["lookup"] == {"name": "find_balance", "receive": ["balance", "status"]}
    state = client.post(f"/api/calls/{state['call']}", json={"input": "lookup:balance=42.10,status=ok"}).json()
    assert state["variables"]["balance"] == "42.10" and state["waiting"] == "keys"
    assert any("42.10" in h["text"] for h in state["heard"])
    assert 'press "12345678#"' in state["test"] and 'answer find_balance balance="42.10" status="ok"' in state["test"]
    assert passes_as_test(bank, state["test"], tmp_path) == 0, capsys.readouterr().out

    ringing = walk(client, "0")
    assert ringing["waiting"] == "ring" and ringing["ended"]["kind"] == "transfer"
    state = client.post(f"/api/calls/{ringing['call']}", json={"input": "no-answer"}).json()
    assert state["ended"]["kind"] == "voicemail" and "transfer-fails no-answer" in state["test"]
    assert passes_as_test(bank, state["test"].replace("walked", "walked in the studio, ringing"), tmp_path) == 0


def test_hanging_up_ends_the_walk(support: Path) -> None:
    client = client_for(support)
    state = walk(client, "2", "hangup")
    assert state["ended"] == {"kind": "hangup", "text": "the caller hung up"} and state["waiting"] is None
    again = client.post(f"/api/calls/{state['call']}", json={"input": "1"})
    assert again.status_code == 400 and "ended" in again.json()["error"]["message"]
    assert client.get(f"/api/calls/{state['call']}").json()["node"] == "tech"


def test_the_call_table_is_bounded(support: Path) -> None:
    client = client_for(support)
    client.app.state.calls.limit = 2  # type: ignore[attr-defined]
    first, second, third = (walk(client)["call"] for _ in range(3))
    assert client.get(f"/api/calls/{first}").status_code == 404
    assert client.get(f"/api/calls/{third}").status_code == 200 and len(second) >= 20


# --- coverage, prompts, export ---------------------------------------------------------------------

def test_coverage_marks_what_the_tests_miss(support: Path) -> None:
    coverage = client_for(support).get("/api/files/f0/coverage").json()
    assert coverage["nodes"]["tech/press 1"] is True and coverage["nodes"]["tech/exhausted"] is False
    assert coverage["edges"]["e-main-tech-0"] is True and coverage["edges"]["e-tech-main-0"] is False
    assert {"what": "tech: press *", "node": "tech", "event": "press *", "file": str(support), "line": 51,
            "column": 5} in coverage["missed"]
    assert coverage["percent"] == 68.2 and coverage["tests"] == {"passed": 13, "failed": 0}


def test_only_the_flows_own_prompt_files_are_served(support: Path) -> None:
    (support.parent / "secret.txt").write_text("secret")
    client = client_for(support)
    answer = client.get("/api/files/f0/prompts/prompts/welcome.wav")
    assert answer.status_code == 200 and answer.content[:4] == b"RIFF"
    assert answer.headers["content-type"] == "audio/x-wav"
    for path in ("secret.txt", "prompts/../secret.txt", "support.ivr", "%2e%2e/%2e%2e/etc/passwd",
                 "prompts/hello.wav", "prompts/goodbye.wav"):
        refused = client.get(f"/api/files/f0/prompts/{path}")
        assert refused.status_code == 404 and "error" in refused.json(), path


def test_export_svg_and_png(support: Path) -> None:
    client = client_for(support)
    svg = client.get("/api/files/f0/export.svg")
    assert svg.headers["content-disposition"] == 'attachment; filename="support.svg"'
    assert svg.text.startswith("<?xml") and svg_ids(svg.text.split("\n", 1)[1])["node-main"] == "node"
    png = client.get("/api/files/f0/export.png")
    assert png.content.startswith(b"\x89PNG") and png.headers["content-type"] == "image/png"


def test_the_page_and_its_assets_are_served(support: Path) -> None:
    client = client_for(support)
    own = client.post("/api/files/f0/calls", json={}, headers={"origin": "http://127.0.0.1"})
    assert own.status_code == 201
    page = client.get("/")
    assert page.status_code == 200 and "/static/studio.js" in page.text and "Northwind support line" in page.text
    assert client.get("/static/studio.js").status_code == 200


# --- bad requests ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "body", "headers", "status", "code"), [
    ("GET", "/api/files/f7", None, {}, 404, "unknown-file"),
    ("GET", "/api/files/f7/coverage", None, {}, 404, "unknown-file"),
    ("GET", "/api/calls/nope", None, {}, 404, "unknown-call"),
    ("POST", "/api/calls/nope", b'{"input": "1"}', {"content-type": "application/json"}, 404, "unknown-call"),
    ("POST", "/api/files/f0/calls", b"{not json", {"content-type": "application/json"}, 400, "bad-json"),
    ("POST", "/api/files/f0/calls", b"[1]", {"content-type": "application/json"}, 400, "bad-input"),
    ("POST", "/api/files/f0/calls", b'{"at": "yesterday"}', {"content-type": "application/json"}, 400, "bad-input"),
    ("POST", "/api/files/f0/calls", b'{"at": 5}', {"content-type": "application/json"}, 400, "bad-input"),
    ("POST", "/api/files/f0/calls", b'{"caller": "+1\\n}"}', {"content-type": "application/json"}, 400, "bad-input"),
    ("POST", "/api/files/f0/calls", b'{"at": null}', {"content-type": "text/plain"}, 415, "unsupported-media-type"),
    ("POST", "/api/files/f0/calls", b"{}" + b" " * MAX_BODY, {"content-type": "application/json"}, 413, "too-large"),
    ("GET", "/api/nothing", None, {}, 404, "not-found"),
    ("DELETE", "/api/files/f0", None, {}, 405, "method-not-allowed"),
    ("GET", "/api/files", None, {"host": "attacker.example"}, 400, "unknown-host"),
    ("POST", "/api/files/f0/calls", None, {"origin": "https://attacker.example"}, 403, "foreign-origin"),
    ("GET", "/api/files/f0", None, {"origin": "http://127.0.0.1:3000"}, 403, "foreign-origin"),
])
def test_bad_requests_are_4xx_json(support: Path, method: str, path: str, body: bytes | None,
                                   headers: dict[str, str], status: int, code: str) -> None:
    answer = client_for(support).request(method, path, content=body, headers=headers)
    assert answer.status_code == status and answer.json()["error"]["code"] == code, answer.text


@pytest.mark.parametrize("entry", ["12a", "", "answer:goto nowhere", "lookup:x=1", "no-answer", "1\n2", 5, None])
def test_inputs_the_call_cannot_take_are_400(support: Path, entry: object) -> None:
    client = client_for(support)
    call = walk(client)["call"]
    answer = client.post(f"/api/calls/{call}", json={"input": entry})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "bad-input", answer.text
    assert client.get(f"/api/calls/{call}").json()["path"] == ["@call", "entry", "main"]


def test_the_page_and_its_assets_ship_in_the_wheel() -> None:
    import tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["ivrflow"]
    package = ROOT / "ivrflow"
    shipped = {path for pattern in patterns for path in package.glob(pattern) if path.is_file()}
    assets = {path for folder in ("templates", "static") for path in (package / "studio" / folder).rglob("*")
              if path.is_file()}
    assert package / "studio" / "templates" / "studio.html" in assets and assets <= shipped


def test_the_command_says_when_the_port_is_taken(support: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["studio", str(support), "--no-browser", "--port", str(port)]) == 2
    assert capsys.readouterr().err == f"ivrflow: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_the_command_refuses_a_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["studio", "no/such.ivr", "--no-browser"]) == 2
    assert capsys.readouterr().err == "ivrflow: error: no/such.ivr: no such file\n"


# --- end to end: a real server that follows the file -------------------------------------------------

@contextlib.contextmanager
def studio_server(*paths: Path) -> Iterator[str]:
    """`ivrflow studio` as a user runs it; yields its URL."""
    with subprocess.Popen([sys.executable, "-m", "ivrflow", "studio", *map(str, paths), "--no-browser"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("studio: http://127.0.0.1:"), line
            yield line.split()[1]
        finally:
            process.terminate()
            process.wait(10)


class Events:
    """The server's event stream, read in a thread."""

    def __init__(self, url: str):
        self.received: list[dict] = []
        self.open = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url,), daemon=True)
        self._thread.start()
        assert self.open.wait(10)

    def _read(self, url: str) -> None:
        with contextlib.suppress(httpx.HTTPError), httpx.stream("GET", url + "api/events", timeout=30) as answer:
            event = None
            for line in answer.iter_lines():
                self.open.set()
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "file":
                    self.received.append(json.loads(line[6:]))

    def wait_for(self, version: int, seconds: float = 10) -> dict:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = [e for e in self.received if e["version"] >= version]
            if found:
                return found[0]
            time.sleep(0.02)
        raise AssertionError(f"no event for version {version}: {self.received}")


@pytest.mark.slow
def test_editing_the_file_publishes_new_versions_and_stale_ones(tmp_path: Path) -> None:
    flow = tmp_path / "small.ivr"
    flow.write_text(SMALL)
    with studio_server(flow) as url:
        assert socket.gethostbyname(httpx.URL(url).host) == "127.0.0.1"
        events = Events(url)
        flow.write_text(SMALL.replace("Hello.", "Welcome."))
        assert events.wait_for(2) == {"id": "f0", "version": 2, "stale": False, "drawing": False}
        document = httpx.get(url + "api/files/f0").json()
        assert document["version"] == 2 and "Welcome." in document["svg"]

        flow.write_text(SMALL.replace("press 1 -> transfer", "press 1 -> goto nowhere, transfer"))
        assert events.wait_for(3)["stale"] is True
        broken = httpx.get(url + "api/files/f0").json()
        assert broken["stale"] is True and "Welcome." in broken["svg"]
        assert next(d["line"] for d in broken["diagnostics"] if d["severity"] == "error") == 9

        flow.write_text(SMALL)
        assert events.wait_for(4)["stale"] is False


@pytest.mark.slow
def test_a_changed_prompt_file_or_include_reloads_the_flow(tmp_path: Path) -> None:
    (tmp_path / "more.ivr").write_text('menu more {\n    press 1 -> transfer "200"\n}\n')
    flow = tmp_path / "main.ivr"
    flow.write_text(SMALL.replace('press 1 -> transfer "100"', "press 1 -> goto more")
                    .replace("flow small", 'include "more.ivr"\n\nflow small'))
    with studio_server(flow) as url:
        assert httpx.get(url + "api/files/f0").json()["stale"] is False
        events = Events(url)
        (tmp_path / "more.ivr").write_text('menu more {\n    press 1 -> transfer "201"\n}\n')
        assert events.wait_for(2)["version"] == 2
        assert "transfer 201" in httpx.get(url + "api/files/f0").json()["svg"]
        (tmp_path / "unrelated.txt").write_text("x")
        time.sleep(1)
        assert httpx.get(url + "api/files/f0").json()["version"] == 2


@pytest.mark.slow
def test_a_recording_that_appears_clears_its_error_without_holding_the_diagram_back(tmp_path: Path) -> None:
    flow = tmp_path / "main.ivr"
    flow.write_text(SMALL.replace('prompt hello say "Hello. Press 1 for sales."',
                                  'prompt hello file "sounds/beep.wav"'))
    with studio_server(flow) as url:
        missing = httpx.get(url + "api/files/f0").json()
        assert missing["stale"] is False and missing["diagnostics"][0]["code"] == "IVR112"
        events = Events(url)
        (tmp_path / "sounds").mkdir()  # a folder that was not there to watch
        shutil.copy(EXAMPLES / "prompts" / "hello.wav", tmp_path / "sounds" / "beep.wav")
        events.wait_for(2)
        assert "IVR112" not in {d["code"] for d in httpx.get(url + "api/files/f0").json()["diagnostics"]}
        assert httpx.get(url + "api/files/f0/prompts/sounds/beep.wav").content[:4] == b"RIFF"
        time.sleep(0.5)
        (tmp_path / "sounds" / "beep.wav").write_bytes(b"RIFF" + bytes(100))  # now watched in its own folder
        assert httpx.get(url + "api/files/f0/prompts/sounds/beep.wav").content == b"RIFF" + bytes(100)
        version = httpx.get(url + "api/files/f0").json()["version"]
        events.wait_for(version)
        (tmp_path / "sounds" / "beep.wav").unlink()
        events.wait_for(version + 1)
        assert httpx.get(url + "api/files/f0").json()["diagnostics"][0]["code"] == "IVR112"


def _watching(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
              edit: Callable[[Path, list[dict]], Awaitable[None]]) -> list[dict]:
    """The documents a workspace publishes, in order, while it watches a
    copy of SMALL that `edit(flow, published)` changes."""
    from ivrflow.studio import workspace

    flow = tmp_path / "small.ivr"
    flow.write_text(SMALL)
    files = workspace.Workspace([flow])
    published: list[dict] = []
    monkeypatch.setattr(files, "publish", lambda state: published.append(files.document(state.id)))

    async def run() -> None:
        stop = asyncio.Event()
        watching = asyncio.create_task(files.watch(stop))
        await asyncio.sleep(0.5)
        await edit(flow, published)
        stop.set()
        await watching

    asyncio.run(run())
    return published


async def _published(published: list[dict], count: int) -> None:
    """Wait (up to 5 s) until `count` documents have been published."""
    for _ in range(100):
        if len(published) >= count:
            return
        await asyncio.sleep(0.05)


@pytest.mark.slow
def test_a_diagram_that_takes_long_comes_after_the_diagnostics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ivrflow.studio import workspace

    monkeypatch.setattr(workspace, "SLOW_DRAWING_SECONDS", 0.0)  # every diagram "takes long"
    async def edit(flow: Path, published: list[dict]) -> None:
        flow.write_text(SMALL.replace("Hello.", "Hi.").replace("press 1 -> transfer", "press 1 -> goto nowhere,"))
        await asyncio.sleep(0.5)
        flow.write_text(SMALL.replace("Hello.", "Hi."))
        await _published(published, 3)

    published = _watching(tmp_path, monkeypatch, edit)
    broken, checked, drawn = published[:3]
    assert (broken["version"], broken["stale"], broken["drawing"]) == (2, True, False)  # errors: nothing to draw
    assert (checked["version"], checked["stale"], checked["drawing"]) == (3, False, True)
    assert "Hello." in checked["svg"] and not [d for d in checked["diagnostics"] if d["severity"] == "error"]
    assert (drawn["version"], drawn["drawing"]) == (4, False) and "Hi." in drawn["svg"]


@pytest.mark.slow
def test_ctrl_c_stops_the_studio_quietly_while_a_page_listens(tmp_path: Path) -> None:
    flow = tmp_path / "small.ivr"
    flow.write_text(SMALL)
    with subprocess.Popen([sys.executable, "-m", "ivrflow", "studio", str(flow), "--no-browser"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None and process.stderr is not None
        url = process.stdout.readline().split()[1]
        Events(url)
        process.send_signal(signal.SIGINT)
        assert process.wait(10) == 0
        assert process.stderr.read() == "Ctrl-C stops\n"


@pytest.mark.slow
def test_a_newer_version_stops_the_drawing_of_an_older_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ivrflow.studio import workspace

    monkeypatch.setattr(workspace, "SLOW_DRAWING_SECONDS", 0.0)
    real = view.run_dot
    stopped = []

    def graphviz(source: str, fmt: str, cancelled: threading.Event | None = None) -> bytes:
        if "Slow." in source:  # a diagram that would take 20 s, unless it is no longer wanted
            assert cancelled is not None
            if cancelled.wait(20):
                stopped.append(source)
                raise view.Cancelled
        return real(source, fmt, cancelled)

    monkeypatch.setattr(view, "run_dot", graphviz)
    async def edit(flow: Path, published: list[dict]) -> None:
        flow.write_text(SMALL.replace("Hello.", "Slow."))
        await _published(published, 1)
        flow.write_text(SMALL.replace("Hello.", "Fast."))
        await _published(published, 3)

    began = time.monotonic()
    published = _watching(tmp_path, monkeypatch, edit)
    assert time.monotonic() - began < 10 and len(stopped) == 1
    assert [(d["version"], d["drawing"]) for d in published] == [(2, True), (3, True), (4, False)]
    assert "Fast." in published[2]["svg"] and "Slow." not in published[2]["svg"]
