"""A Comm100 environment of ivrflow.toml, checked field by field: each
problem is an IVR301 error on the line of the setting.

    [env.voicebot]
    target = "comm100"
    host = 11                        # api11.comm100.io (your Control Panel is dash11)
    site_id = 10000
    auth = "api_key"                 # Basic email:API_KEY and ?siteId=… ; or "oauth" (a bearer token)
    email = "admin@example.com"
    api_key = "${COMM100_API_KEY}"   # auth = "oauth": access_token = "${COMM100_TOKEN}"
    channel = "sip"                  # or "twilio": phone_number, phone_country
    sip_server = "sip.example.com:5060"
    sip_username = "voicebot"
    sip_password = "${COMM100_SIP_PASSWORD}"
    transfer_to = "sip:{ext}@pbx.example.com"
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...config import Environment
from . import schema

ENV_KEYS = ("base_url", "host", "site_id", "auth", "email", "api_key", "access_token", "channel", "sip_server",
            "sip_username", "sip_password", "sip_auth_username", "sip_outbound_proxy", "phone_number",
            "phone_country", "language", "voice", "engine", "transfer_to", "voicemail", "audio_base_url",
            "rate_limit", "rate_window")
SECRETS = ("api_key", "access_token", "sip_password")
AUTHS = ("api_key", "oauth")
_HOST = re.compile(r"(?:api|dash)?(\d+)")
_SERVER = re.compile(r"[A-Za-z0-9.\-]+(?::\d{1,5})?")
_PHONE = re.compile(r"\+?[0-9]{6,15}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class Settings:
    """What the target reads from an environment (secrets are read when sent)."""

    base_url: str
    site_id: int | None
    auth: str
    email: str | None
    channel: str
    channel_fields: dict[str, Any]
    language: str | None = None
    voice: str | None = None
    engine: str | None = None
    transfer_to: str = "{ext}"
    voicemail: Mapping[str, str] = field(default_factory=dict)
    audio_base_url: str | None = None
    rate_limit: int = schema.RATE_LIMIT_CALLS
    rate_window: float = schema.RATE_LIMIT_WINDOW_S


def _text(env: Environment, key: str) -> str | None:
    value = env.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise env.error(f"`{key}` must be a non-empty string", key)
    return value.strip()


def _choice(env: Environment, key: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
    value = _text(env, key)
    if value is None:
        return default
    if value not in allowed:
        raise env.error(f"`{key}` is `{value}`; Comm100 allows {', '.join(allowed)}", key)
    return value


def _integer(env: Environment, key: str, low: int, high: int | None = None) -> int | None:
    value = env.get(key)
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        span = f"{low} to {high}" if high is not None else f"at least {low}"
        raise env.error(f"`{key}` must be a whole number, {span} (it is {value!r})", key)
    return value


def base_url(env: Environment) -> str:
    """`base_url` as given (an emulator), else https://apiNN.comm100.io/v4 from `host`."""
    given = _text(env, "base_url")
    if given is not None:
        if not given.startswith(("http://", "https://")):
            raise env.error("`base_url` must start with http:// or https://", "base_url")
        return given.rstrip("/")
    raw = env.get("host")
    if raw is None:
        raise env.error("environment needs `host`: the number of your Comm100 API host (11 for api11.comm100.io, "
                        "the same as your Control Panel's dash11)", hint="host = 11")
    match = _HOST.fullmatch(str(raw).strip()) if isinstance(raw, (str, int)) and not isinstance(raw, bool) else None
    if match is None or int(match.group(1)) not in schema.HOSTS:
        raise env.error(f"`host` is {raw!r}; Comm100's API hosts are "
                        f"{', '.join('api' + str(h) for h in schema.HOSTS)}", "host", hint="host = 11")
    return schema.API_BASE.format(host=int(match.group(1)))


