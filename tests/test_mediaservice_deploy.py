"""The deploy engine uploads the mediaservice target's prompt files, over real
HTTP to the emulator: unchanged files are not sent again, and only files
ivrflow put there are ever deleted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ivrflow.cli import main
from ivrflow.targets.mediaservice.emulator import Platform, platform_app

from .conftest import EXAMPLES
from .servers import serve_app


@pytest.fixture
def project(tmp_path: Path):
    shutil.copy(EXAMPLES / "telphin_guide.ivr", tmp_path / "guide.ivr")
    shutil.copytree(EXAMPLES / "prompts", tmp_path / "prompts")
    platform = Platform(domain="acme.example")
    platform.prompts["hand-made.wav"] = b"RIFF...made by hand"
    with serve_app(platform_app(platform)) as url:
        (tmp_path / "ivrflow.toml").write_text(
            f'[env.ms]\ntarget = "mediaservice"\nbase_url = "{url}/mediaservice"\ndomain = "acme.example"\n')
        yield tmp_path, platform


def writes(platform: Platform) -> int:
    return sum(entry["method"] in ("PUT", "DELETE") for entry in platform.log)


def test_prompt_files_upload_once_and_only_managed_files_go(project, capsys: pytest.CaptureFixture[str]) -> None:
    folder, platform = project
    flow = str(folder / "guide.ivr")
    assert main(["deploy", flow, "--env", "ms", "--yes"]) == 0
    assert set(platform.prompts) == {"hand-made.wav", "advertising.wav", "hello.wav", "ivrflow-telphin_guide.json"}
    assert platform.prompts["hello.wav"] == (folder / "prompts" / "hello.wav").read_bytes()
    before = writes(platform)
    assert main(["deploy", flow, "--env", "ms", "--yes"]) == 0
    assert writes(platform) == before  # nothing changed, nothing sent
    capsys.readouterr()

    (folder / "prompts" / "hello.wav").write_bytes(b"RIFF a new greeting")
    assert main(["plan", flow, "--env", "ms", "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [(c["op"], c["key"]) for c in summary["changes"]] == [
        ("update", "file:hello.wav"), ("update", "file:ivrflow-telphin_guide.json")]

    text = (folder / "guide.ivr").read_text().replace("    play advertising fully\n", "")
    text = text.replace("    expect play advertising\n", "")
    (folder / "guide.ivr").write_text(text.replace('prompt advertising file "prompts/advertising.wav"\n', ""))
    assert main(["deploy", flow, "--env", "ms", "--yes"]) == 0
    assert set(platform.prompts) == {"hand-made.wav", "hello.wav", "ivrflow-telphin_guide.json"}
    assert platform.prompts["hello.wav"] == b"RIFF a new greeting"
