"""`ivrflow init`: a starter project that checks, tests and formats clean at
once, with an environment for every target, and never overwrites a file."""

from __future__ import annotations

import re
import tomllib
import wave
from pathlib import Path

import pytest

from ivrflow import config
from ivrflow.cli import main
from ivrflow.targets import all_targets


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_the_starter_project_checks_tests_and_formats_clean(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "Pizza Shop"
    status, out, _ = run(capsys, "init", str(folder))
    assert status == 0
    flow = folder / "pizza_shop.ivr"
    assert out.startswith(f"created {flow}, {folder / 'prompts' / 'greeting.wav'}, {folder / 'ivrflow.toml'}\n")
    assert f"cd {folder}" in out and "ivrflow test pizza_shop.ivr" in out and "ivrflow simulate pizza_shop.ivr" in out
    status, out, _ = run(capsys, "check", str(flow))
    assert (status, out) == (0, "✓ 1 file checked: no problems\n")  # no warnings either
    status, out, _ = run(capsys, "test", str(flow), "--fail-under", "100")
    assert status == 0 and "4 passed" in out and "(100%)" in out
    assert run(capsys, "fmt", "--check", str(folder))[0] == 0
    for target in all_targets():  # what each target can express, with speech synthesized
        assert run(capsys, "check", str(flow), "--target", target.name, "--tts", "espeak")[0] == 0, target.name
    with wave.open(str(folder / "prompts" / "greeting.wav")) as audio:
        assert (audio.getnchannels(), audio.getsampwidth(), audio.getframerate()) == (1, 2, 16000)


def test_ivrflow_toml_has_an_environment_per_target_with_secrets_as_variables(tmp_path: Path) -> None:
    assert main(["init", str(tmp_path), "--name", "front_desk"]) == 0
    text = (tmp_path / "ivrflow.toml").read_text()
    environments = tomllib.loads(text)["env"]
    assert set(environments) == {t.name for t in all_targets()}
    for target in all_targets():
        settings = environments[target.name]
        assert settings["target"] == target.name
        for key, value in settings.items():
            if config.is_secret(key):
                assert re.fullmatch(r"\$\{[A-Z_]+\}", value), (target.name, key, value)
        # each environment loads, and the commands say how to use it
        assert config.load(target.name, str(tmp_path / "front_desk.ivr")).target == target.name
        assert f"ivrflow plan front_desk.ivr --env {target.name}" in text


def test_init_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ivrflow.toml").write_text("# mine\n")
    status, out, err = run(capsys, "init", str(tmp_path), "--name", "shop")
    assert status == 2 and out == ""
    assert err == (f"ivrflow: error: {tmp_path / 'ivrflow.toml'} already exists; init writes new files only "
                   "(give another directory)\n")
    assert (tmp_path / "ivrflow.toml").read_text() == "# mine\n"
    assert not (tmp_path / "shop.ivr").exists() and not (tmp_path / "prompts").exists()  # nothing half-made


def test_init_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "init", str(tmp_path / "a"))[0] == 0
    status, _, err = run(capsys, "init", str(tmp_path / "a"))
    assert status == 2 and err.startswith("ivrflow: error: ") and err.count("\n") == 1


def test_init_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("")
    status, _, err = run(capsys, "init", str(tmp_path / "file"))
    assert (status, err) == (2, f"ivrflow: error: {tmp_path / 'file'} is a file, not a directory\n")
    status, _, err = run(capsys, "init", str(tmp_path / "x"), "--name", "9 lives")
    assert status == 2 and "`9 lives` cannot name a flow" in err


def test_init_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    status, out, _ = run(capsys, "init")
    name = re.sub(r"[^a-z0-9_]+", "_", tmp_path.name.lower()).strip("_")
    assert status == 0 and (tmp_path / f"{name}.ivr").is_file()
    assert "  cd " not in out  # already there
