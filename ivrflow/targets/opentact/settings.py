"""An Opentact environment of ivrflow.toml, every value checked, each problem
an IVR301 error at its line.

    [env.opentact]
    target = "opentact"
    base_url = "staging"                 # production (default), staging, or a URL
    email = "ops@example.com"            # Basic email:password to GET /rest/auth …
    password = "${OPENTACT_PASSWORD}"
    # api_token = "${OPENTACT_TOKEN}"    # … or a long-lived token instead
    product = 12                         # the SIP product id (GET /rest/sip/product)
    numbers = ["+14155550100"]           # E.164 numbers the flow answers
    dialect = "current"                  # current (default) | legacy
    # the outbound voice profile (named `ivrflow:FLOW`) its transfers use:
    tech_prefix = 482910
    channel_limit = 10
    max_rate = 0.05
    daily_spend_limit = 50
    record_calls = 0
    filemat = "wav"
    audio_track_type = 0
    prompts_url = "https://media.example.com/ivr"   # where `file` prompts are fetched from
    voicemail = { support = "+14155550199" }
"""

from __future__ import annotations

import difflib
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...config import Environment
from .dialect import DEFAULT_DIALECT, DIALECTS

#: The hosts PLATFORMS.md §5 names: production, and staging (access UNKNOWN).
BASE_URLS = {"production": "https://api.opentact.org", "staging": "https://api.stage.opentact.org"}
DEFAULT_BASE_URL = BASE_URLS["production"]
#: E.164: a + and up to 15 digits, the first not 0.
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
#: Seed 004: "tech_prefix … 100000–999999".
TECH_PREFIX = (100000, 999999)
#: Seed 004: record_calls 0|1|2 (their meanings are UNKNOWN), filemat wav|mp3, audio_track_type 0|1.
RECORD_CALLS = (0, 1, 2)
FILEMAT = ("wav", "mp3")
AUDIO_TRACK_TYPE = (0, 1)
#: The profile's fields and their defaults when the environment gives none.
PROFILE_DEFAULTS: dict[str, Any] = {"channel_limit": 10, "max_rate": 0, "daily_spend_limit": 0, "record_calls": 0,
                                    "filemat": "wav", "audio_track_type": 0}
#: Every key an Opentact environment may hold.
KEYS = ("target", "base_url", "email", "password", "api_token", "product", "numbers", "dialect", "tech_prefix",
        *PROFILE_DEFAULTS, "prompts_url", "voicemail", "runtime_url",
        "callback_token", "insecure_callbacks")
_LOCAL = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Settings:
    """An Opentact environment, checked. `None`: not given (compile needs none of them)."""

    base_url: str = DEFAULT_BASE_URL
    email: str | None = None
    dialect: str = DEFAULT_DIALECT
    product: int | None = None
    numbers: tuple[str, ...] = ()
    profile: Mapping[str, Any] = field(default_factory=dict)
    prompts_url: str | None = None
    voicemail: Mapping[str, str] = field(default_factory=dict)


