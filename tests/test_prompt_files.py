"""Prompt files, speech and the commands that read them (issue 10 §4): a
prompt file is read only if it is a regular file inside the flow's folder and
not too large; every command says so with a diagnostic and reads, uploads or
synthesizes nothing it should not; espeak-ng never takes a `say` text for an
option; and the inputs that crashed with `internal error` get a diagnostic or
one line."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivrflow.cli import main
from ivrflow.compiler.checks.base import FileProblem
from ivrflow.deploy import tts
from ivrflow.loader import load
from ivrflow.prompt_files import MAX_PROMPT_BYTES, PromptFileError, problem, read
from ivrflow.targets.mediaservice.emulator import Platform, platform_app
from ivrflow.targets.telphin.emulator import Telphin, telphin_app

from .conftest import EXAMPLES
from .servers import free_port, serve_app

HELLO = (EXAMPLES / "prompts" / "hello.wav").read_bytes()
TARGETS = ("telphin", "portsip", "mediaservice")
ESPEAK = shutil.which("espeak-ng")
needs_espeak = pytest.mark.skipif(ESPEAK is None, reason="espeak-ng is not installed")


def flow_text(prompt: str, language: str = "en-US") -> str:
    """A check-clean flow (but for its prompt): line 4 is the prompt, its value at column 19."""
    return (f'flow f "F" {{\n    language {language}\n}}\nprompt hello {prompt}\nmenu main "Main" {{\n'
            '    play hello\n    press 1 -> transfer "101"\n    on timeout -> hangup\n    on invalid -> hangup\n}\n')


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A project folder `flows/` with hello.wav, a subfolder and a pipe in it;
    a secret beside it, outside, and links from inside to outside."""
    flows = tmp_path / "flows"
    (flows / "prompts").mkdir(parents=True)
    (flows / "hello.wav").write_bytes(HELLO)
    (flows / "prompts" / "inside.wav").write_bytes(HELLO)
    (tmp_path / "outside.wav").write_bytes(b"RIFF the secret next door")
    (flows / "escape.wav").symlink_to(tmp_path / "outside.wav")
    (flows / "zero.wav").symlink_to("/dev/zero")
    (flows / "alias.wav").symlink_to("prompts/inside.wav")  # a link that stays inside is fine
    os.mkfifo(flows / "pipe.wav")
    with (flows / "huge.wav").open("wb") as handle:  # sparse: no 21 MiB on disk
        handle.truncate(MAX_PROMPT_BYTES + 1)
    return flows


HOSTILE = [  # (prompt path, code)
    ("/proc/self/environ", "IVR124"),
    ("/etc/passwd", "IVR124"),
    ("../outside.wav", "IVR124"),
    ("../../../../../../../../etc/passwd", "IVR124"),
    ("escape.wav", "IVR124"),
    ("zero.wav", "IVR124"),
    ("/dev/zero", "IVR124"),
    ("prompts", "IVR125"),
    ("pipe.wav", "IVR125"),
    ("huge.wav", "IVR126"),
    ("a" * 300 + ".wav", "IVR126"),
    ("missing.wav", "IVR112"),
    ("prompts/missing.wav", "IVR112"),
    ("hello.wav/x.wav", "IVR112"),
]


# --- the one function every reader goes through ------------------------------------------------

@pytest.mark.parametrize(("value", "code"), HOSTILE, ids=lambda v: str(v)[:40])
def test_hostile_paths_are_refused_before_anything_is_read(folder: Path, value: str, code: str) -> None:
    found = problem(folder, value)
    assert isinstance(found, FileProblem) and found.code == code
    with pytest.raises(PromptFileError) as refused:
        read(folder, value)
    assert refused.value.problem.code == code


def test_files_inside_the_folder_are_read(folder: Path) -> None:
    assert read(folder, "hello.wav") == HELLO
    assert read(folder, "prompts/inside.wav") == HELLO
    assert read(folder, "alias.wav") == HELLO
    assert read(folder, "prompts/../hello.wav") == HELLO
    assert read(folder, str(folder / "hello.wav")) == HELLO  # an absolute path inside is inside
    assert problem(folder, "hello.wav") is None


