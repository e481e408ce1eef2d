"""`ivrflow serve`: settings from ivrflow.toml and the environment, then uvicorn."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import redact
from ..compiler import ir
from ..config import Environment
from .http import Credentials

#: The variable holding the callback bearer token when no environment names one.
TOKEN_VARIABLE = "IVRFLOW_CALLBACK_TOKEN"
#: ASSUMPTION: claims of the RS256 JWT that signs calls to the platform's API
#: (PLATFORMS.md §3: the key pair is yours; the claims are not documented).
API_TOKEN_LIFETIME_S = 300


class NotConfigured(Exception):
    """The server cannot start safely as configured."""


@dataclass
class ServeSettings:
    credentials: Credentials
    values: dict[str, Any]
    api_token: Callable[[], str] | None
    telphin: Any = None  # the directory of deployed Telphin contexts
    portsip: Any = None  # the directory of deployed PortSIP receptionists


def settings(env: Environment | None, insecure: bool, environ: dict[str, str], flow: str = "") -> ServeSettings:
    values: dict[str, Any] = {}
    public_key = None
    api_token = None
    telphin = portsip = None
    if env is not None:
        token = env.secret("callback_token", default_variable=TOKEN_VARIABLE)
        values = {key: env.get(key) for key in ("domain", "sip_domain", "voicemail_uri", "base_url", "language",
                                                "voicemail", "client_id", "extension", "username")
                  if env.get(key) is not None}
        if env.get("target") == "telphin":
            from ..targets.telphin.interactive import directory_from_env

            telphin = directory_from_env(flow, values, env.secret)
        if env.get("target") == "portsip":
            from ..targets.portsip.action import directory_from_env as portsip_directory

            portsip = portsip_directory(flow, values, env.secret)
        key_file = env.get("callback_public_key")
        if key_file:
            path = Path(env.file).parent / str(key_file)
            if not path.is_file():
                raise env.error(f"callback_public_key: no file {path}", "callback_public_key")
            public_key = path.read_text()
        private_key = env.secret("api_private_key")
        if private_key:
            api_token = _signer(private_key, str(values.get("domain", "")))
    else:
        token = environ.get(TOKEN_VARIABLE) or None
        if token:
            redact.register(token)
    credentials = Credentials(token=token, public_key=public_key, insecure=insecure)
    if not credentials.configured and not insecure:
        raise NotConfigured(
            f"refusing to start: callbacks would be accepted from anyone. Set {TOKEN_VARIABLE} (or name "
            "another variable with `callback_token`, or give `callback_public_key`, in the environment of "
            "ivrflow.toml), or pass --insecure for a local trial.")
    return ServeSettings(credentials, values, api_token, telphin, portsip)


def _signer(private_key: str, domain: str) -> Callable[[], str]:
    import jwt

    def token() -> str:
        now = int(time.time())
        return jwt.encode({"iss": "ivrflow", "sub": domain, "iat": now, "exp": now + API_TOKEN_LIFETIME_S},
                          private_key, algorithm="RS256")
    return token


def run(flow: ir.Flow, serve: ServeSettings, sessions: str, host: str, port: int) -> None:
    import uvicorn

    from .app import create_app
    from .sessions import open_store

    store = open_store(sessions)
    app = create_app(flow, store, serve.credentials, settings=serve.values, api_token=serve.api_token,
                     accept_test_clock=serve.credentials.insecure, telphin=serve.telphin,
                     portsip=serve.portsip)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    redact.install_log_filter("", "uvicorn", "uvicorn.error", "uvicorn.access", "ivrflow.runtime")
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