def read(env: Environment) -> Settings:
    """The environment's settings, or ConfigError (IVR301) at the first wrong one."""
    unknown = [key for key in env.settings if key not in KEYS]
    for key in unknown:
        close = difflib.get_close_matches(key, KEYS, n=1)
        raise env.error(f"`{key}` is not a setting of an Opentact environment"
                        + (f"; did you mean `{close[0]}`?" if close else ""), key,
                        hint="docs/platforms/opentact.md lists the settings")
    base_url = _base_url(env)
    email = env.get("email")
    has_password, has_token = "password" in env.settings, "api_token" in env.settings
    if has_token and (email is not None or has_password):
        raise env.error("give either `email` and `password` (Opentact's sign-in) or `api_token`, not both",
                        "api_token")
    if email is not None and (not isinstance(email, str) or not re.fullmatch(r"[^@\s]+@[^@\s]+", email)):
        raise env.error("`email` must be the Opentact account's e-mail address", "email")
    if email is not None and not has_password:
        raise env.error("`email` needs a `password` to sign in with", "email",
                        hint='password = "${OPENTACT_PASSWORD}"')
    if has_password and email is None:
        raise env.error("`password` needs the `email` it belongs to", "password")
    dialect = env.get("dialect", DEFAULT_DIALECT)
    if dialect not in DIALECTS:
        raise env.error(f"`dialect` must be one of {', '.join(map(repr, DIALECTS))}, not {dialect!r}", "dialect",
                        hint="current: doc.opentact.org; legacy: the older GitBook and the 2021 API")
    product = env.get("product")
    if product is not None and (not _integer(product) or product < 1):
        raise env.error("`product` must be the SIP product's id, a whole number of at least 1", "product",
                        hint="list them with GET /rest/sip/product")
    numbers = _numbers(env)
    profile = _profile(env)
    prompts_url = env.get("prompts_url")
    if prompts_url is not None and not _is_url(prompts_url):
        raise env.error("`prompts_url` must be an http(s) URL Opentact can fetch the recordings from",
                        "prompts_url")
    voicemail = env.get("voicemail") or {}
    if not isinstance(voicemail, Mapping) or not all(isinstance(v, str) and v for v in voicemail.values()):
        raise env.error("`voicemail` maps each box to the number its calls are transferred to", "voicemail",
                        hint='voicemail = { support = "+14155550199" }')
    return Settings(base_url, email, str(dialect), product, numbers, profile, prompts_url, dict(voicemail))


def _base_url(env: Environment) -> str:
    raw = env.get("base_url")
    if raw is None:
        return DEFAULT_BASE_URL
    if raw in BASE_URLS:
        return BASE_URLS[raw]
    if not _is_url(raw):
        raise env.error(f"`base_url` must be `production`, `staging` or an https URL, not {raw!r}", "base_url")
    parts = urllib.parse.urlsplit(raw)
    if parts.scheme != "https" and parts.hostname not in _LOCAL:
        raise env.error("Opentact's API is HTTPS only: `base_url` must start with https:// (http is for a local "
                        "emulator)", "base_url")
    return str(raw).rstrip("/")


def _numbers(env: Environment) -> tuple[str, ...]:
    numbers = env.get("numbers")
    if numbers is None:
        return ()
    if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
        raise env.error("`numbers` must be a list of E.164 numbers", "numbers", hint='numbers = ["+14155550100"]')
    for number in numbers:
        if not E164.fullmatch(number):
            raise env.error(f"`numbers`: {number!r} is not an E.164 number (+, country code, number; digits "
                            "only)", "numbers", hint='such as "+14155550100"')
    seen = set()
    for number in numbers:
        if number in seen:
            raise env.error(f"`numbers` lists {number} twice", "numbers")
        seen.add(number)
    return tuple(numbers)


def _profile(env: Environment) -> dict[str, Any]:
    """The outbound voice profile's fields, from the environment or their defaults."""
    fields: dict[str, Any] = {}
    prefix = env.get("tech_prefix")
    if prefix is not None:
        low, high = TECH_PREFIX
        if not _integer(prefix) or not low <= prefix <= high:
            raise env.error(f"`tech_prefix` must be a whole number from {low} to {high}", "tech_prefix")
        fields["tech_prefix"] = prefix
    for key, default in PROFILE_DEFAULTS.items():
        value = env.get(key, default)
        if key == "channel_limit" and (not _integer(value) or value < 1):
            raise env.error("`channel_limit` must be a whole number of at least 1 (concurrent outbound calls)", key)
        if key in ("max_rate", "daily_spend_limit") and (not _number(value) or value < 0):
            raise env.error(f"`{key}` must be a number of at least 0", key)
        if key == "record_calls" and not (_integer(value) and value in RECORD_CALLS):
            raise env.error("`record_calls` must be 0, 1 or 2", key)
        if key == "filemat" and value not in FILEMAT:
            raise env.error("`filemat` must be \"wav\" or \"mp3\" (Opentact's name for the recordings' format)",
                            key)
        if key == "audio_track_type" and not (_integer(value) and value in AUDIO_TRACK_TYPE):
            raise env.error("`audio_track_type` must be 0 or 1", key)
        fields[key] = value
    return fields


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urllib.parse.urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)