def test_a_file_swapped_for_a_link_after_the_check_is_not_read(folder: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Between the check and the read a file may change: what is read is checked again."""
    from ivrflow.targets.telphin import target

    flow = folder / "f.ivr"
    flow.write_text(flow_text('file "hello.wav"'))
    result = load(str(flow))
    assert result.ok and result.flow is not None
    (folder / "hello.wav").unlink()
    (folder / "hello.wav").symlink_to(folder.parent / "outside.wav")
    with pytest.raises(PromptFileError) as refused:
        target.file_reader(result.flow, str(flow))("hello.wav")
    assert refused.value.problem.code == "IVR124"


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_a_folder_swapped_for_a_link_while_reading_is_caught(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What is opened is checked, not only the path: as if a folder on the way became a link
    between `resolve` and `open`."""
    from ivrflow import prompt_files

    monkeypatch.setattr(prompt_files, "resolve", lambda base, value: folder.parent / "outside.wav")
    with pytest.raises(PromptFileError) as refused:
        read(folder, "hello.wav")
    assert refused.value.problem.code == "IVR124"


# --- every command ---------------------------------------------------------------------------

def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize(("value", "code"), HOSTILE, ids=lambda v: str(v)[:40])
def test_check_reports_the_prompt_file(folder: Path, capsys: pytest.CaptureFixture[str], value: str,
                                       code: str) -> None:
    flow = folder / "f.ivr"
    flow.write_text(flow_text(f'file "{value}"'))
    status, out, err = run(capsys, "check", str(flow))
    assert status == 1
    assert f"{flow}:4:19: error[{code}]: audio file `{value}`" in out
    assert "internal error" not in out + err


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(("value", "code"), HOSTILE, ids=lambda v: str(v)[:40])
def test_compile_stops_at_the_prompt_file(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          target: str, value: str, code: str) -> None:
    flow = folder / "f.ivr"
    flow.write_text(flow_text(f'file "{value}"'))
    out_dir = tmp_path / "build"
    status, _, err = run(capsys, "compile", str(flow), "--target", target, "-o", str(out_dir))
    assert status == 1
    assert f"{flow}:4:19: error[{code}]: audio file `{value}`" in err
    assert "internal error" not in err
    assert not out_dir.exists()  # nothing written: no plan of a file that was not read


@pytest.mark.parametrize("target", TARGETS)
def test_compile_reads_a_prompt_file_inside_the_folder(folder: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str], target: str) -> None:
    flow = folder / "f.ivr"
    flow.write_text(flow_text('file "prompts/inside.wav"'))
    status, _, err = run(capsys, "compile", str(flow), "--target", target, "-o", str(tmp_path / "build"))
    assert status == 0, err
    assert (tmp_path / "build" / "plan.json").is_file()


@pytest.fixture
def telphin_project(folder: Path) -> Iterator[tuple[Path, Telphin]]:
    state = Telphin()
    with serve_app(telphin_app(state)) as url:
        (folder / "ivrflow.toml").write_text(
            f'[env.emu]\ntarget = "telphin"\nbase_url = "{url}"\nclient_id = "demo"\nclient_secret = "${{S}}"\n'
            'extension = "071"\n')
        yield folder, state


@pytest.mark.parametrize(("value", "code"), [
    ("/proc/self/environ", "IVR124"), ("../outside.wav", "IVR124"), ("escape.wav", "IVR124"),
    ("/dev/zero", "IVR124"), ("prompts", "IVR125"), ("a" * 300 + ".wav", "IVR126"), ("missing.wav", "IVR112"),
], ids=lambda v: str(v)[:40])
def test_plan_and_deploy_send_nothing_to_telphin(telphin_project: tuple[Path, Telphin],
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str], value: str, code: str) -> None:
    folder, state = telphin_project
    monkeypatch.setenv("S", "demo")
    monkeypatch.setenv("IVRFLOW_TEST_SECRET", "s3cret-in-the-environment")
    flow = folder / "f.ivr"
    flow.write_text(flow_text(f'file "{value}"'))
    for command in (["plan", str(flow), "--env", "emu"], ["deploy", str(flow), "--env", "emu", "--yes"]):
        status, out, err = run(capsys, *command)
        assert status == 1, command
        assert f"{flow}:4:19: error[{code}]: audio file `{value}`" in err
        assert "internal error" not in out + err
    assert state.sounds == {} and state.contexts == {}
    assert state.log == []  # the file checks run before the platform is asked anything


