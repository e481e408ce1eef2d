"""deploy.sh: every value a flow puts in it is quoted for the shell. Labels
and prompt paths full of quotes, `$( )`, backticks, backslashes and
newlines give a script that bash accepts, runs no command of theirs, and
makes on the Telphin emulator exactly what `ivrflow deploy` makes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ivrflow.cli import main
from ivrflow.targets.telphin.emulator import Telphin, telphin_app

from .conftest import EXAMPLES
from .servers import serve_app

needs_tools = pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl and jq")


def _escape(text: str) -> str:
    """Text as a flow's string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def hostile_project(folder: Path, marks: Path) -> Path:
    """A check-clean flow whose labels and prompt paths try to run `touch pwnedN` (in the
    script's folder) or `touch MARKS/N`."""
    marks.mkdir()
    wav = (EXAMPLES / "prompts" / "hello.wav").read_bytes()
    files = ["it's $(touch pwned1) `touch pwned2`.wav",
             'back\\slash "quoted" \'$(touch pwned3)\'.wav',
             "new\nline ; touch pwned4 &.wav"]
    for name in files:
        (folder / name).write_bytes(wav)
    labels = [f"Main' $(touch {marks}/5) 'menu", "Tony's Pizza", f'a `touch {marks}/6` "b" \\ c\nd $HOME ${{X}}',
              f"'; touch {marks}/7; echo '"]
    source = [f"flow pizza {_escape(labels[1])} {{", "    answer-delay 1s", "}"]
    source += [f"prompt p{i} file {_escape(name)}" for i, name in enumerate(files)]
    for i, label in enumerate([labels[0], labels[2], labels[3]]):
        following = f"m{i + 1}" if i < 2 else "m0"
        source += [f"menu m{i} {_escape(label)} {{", f"    play p{i}", f"    press 1 -> goto {following}",
                   '    press 2 -> transfer "100"', "    on timeout -> hangup", "    on invalid -> hangup", "}"]
    flow = folder / "pizza.ivr"
    flow.write_text("\n".join(source) + "\n")
    return flow


def toml(folder: Path, url: str) -> None:
    (folder / "ivrflow.toml").write_text(
        f'[env.emu]\ntarget = "telphin"\nbase_url = "{url}"\nclient_id = "demo"\nclient_secret = "${{S}}"\n'
        'extension = "071"\n')


def test_hostile_labels_and_paths_give_valid_shell(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    flow = hostile_project(tmp_path, marks)
    assert main(["check", str(flow)]) == 0
    assert main(["compile", str(flow), "--target", "telphin", "-o", str(tmp_path / "out")]) == 0
    script = tmp_path / "out" / "deploy.sh"
    checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert not any(marks.iterdir()) and not list(tmp_path.glob("pwned*"))


@needs_tools
def test_the_script_makes_what_deploy_makes_and_runs_nothing_else(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    marks = tmp_path / "marks"
    flow = hostile_project(tmp_path, marks)
    monkeypatch.setenv("S", "demo")
    by_script, by_deploy = Telphin(), Telphin()
    with serve_app(telphin_app(by_script)) as script_url, serve_app(telphin_app(by_deploy)) as deploy_url:
        toml(tmp_path, script_url)
        assert main(["compile", str(flow), "--target", "telphin", "--env", "emu", "-o", str(tmp_path / "out")]) == 0
        run = subprocess.run(["bash", str(tmp_path / "out" / "deploy.sh")], cwd=tmp_path, capture_output=True,
                             text=True, timeout=60,
                             env={**os.environ, "TELPHIN_CLIENT_ID": "demo", "TELPHIN_CLIENT_SECRET": "demo",
                                  "TELPHIN_BASE_URL": script_url})
        assert run.returncode == 0, run.stderr
        toml(tmp_path, deploy_url)
        assert main(["deploy", str(flow), "--env", "emu", "--yes"]) == 0
    assert not any(marks.iterdir()) and not list(tmp_path.glob("pwned*"))
    made = by_script.configuration("071")
    assert made == by_deploy.configuration("071")
    assert "Main' $(touch" in str(made) and made["extension"]["label"] == "Tony's Pizza"

    def sounds(state: Telphin) -> list[tuple[str, str, bytes]]:
        return sorted((s["title"], s["filename"], state.sound_data[s["id"]]) for s in state.sounds.values())
    assert sounds(by_script) == sounds(by_deploy)
    descriptions = sorted(str(c["description"]) for c in by_script.contexts.values())
    assert descriptions == sorted(str(c["description"]) for c in by_deploy.contexts.values())
