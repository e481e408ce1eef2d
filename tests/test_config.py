"""ivrflow.toml: environments, ${VAR} references, and errors with locations."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivrflow import config, redact

TOML = """# environments
[env.sandbox]
target = "telphin"
base_url = "https://apiproxy.telphin.ru"
client_id = "${TELPHIN_CLIENT_ID}"
client_secret = "${TELPHIN_CLIENT_SECRET}"
extension = "071"

[env.bad]
target = "portsip"
password = "hunter2hunter2"
"""


@pytest.fixture
def toml(tmp_path: Path) -> Path:
    path = tmp_path / "ivrflow.toml"
    path.write_text(TOML)
    return path


def test_values_come_from_the_environment_and_secrets_are_redacted(toml: Path) -> None:
    env = config.load("sandbox", path=toml, environ={"TELPHIN_CLIENT_ID": "app-1",
                                                     "TELPHIN_CLIENT_SECRET": "very-secret-value"})
    assert env.target == "telphin" and env.get("extension") == "071"
    assert env.get("client_id") == "app-1"
    assert env.secret("client_secret") == "very-secret-value"
    assert redact.redact("token very-secret-value here") == "token *** here"


def test_a_missing_variable_points_at_its_setting(toml: Path) -> None:
    env = config.load("sandbox", path=toml, environ={})
    with pytest.raises(config.ConfigError) as caught:
        env.get("client_id")
    diagnostic = caught.value.diagnostic
    assert (diagnostic.code, diagnostic.span.line, diagnostic.span.column) == ("IVR301", 5, 1)
    assert "TELPHIN_CLIENT_ID is not set" in diagnostic.message


def test_a_literal_secret_is_refused(toml: Path) -> None:
    with pytest.raises(config.ConfigError) as caught:
        config.load("bad", path=toml, environ={})
    assert caught.value.diagnostic.span.line == 9  # the table: the setting's line would show the secret
    assert "literal secret" in caught.value.diagnostic.message


def test_unknown_environment_and_missing_file(toml: Path, tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match=r"no environment `prod`.*known: bad, sandbox"):
        config.load("prod", path=toml)
    with pytest.raises(config.ConfigError, match=r"no environment `prod`"):  # the toml of a folder above
        config.load("prod", flow_path=str(tmp_path / "sub" / "flow.ivr"))
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere" / "flow.ivr"
    with pytest.raises(config.ConfigError, match=r"no ivrflow\.toml"):
        config.load("prod", flow_path=str(elsewhere))


def test_invalid_toml_has_a_position(tmp_path: Path) -> None:
    path = tmp_path / "ivrflow.toml"
    path.write_text('[env.x]\ntarget = \n')
    with pytest.raises(config.ConfigError) as caught:
        config.load("x", path=path)
    assert caught.value.diagnostic.span.line == 2