def test_deploy_to_the_mediaservice_uploads_nothing_from_outside(folder: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    platform = Platform(domain="acme.example")
    flow = folder / "f.ivr"
    flow.write_text(flow_text('file "/proc/self/environ"'))
    with serve_app(platform_app(platform)) as url:
        (folder / "ivrflow.toml").write_text(
            f'[env.ms]\ntarget = "mediaservice"\nbase_url = "{url}/mediaservice"\ndomain = "acme.example"\n')
        status, _, err = run(capsys, "deploy", str(flow), "--env", "ms", "--yes")
    assert status == 1 and "error[IVR124]" in err
    assert platform.prompts == {} and platform.log == []


def test_a_missing_prompt_file_is_a_diagnostic_for_every_command(telphin_project: tuple[Path, Telphin],
                                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """It was `internal error: FileNotFoundError` (PortSIP compile, Telphin deploy) or a broken plan
    and exit 0 (Telphin compile and plan)."""
    folder, state = telphin_project
    monkeypatch.setenv("S", "demo")
    flow = folder / "f.ivr"
    flow.write_text(flow_text('file "nothere.wav"'))
    commands = [["check", str(flow)], ["plan", str(flow), "--env", "emu"],
                ["deploy", str(flow), "--env", "emu", "--yes"],
                *(["compile", str(flow), "--target", t, "-o", str(tmp_path / t)] for t in TARGETS)]
    for command in commands:
        status, out, err = run(capsys, *command)
        assert status == 1, command
        assert "error[IVR112]: audio file `nothere.wav` not found" in out + err
    assert state.log == []


# --- espeak-ng ---------------------------------------------------------------------------------

def _espeak(*args: str, stdin: bytes | None = None) -> bytes:
    assert ESPEAK is not None
    return subprocess.run([ESPEAK, *args], input=stdin, capture_output=True, check=True).stdout


@needs_espeak
def test_a_say_text_that_looks_like_an_option_is_spoken(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("zebra crossing")
    text = f"-f{secret}"
    spoken = tts.synthesize(text, "en-US")
    assert spoken.startswith(b"RIFF")
    # espeak-ng's phonemes (-x -q) of the text itself, not of the file it names
    assert _espeak("-v", "en-us", "-x", "-q", "--", text) != _espeak("-v", "en-us", "-x", "-q", "-f", str(secret))
    out = tmp_path / "stdin.wav"
    _espeak("-v", "en-us", "-w", str(out), stdin=text.encode())  # the text read from stdin: never an option
    assert spoken == out.read_bytes()
    assert tts.synthesize("-w/x", "en-US").startswith(b"RIFF")
    assert not Path("/x").exists()


@needs_espeak
@pytest.mark.parametrize("target", ["telphin", "portsip"])
def test_compile_speaks_say_texts_that_start_with_a_dash(folder: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str], target: str) -> None:
    for text in ("-w/x", "-f/etc/hostname", "--help"):
        flow = folder / "f.ivr"
        flow.write_text(flow_text(f'say "{text}"'))
        status, _, err = run(capsys, "compile", str(flow), "--target", target, "--tts", "espeak",
                             "-o", str(tmp_path / "build"))
        assert status == 0, err
    assert not Path("/x").exists()


@needs_espeak
def test_languages_map_to_espeak_voices() -> None:
    assert tts.voice("en-US") == "en-us"
    assert tts.voice("en-GB") == "en-gb"
    assert tts.voice("ru-RU") == "ru"
    assert tts.voice("de-DE") == "de"
    assert tts.voice("fr") == "fr"
    assert tts.voice("zh-CN") == "zh"
    assert tts.voice("xx") is None
    assert tts.voice("qq-QQ") is None


@needs_espeak
@pytest.mark.parametrize("target", ["telphin", "portsip"])
def test_a_language_espeak_lacks_is_a_diagnostic_on_its_line(folder: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str], target: str) -> None:
    flow = folder / "f.ivr"
    flow.write_text(flow_text('say "Hello"', language="xx"))
    assert run(capsys, "check", str(flow))[0] == 0  # a language is fine until speech is asked for
    status, out, _ = run(capsys, "check", str(flow), "--target", target, "--tts", "espeak")
    assert status == 1 and f"{flow}:2:14: error[IVR208]: espeak-ng has no voice for the language `xx`" in out
    status, _, err = run(capsys, "compile", str(flow), "--target", target, "--tts", "espeak",
                         "-o", str(tmp_path / "build"))
    assert status == 1
    assert f"{flow}:2:14: error[IVR208]: espeak-ng has no voice for the language `xx`" in err
    assert "internal error" not in err

    flow.write_text(flow_text('say "Hello" language qq'))  # the prompt's own language
    status, _, err = run(capsys, "compile", str(flow), "--target", target, "--tts", "espeak",
                         "-o", str(tmp_path / "build"))
    assert status == 1 and f"{flow}:4:1: error[IVR208]: espeak-ng has no voice for the language `qq`" in err


# --- compile -o, PortSIP numbers, serve --sessions -----------------------------------------------

@pytest.mark.parametrize("where", ["a-file", "a-file/below", "/proc/ivrflow-test-output"])
def test_compile_into_a_place_it_cannot_write_is_one_line(folder: Path, capsys: pytest.CaptureFixture[str],
                                                          where: str) -> None:
    (folder / "a-file").write_text("not a folder")
    flow = folder / "f.ivr"
    flow.write_text(flow_text('file "hello.wav"'))
    output = where if where.startswith("/") else str(folder / where)
    status, _, err = run(capsys, "compile", str(flow), "--target", "telphin", "-o", output)
    assert status == 2
    last = err.splitlines()[-1]
    assert last.startswith(f"ivrflow: error: cannot write to `{output}`: ")
    assert "internal error" not in err and "Traceback" not in err
    assert (folder / "a-file").read_text() == "not a folder"


def _many_menus(count: int) -> str:
    lines = ['prompt hi file "hello.wav"']
    for i in range(count):
        next_action = f"goto m{i + 1}" if i + 1 < count else "hangup"
        lines += [f"menu m{i} {{", "    play hi", f"    press 1 -> {next_action}", "    on timeout -> hangup",
                  "    on invalid -> hangup", "}"]
    return "\n".join(lines) + "\n"


def test_more_menus_than_portsip_numbers_is_a_diagnostic(folder: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    flow = folder / "many.ivr"
    flow.write_text(_many_menus(120))
    status, _, err = run(capsys, "compile", str(flow), "--target", "portsip", "-o", str(tmp_path / "build"))
    assert status == 1
    assert "error[IVR209]: the range 7000-7099 has no free number left: the flow needs 120 extension numbers" in err
    assert f"{flow}:602:6:" in err  # the first menu left without a number
    assert "internal error" not in err

    (folder / "ivrflow.toml").write_text('[env.small]\ntarget = "portsip"\nusername = "u"\ndomain = "d"\n'
                                         'extensions = "500-504"\n')
    flow.write_text(_many_menus(8))
    status, _, err = run(capsys, "compile", str(flow), "--target", "portsip", "--env", "small",
                         "-o", str(tmp_path / "build"))
    assert status == 1
    assert "the range 500-504 has no free number left: the flow needs 8 extension numbers" in err
    assert "environment's `extensions`" in err and 'extensions = "500-507"' in err


def test_serve_with_redis_down_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    status, out, err = run(capsys, "serve", str(EXAMPLES / "quickstart.ivr"), "--insecure", "--port",
                           str(free_port()), "--sessions", url)
    assert status == 2
    assert err.startswith(f"ivrflow: error: cannot reach the session store at {url}: ")
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in out + err


def test_serve_with_a_bad_redis_url_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "serve", str(EXAMPLES / "quickstart.ivr"), "--insecure", "--sessions",
                         "redis://:hunter2@127.0.0.1:99999/0")
    assert status == 2
    assert err == ("ivrflow: error: --sessions: not a Redis URL such as redis://HOST:PORT/DB: "
                   "Port out of range 0-65535\n")
