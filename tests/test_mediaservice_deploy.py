"""The deploy engine uploads the mediaservice target's prompt files, over real
HTTP to the emulator: unchanged files are not sent again, files go up under
names of their own (flow and content hash), so a person's file of the same
name is neither replaced nor deleted, and only files ivrflow put there are
ever deleted. The runtime server plays the names the deploy uploaded."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import httpx
import pytest

from ivrflow import targets
from ivrflow.cli import main
from ivrflow.loader import load
from ivrflow.runtime.app import create_app
from ivrflow.runtime.http import Credentials
from ivrflow.runtime.sessions import MemoryStore
from ivrflow.targets.mediaservice.emulator import Platform, drive_call, platform_app
from ivrflow.targets.mediaservice.protocol import Settings, platform_file_name

from .conftest import EXAMPLES
from .servers import serve_app

TOKEN = "deploy-test-token-5d"


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


def uploaded(folder: Path, path: str) -> str:
    return platform_file_name("telphin_guide", path, (folder / path).read_bytes())


def test_prompt_files_upload_once_and_only_managed_files_go(project, capsys: pytest.CaptureFixture[str]) -> None:
    folder, platform = project
    flow = str(folder / "guide.ivr")
    assert main(["deploy", flow, "--env", "ms", "--yes"]) == 0
    hello, advertising = uploaded(folder, "prompts/hello.wav"), uploaded(folder, "prompts/advertising.wav")
    assert hello.startswith("ivrflow-telphin_guide-hello-") and hello.endswith(".wav")
    assert set(platform.prompts) == {"hand-made.wav", advertising, hello, "ivrflow-telphin_guide.json"}
    assert platform.prompts[hello] == (folder / "prompts" / "hello.wav").read_bytes()
    before = writes(platform)
    assert main(["deploy", flow, "--env", "ms", "--yes"]) == 0
    assert writes(platform) == before  # nothing changed, nothing sent
    capsys.readouterr()

    (folder / "prompts" / "hello.wav").write_bytes(b"RIFF a new greeting")
    new_hello = uploaded(folder, "prompts/hello.wav")
    assert main(["plan", flow, "--env", "ms", "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [(c["op"], c["key"]) for c in summary["changes"]] == [
        ("create", f"file:{new_hello}"), ("delete", f"file:{hello}"), ("update", "file:ivrflow-telphin_guide.json")]

    text = (folder / "guide.ivr").read_text().replace("    play advertising fully\n", "")
    text = text.replace("    expect play advertising\n", "")
    (folder / "guide.ivr").write_text(text.replace('prompt advertising file "prompts/advertising.wav"\n', ""))
    assert main(["deploy", flow, "--env", "ms", "--yes"]) == 0
    assert set(platform.prompts) == {"hand-made.wav", new_hello, "ivrflow-telphin_guide.json"}
    assert platform.prompts[new_hello] == b"RIFF a new greeting"


FLOW = '''flow twins "Two files with one name" {
    language en-US
}

prompt first  file "a/x.wav"
prompt second file "b/x.wav"
prompt hello  file "prompts/welcome.wav"

menu main "Main" {
    play first
    play second
    play hello
    press 1 -> transfer "101"
    on timeout -> repeat
    on invalid -> repeat
    on exhausted -> hangup
}
'''


@pytest.fixture
def twins(tmp_path: Path):
    """A flow playing a/x.wav, b/x.wav and prompts/welcome.wav, and a platform
    where a person already keeps a `welcome.wav` and an `x.wav` of their own."""
    for path, data in (("a/x.wav", b"RIFF first"), ("b/x.wav", b"RIFF second"), ("prompts/welcome.wav", b"RIFF ours")):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    (tmp_path / "twins.ivr").write_text(FLOW)
    platform = Platform(domain="acme.example")
    platform.prompts["welcome.wav"] = b"RIFF a person's own welcome"
    platform.prompts["x.wav"] = b"RIFF a person's own x"
    with serve_app(platform_app(platform)) as url:
        (tmp_path / "ivrflow.toml").write_text(
            f'[env.ms]\ntarget = "mediaservice"\nbase_url = "{url}/mediaservice"\ndomain = "acme.example"\n')
        yield tmp_path, platform, url + "/mediaservice"


def test_a_persons_file_of_the_same_name_survives_deploys(twins) -> None:
    folder, platform, _ = twins
    flow = str(folder / "twins.ivr")
    assert main(["deploy", flow, "--env", "ms", "--yes"]) == 0
    assert platform.prompts["welcome.wav"] == b"RIFF a person's own welcome"
    assert platform.prompts["x.wav"] == b"RIFF a person's own x"
    ours = platform_file_name("twins", "prompts/welcome.wav", b"RIFF ours")
    assert platform.prompts[ours] == b"RIFF ours"

    text = FLOW.replace('prompt hello  file "prompts/welcome.wav"\n', "").replace("    play hello\n", "")
    (folder / "twins.ivr").write_text(text)
    assert main(["deploy", flow, "--env", "ms", "--yes"]) == 0
    assert ours not in platform.prompts  # ivrflow's own copy went
    assert platform.prompts["welcome.wav"] == b"RIFF a person's own welcome"  # the person's stayed
    assert platform.prompts["x.wav"] == b"RIFF a person's own x"


def test_a_legacy_manifest_entry_with_a_plain_name_is_left_alone(twins, capsys: pytest.CaptureFixture[str]) -> None:
    # An older ivrflow uploaded by basename and listed `welcome.wav` in its manifest,
    # although it may have been a person's file all along.
    folder, platform, _ = twins
    platform.prompts["ivrflow-twins.json"] = json.dumps({"flow": "twins", "files": {"welcome.wav": "0" * 64}}).encode()
    assert main(["deploy", str(folder / "twins.ivr"), "--env", "ms", "--yes"]) == 0
    assert platform.prompts["welcome.wav"] == b"RIFF a person's own welcome"
    assert "welcome.wav is left alone" in capsys.readouterr().out
    manifest = json.loads(platform.prompts["ivrflow-twins.json"])
    assert "welcome.wav" not in manifest["files"]


def test_files_with_one_name_in_two_folders_upload_and_play_apart(twins) -> None:
    folder, platform, api = twins
    flow_path = folder / "twins.ivr"
    assert main(["deploy", str(flow_path), "--env", "ms", "--yes"]) == 0
    result = load(str(flow_path))
    assert result.flow is not None and result.errors == 0
    values = {"base_url": api, "domain": "acme.example", "sip_domain": "acme.example"}
    app = create_app(result.flow, MemoryStore(), Credentials(token=TOKEN), settings=values,
                     webhooks=targets.webhooks())

    async def call(url: str):
        async with httpx.AsyncClient(timeout=30) as client:
            return await drive_call(client, [url + "/mediaservice"], platform, api, ["1"], token=TOKEN,
                                    settings=Settings.from_env(values))

    with serve_app(app) as url:
        transcript = asyncio.run(call(url))
    assert transcript.outcome.to_dict() == {"action": "transfer", "target": "101"}
    played = [platform.prompts[phrase["fileName"]] for phrase in transcript.phrases]
    assert played == [b"RIFF first", b"RIFF second", b"RIFF ours"]