def read(env: Environment) -> Settings:
    """Every setting checked; ConfigError (IVR301) on the line of the first bad one."""
    url = base_url(env)
    site_id = _integer(env, "site_id", 1)
    auth = _choice(env, "auth", AUTHS, default="oauth" if env.settings.get("access_token") else "api_key")
    assert auth is not None
    email = _text(env, "email")
    if auth == "api_key":
        if email is None:
            raise env.error("API-key auth needs `email`: Comm100 takes Basic email:API_KEY", "auth",
                            hint='email = "agent@example.com"')
        if not _EMAIL.fullmatch(email):
            raise env.error(f"`email` is not an e-mail address: {email!r}", "email")
        if env.settings.get("api_key") is None:
            raise env.error("API-key auth needs `api_key`", "auth", hint='api_key = "${COMM100_API_KEY}"')
        if site_id is None:
            raise env.error("API-key auth needs `site_id`: Comm100 wants ?siteId=… on every call", "auth",
                            hint="site_id = 10000")
    elif env.settings.get("access_token") is None:
        raise env.error("OAuth needs `access_token` (a bearer token from dashNN.comm100.io/oauth/token)", "auth",
                        hint='access_token = "${COMM100_TOKEN}"')
    channel = _choice(env, "channel", schema.CHANNEL_TYPES)
    if channel is None:
        raise env.error("environment needs `channel`: `sip` (with sip_server, sip_username, sip_password) or "
                        "`twilio` (with phone_number, phone_country)", hint='channel = "sip"')
    fields = _channel_fields(env, channel)
    language = _choice(env, "language", schema.LANGUAGES)
    transfer_to = _text(env, "transfer_to") or "{ext}"
    if "{ext}" not in transfer_to or re.search(r"\{(?!ext\})", transfer_to):
        raise env.error(f"`transfer_to` must contain {{ext}} (where the number goes) and no other braces: "
                        f"{transfer_to!r}", "transfer_to", hint='transfer_to = "sip:{ext}@pbx.example.com"')
    voicemail = env.get("voicemail") or {}
    if not isinstance(voicemail, Mapping) or not all(isinstance(v, str) and v for v in voicemail.values()):
        raise env.error("`voicemail` must map box names to numbers: voicemail = { sales = \"800\" }", "voicemail")
    audio = _text(env, "audio_base_url")
    if audio is not None and not audio.startswith(("http://", "https://")):
        raise env.error("`audio_base_url` must be an http:// or https:// URL (where the recordings are published)",
                        "audio_base_url")
    rate_limit = _integer(env, "rate_limit", 1) or schema.RATE_LIMIT_CALLS
    window = env.get("rate_window", schema.RATE_LIMIT_WINDOW_S)
    if isinstance(window, bool) or not isinstance(window, (int, float)) or window <= 0:
        raise env.error("`rate_window` must be a number of seconds above 0", "rate_window")
    return Settings(url, site_id, auth, email, channel, fields, language, _text(env, "voice"), _text(env, "engine"),
                    transfer_to, dict(voicemail), audio, rate_limit, float(window))


def _channel_fields(env: Environment, channel: str) -> dict[str, Any]:
    """The channel configuration's body (the SIP password as a secret marker)."""
    if channel == "twilio":
        for key in ("sip_server", "sip_username", "sip_password"):
            if key in env.settings:
                raise env.error(f"`{key}` is for channel = \"sip\"; this environment's channel is twilio", key)
        number = _text(env, "phone_number")
        if number is None or not _PHONE.fullmatch(number.replace(" ", "")):
            raise env.error("a Twilio channel needs `phone_number`, such as \"+15550100\"", "phone_number"
                            if number is not None else "channel")
        country = _choice(env, "phone_country", schema.TWILIO_COUNTRIES)
        if country is None:
            raise env.error("a Twilio channel needs `phone_country` (" + ", ".join(schema.TWILIO_COUNTRIES) + ")",
                            "channel")
        return {"phoneNumber": number.replace(" ", ""), "phoneNumberCountry": country}
    for key in ("phone_number", "phone_country"):
        if key in env.settings:
            raise env.error(f"`{key}` is for channel = \"twilio\"; this environment's channel is sip", key)
    server = _text(env, "sip_server")
    if server is None:
        raise env.error("a SIP channel needs `sip_server` (a domain or IP address, with :port if not 5060)",
                        "channel", hint='sip_server = "sip.example.com"')
    if not _SERVER.fullmatch(server) or (":" in server and not 0 < int(server.rsplit(":", 1)[1]) < 65536):
        raise env.error(f"`sip_server` must be a domain or IP address with an optional :port, not {server!r}",
                        "sip_server")
    username = _text(env, "sip_username")
    if username is None:
        raise env.error("a SIP channel needs `sip_username`", "channel")
    if env.settings.get("sip_password") is None:
        raise env.error("a SIP channel needs `sip_password`", "channel", hint='sip_password = "${SIP_PASSWORD}"')
    auth_username = _text(env, "sip_auth_username")
    proxy = _text(env, "sip_outbound_proxy")
    if proxy is not None and not _SERVER.fullmatch(proxy):
        raise env.error(f"`sip_outbound_proxy` must be a domain or IP address with an optional :port, "
                        f"not {proxy!r}", "sip_outbound_proxy")
    return {"sIPServer": server, "username": username, "password": {"$secret": "sip_password"},
            "isAuthUsernameRequired": auth_username is not None, "authUsername": auth_username or "",
            "isOutboundProxyRequired": proxy is not None, "outboundProxy": proxy or ""}
