"""Where ivrflow.toml is found: beside the flow, in a folder above it, or where --config says."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivrflow.cli import main

from .conftest import EXAMPLES

TOML = ('[env.pbx]\ntarget = "portsip"\nbase_url = "http://127.0.0.1:9/api"\nusername = "demo"\n'
        'password = "${PW}"\ndomain = "pbx.example"\nextensions = "{range}"\npin = "${PIN}"\n'
        'runtime_url = "http://127.0.0.1:9"\ninsecure_callbacks = true\ntts = "espeak"\n')


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "flows" / "sales").mkdir(parents=True)
    (tmp_path / "flows" / "sales" / "line.ivr").write_text((EXAMPLES / "quickstart.ivr").read_text())
    monkeypatch.setenv("PW", "demo")
    monkeypatch.setenv("PIN", "482916")
    monkeypatch.chdir(tmp_path / "flows")  # neither the flow's folder nor the toml's
    return tmp_path


def _compile(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    status = main(["compile", "sales/line.ivr", "--target", "portsip", "--env", "pbx", "-o", "out", *args])
    return status, capsys.readouterr().err


def test_ivrflow_toml_is_found_in_a_folder_above_the_flow(project: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    (project / "ivrflow.toml").write_text(TOML.replace("{range}", "5000-5099"))
    status, err = _compile(capsys)
    assert status == 0 and "callers dial 5000" in err


def test_config_names_the_file_on_the_command_or_before_it(project: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    (project / "ivrflow.toml").write_text(TOML.replace("{range}", "5000-5099"))
    (project / "staging.toml").write_text(TOML.replace("{range}", "6000-6099"))
    status, err = _compile(capsys, "--config", str(project / "staging.toml"))
    assert status == 0 and "callers dial 6000" in err
    assert main(["--config", str(project / "staging.toml"), "compile", "sales/line.ivr", "--target", "portsip",
                 "--env", "pbx", "-o", "out"]) == 0
    assert "callers dial 6000" in capsys.readouterr().err
    status, err = _compile(capsys, "--config", str(project / "missing.toml"))
    assert status == 2 and "error[IVR301]: --config: no file" in err


def test_without_a_toml_the_error_says_where_it_looked(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, err = _compile(capsys)
    assert status == 2 and "in a folder above it" in err and "--config FILE" in err
