"""The second edition of the language is not carried by any target yet
(issue 13): compile, plan, deploy and `check --target` refuse a flow that
uses it with an IVR205 error at each use, for every target, and nothing is
written or sent. What a flow uses is found by compiler/features.py, and
`ivrflow targets` lists a row per construct."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ivrflow import loader
from ivrflow.cli import main
from ivrflow.compiler import features
from ivrflow.targets import capabilities
from ivrflow.targets.mediaservice.emulator import Platform, platform_app
from ivrflow.targets.portsip.emulator import PortSip, portsip_app
from ivrflow.targets.telphin.emulator import Telphin, telphin_app

from .conftest import EXAMPLE_FLOWS, EXAMPLES, PLATFORM_FLOWS, ROOT
from .servers import serve_app

TARGETS = ("telphin", "portsip", "mediaservice")
#: The targets that do not carry the second edition yet (the mediaservice
#: carries all of it: tests/test_mediaservice_second_edition.py).
REFUSING = ("telphin", "portsip")

#: A second-edition flow the checks accept today, with the line and column of
#: each use and its construct.
FLOW = '''flow two {
    language en-US
    languages en-US, es-US
    start main
}

prompt hello {
    en-US say "Hello."
    es-US say "Hola."
}

prompt again say "Again, {caller}."

menu main {
    play hello first
    play again
    end-key "#"
    retries timeout 2 invalid 3
    press 1 -> transfer "100" ring 20s else hangup
    press 9 -> set language es-US, replay
    press 100-199 -> transfer "{key}"
    press "7XXX" -> set picked = "yes", transfer "{key}"
    on timeout -> repeat
    on invalid -> repeat
    on exhausted -> goto desk
}

route desk {
    when called "18005550100" and not caller "+1*" -> transfer "200"
    otherwise -> hangup
}
'''
FLOW_USES = [
    ("languages", 3, 5), ("prompt-variants", 7, 1), ("variables", 12, 18), ("play-first-again", 15, 5),
    ("end-key", 17, 5), ("split-retries", 18, 5), ("transfer-else", 19, 16), ("set-language", 20, 16),
    ("replay", 20, 36), ("key-ranges", 21, 11), ("variables", 21, 22), ("key-patterns", 22, 11),
    ("variables", 22, 21), ("variables", 22, 41), ("conditions", 29, 10),
]


def _uses(path: Path) -> list[features.Use]:
    flow = loader.load(str(path), check_files=False).flow
    assert flow is not None
    return features.uses(flow)


def test_the_uses_of_a_flow_are_found_with_their_places(tmp_path: Path) -> None:
    (tmp_path / "two.ivr").write_text(FLOW)
    assert [(u.construct, u.span.line, u.span.column) for u in _uses(tmp_path / "two.ivr")] == FLOW_USES


def test_answers_of_an_ask_fallbacks_and_the_time_limit_are_walked_too() -> None:
    from ivrflow.compiler.parse import parse

    flow = parse('flow f {\n    start m\n    max-duration 5m -> set why = "late", hangup\n}\n'
                 'menu m {\n    press 1 -> ask "https://r.example/" -> transfer "{caller}" | hangup\n'
                 '    press 2 -> transfer "100" else transfer "{key}"\n}\n', "f.ivr").flow
    assert flow is not None
    assert [(u.construct, u.span.line) for u in features.uses(flow)] == [
        ("variables", 3), ("variables", 6), ("transfer-else", 7), ("variables", 7)]


def test_the_bank_uses_every_construct_of_the_second_edition() -> None:
    found = _uses(EXAMPLES / "bank.ivr")
    assert {u.construct for u in found} == {key for key, _ in capabilities.SECOND_EDITION}
    places = {(u.construct, u.span.line, u.span.column) for u in found}
    assert {("collect", 58, 1), ("lookup", 71, 1), ("key-ranges", 51, 11), ("key-patterns", 52, 11),
            ("conditions", 81, 10), ("variables", 82, 32)} <= places
    collect = next(u for u in found if u.construct == "collect")
    assert collect.description == "`collect account`" and collect.span.end_column == 16


def test_the_bilingual_line_uses_languages_and_no_collect() -> None:
    assert {u.construct for u in _uses(EXAMPLES / "bilingual.ivr")} == {
        "languages", "prompt-variants", "conditions", "set-language", "play-first-again", "replay", "transfer-else"}


def test_first_edition_examples_use_nothing_new_and_are_the_platform_flows() -> None:
    assert [p.name for p in EXAMPLE_FLOWS if not _uses(p)] == [p.name for p in PLATFORM_FLOWS]
    assert {"bank.ivr", "bilingual.ivr"} & {p.name for p in PLATFORM_FLOWS} == set()
    assert {"support.ivr", "telphin_guide.ivr", "quickstart.ivr"} <= {p.name for p in PLATFORM_FLOWS}


def test_every_target_declares_the_second_edition_and_the_table_shows_it(
        capsys: pytest.CaptureFixture[str]) -> None:
    for target in capabilities.capabilities().values():
        assert set(target.capabilities) == {key for key, _ in capabilities.CONSTRUCTS}, target.name
        for key, _ in capabilities.SECOND_EDITION:
            assert target.capabilities[key][0] in capabilities.LEVELS, (target.name, key)
    assert main(["targets", "--format", "markdown"]) == 0
    table = capsys.readouterr().out
    collect_row = next(line for line in table.splitlines() if line.startswith("| collect |"))
    assert "| runtime server (the dtmf block: maxDigits, timeouts) |" in collect_row
    assert "— (a receptionist keeps no keys" in collect_row
    assert table in (ROOT / "docs" / "targets.md").read_text(encoding="utf-8")
    assert main(["targets"]) == 0
    text = capsys.readouterr().out
    assert all(word in text for word in ("collect", "lookup", "end-key", "replay"))


# --- the command line -----------------------------------------------------------------------

def _environments(bases: dict[str, str]) -> str:
    return (f'[env.telphin]\ntarget = "telphin"\nbase_url = "{bases.get("telphin", "http://127.0.0.1:9")}"\n'
            'client_id = "demo"\nclient_secret = "${SECRET}"\nextension = "071"\ntts = "espeak"\n'
            'runtime_url = "http://127.0.0.1:9"\ninsecure_callbacks = true\n'
            f'[env.portsip]\ntarget = "portsip"\nbase_url = "{bases.get("portsip", "http://127.0.0.1:9/api")}"\n'
            'domain = "pbx.example"\nusername = "demo"\npassword = "${SECRET}"\npin = "${PIN}"\n'
            'extensions = "7000-7009"\nruntime_url = "http://127.0.0.1:9"\ninsecure_callbacks = true\ntts = "espeak"\n'
            f'[env.mediaservice]\ntarget = "mediaservice"\n'
            f'base_url = "{bases.get("mediaservice", "http://127.0.0.1:9/mediaservice")}"\ndomain = "acme.example"\n')


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with the second-edition flow, bank.ivr (and common.ivr),
    bilingual.ivr, the first-edition telphin_guide.ivr, and an environment per target."""
    monkeypatch.setenv("SECRET", "demo")
    monkeypatch.setenv("PIN", "482916")
    (tmp_path / "two.ivr").write_text(FLOW)
    for name in ("bank.ivr", "common.ivr", "bilingual.ivr", "telphin_guide.ivr"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    shutil.copytree(EXAMPLES / "prompts", tmp_path / "prompts")
    (tmp_path / "ivrflow.toml").write_text(_environments({}))
    return tmp_path


def _refused(err: str, flow: Path, target: str) -> set[tuple[int, int]]:
    """The places of the IVR205 errors in `err`, each naming the target
    (a message repeated word for word is shown once, with the other places)."""
    places = set()
    last = None
    for line in err.splitlines():
        found = re.match(rf"{re.escape(str(flow))}:(\d+):(\d+): (\w+)\[(IVR\d+)\]: (.*)", line)
        if found:
            last = found[4]
            if last == "IVR205":
                assert f"cannot be deployed to {target}" in found[5], line
                places.add((int(found[1]), int(found[2])))
        elif last == "IVR205" and (repeats := re.match(r"  = the same \d+ more times? in this file, at (.*)", line)):
            places |= {(int(a), int(b)) for a, b in re.findall(r"(\d+):(\d+)", repeats[1])}
    return places


#: What PortSIP carries of FLOW (issue 13; tests/test_portsip_second_edition.py
#: has what it refuses of the examples, with the reasons).
PORTSIP_CARRIES = {"two.ivr": {(3, 5), (7, 1), (15, 5), (17, 5), (18, 5), (20, 16), (20, 36), (21, 11), (21, 22),
                               (22, 11), (22, 41)}}


def _places(path: Path, target: str) -> set[tuple[int, int]]:
    """Where `target` refuses the flow: where it uses a construct the target
    declares it cannot carry (PortSIP carries some constructs in part)."""
    places = {(u.span.line, u.span.column) for u in _uses(path)}
    if target == "portsip":
        from .test_portsip_second_edition import REFUSED

        return {(line, column) for line, column, _ in REFUSED[path.name]} if path.name in REFUSED \
            else places - PORTSIP_CARRIES[path.name]
    declared = capabilities.capabilities()[target].capabilities
    return {(u.span.line, u.span.column) for u in _uses(path) if declared[u.construct][0] == "no"}


#: The examples of the second edition.
EXAMPLES_OF_THE_SECOND_EDITION = ["bank.ivr", "bilingual.ivr"]


@pytest.mark.parametrize("target", REFUSING)
@pytest.mark.parametrize("name", ["two.ivr", *EXAMPLES_OF_THE_SECOND_EDITION])
def test_compile_refuses_the_second_edition_at_each_use_and_writes_nothing(
        project: Path, target: str, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    flow, out = project / name, project / "build"
    assert main(["compile", str(flow), "--target", target, "--env", target, "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert _refused(err, flow, target) == _places(flow, target) != set()
    assert not out.exists()


@pytest.mark.parametrize("target", TARGETS)
def test_compile_of_a_first_edition_flow_still_writes_its_files(project: Path, target: str,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = project / "build"
    assert main(["compile", str(project / "telphin_guide.ivr"), "--target", target, "--env", target,
                 "-o", str(out)]) == 0
    assert "IVR205" not in capsys.readouterr().err and (out / "plan.json").is_file()


@pytest.mark.parametrize("target", REFUSING)
def test_check_with_a_target_reports_what_it_does_not_carry(project: Path, target: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    flow = project / "two.ivr"
    assert main(["check", str(flow)]) == 0
    capsys.readouterr()
    assert main(["check", str(flow), "--target", target, "--tts", "espeak"]) == 1
    assert _refused(capsys.readouterr().out, flow, target) == _places(flow, target) != set()


@contextmanager
def _emulators() -> Iterator[tuple[dict[str, str], dict[str, Any]]]:
    """Each target's emulator on its own port: (base URLs, states with their request logs)."""
    states: dict[str, Any] = {"telphin": Telphin(client_secret="demo"), "portsip": PortSip(password="demo"),
                              "mediaservice": Platform(domain="acme.example")}
    with serve_app(telphin_app(states["telphin"])) as telphin, serve_app(portsip_app(states["portsip"])) as pbx, \
            serve_app(platform_app(states["mediaservice"])) as media:
        yield {"telphin": telphin, "portsip": f"{pbx}/api", "mediaservice": f"{media}/mediaservice"}, states


@pytest.mark.parametrize("name", ["two.ivr", *EXAMPLES_OF_THE_SECOND_EDITION])
def test_plan_and_deploy_refuse_before_any_request(project: Path, name: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    flow = project / name
    with _emulators() as (bases, states):
        (project / "ivrflow.toml").write_text(_environments(bases))
        for target in REFUSING:
            for command in (["plan", str(flow), "--env", target], ["deploy", str(flow), "--env", target, "--yes"],
                            ["status", str(flow), "--env", target]):
                assert main(command) == 1, command
                assert _refused(capsys.readouterr().err, flow, target) == _places(flow, target) != set(), command
            assert states[target].log == [], target
        # The same platforms answer a first-edition flow: the logs above are empty
        # because nothing was sent, not because nothing is logged.
        for target in TARGETS:
            assert main(["plan", str(project / "telphin_guide.ivr"), "--env", target]) == 0
            assert states[target].log, target
        capsys.readouterr()


def test_destroy_still_removes_what_a_first_edition_version_deployed(project: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A flow rewritten in the second edition can still be taken off a platform."""
    guide, rewritten = project / "telphin_guide.ivr", project / "rewritten" / "telphin_guide.ivr"
    shutil.copytree(project / "prompts", rewritten.parent / "prompts")
    rewritten.write_text(guide.read_text().replace('transfer "050"', 'transfer "050" ring 20s else hangup', 1))
    with _emulators() as (bases, states):
        (project / "ivrflow.toml").write_text(_environments(bases))
        (rewritten.parent / "ivrflow.toml").write_text(_environments(bases))
        assert main(["deploy", str(guide), "--env", "telphin", "--yes"]) == 0
        mine = [c for c in states["telphin"].contexts.values() if str(c.get("description")).startswith("ivrflow:")]
        assert mine
        capsys.readouterr()
        assert main(["deploy", str(rewritten), "--env", "telphin", "--yes"]) == 1
        assert _refused(capsys.readouterr().err, rewritten, "telphin") == _places(rewritten, "telphin") == {(27, 19)}
        assert main(["destroy", str(rewritten), "--env", "telphin", "--yes"]) == 0
        assert not [c for c in states["telphin"].contexts.values()
                    if str(c.get("description")).startswith("ivrflow:")]
