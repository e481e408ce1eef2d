"""`ivrflow.toml`: named environments (`[env.NAME]`) with a target, a base
URL, platform bindings and credentials as `${VAR}` references.

    [env.sandbox]
    target = "telphin"
    base_url = "https://apiproxy.telphin.ru"
    client_id = "${TELPHIN_CLIENT_ID}"
    client_secret = "${TELPHIN_CLIENT_SECRET}"
    extension = "071"

Values are read when used, so a missing variable is reported only by the
command that needs it, with the line of the setting that names it.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import redact
from .compiler.diagnostics import RULES, Diagnostic
from .compiler.ir import Span

FILE_NAME = "ivrflow.toml"
CONFIG = RULES["IVR301"]
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Settings whose values are secrets: they must be `${VAR}` references.
#: The variable holding the callback token when an environment names none:
#: `ivrflow serve` checks callbacks with it, compilers sign callback URLs with it.
CALLBACK_TOKEN_VARIABLE = "IVRFLOW_CALLBACK_TOKEN"
SECRET_WORDS = ("secret", "password", "token", "pin", "private_key", "api_key")


class ConfigError(Exception):
    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def is_secret(key: str) -> bool:
    return any(word in key for word in SECRET_WORDS)


@dataclass(frozen=True)
class Environment:
    """One `[env.NAME]` table."""

    name: str
    file: str
    settings: Mapping[str, Any]
    source: str = ""
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    @property
    def target(self) -> str:
        return str(self.require("target"))

    def span(self, key: str | None = None) -> Span:
        """Where the setting (or the table) is written, for diagnostics."""
        lines = self.source.splitlines()
        header = re.compile(rf"^\s*\[\s*env\.{re.escape(self.name)}\s*\]")
        start = next((i for i, line in enumerate(lines) if header.match(line)), None)
        if start is None:
            return Span(self.file, 1, 1, 1, 2)
        if key is not None:
            pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
            for i in range(start + 1, len(lines)):
                if lines[i].lstrip().startswith("["):
                    break
                if pattern.match(lines[i]):
                    column = len(lines[i]) - len(lines[i].lstrip()) + 1
                    return Span(self.file, i + 1, column, i + 1, len(lines[i]) + 1)
        return Span(self.file, start + 1, 1, start + 1, len(lines[start]) + 1)

    def error(self, message: str, key: str | None = None, hint: str | None = None) -> ConfigError:
        return ConfigError(CONFIG.at(self.span(key), message, hint))

    def get(self, key: str, default: Any = None) -> Any:
        """The setting with `${VAR}` replaced from the environment."""
        if key not in self.settings:
            return default
        value = self.settings[key]
        if isinstance(value, str):
            return self._interpolate(key, value)
        return value

    def require(self, key: str) -> Any:
        value = self.get(key)
        if value is None or value == "":
            raise self.error(f"environment `{self.name}` needs `{key}`", key,
                             hint=f"add `{key} = …` under [env.{self.name}] in {FILE_NAME}")
        return value

    def secret(self, key: str, default_variable: str | None = None) -> str | None:
        """A secret: from the `${VAR}` the setting names (or a bare variable
        name), else from `default_variable`. Registered for redaction."""
        raw = self.settings.get(key)
        if isinstance(raw, str) and raw and not _VARIABLE.search(raw) and re.fullmatch(r"[A-Z_][A-Z0-9_]*", raw):
            raw = "${" + raw + "}"  # `callback_token = "MY_TOKEN"` names the variable
        if raw is None and default_variable is not None:
            value = self.environ.get(default_variable)
        elif raw is None:
            return None
        else:
            value = self._interpolate(key, str(raw))
        return redact.register(value) if value else None

    def _interpolate(self, key: str, value: str) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.environ:
                raise self.error(f"`{key}` uses ${{{name}}}, but the environment variable {name} is not set",
                                 key, hint=f"export {name}=…")
            resolved = self.environ[name]
            return redact.register(resolved) if is_secret(key) else resolved
        return _VARIABLE.sub(replace, value)


def find(flow_path: str | None) -> Path | None:
    """ivrflow.toml beside the flow or in a folder above it (as far as the
    root of a git checkout), else in the working directory."""
    candidates: list[Path] = []
    if flow_path:
        folder = Path(flow_path).resolve().parent
        for above in (folder, *folder.parents):
            candidates.append(above / FILE_NAME)
            if (above / ".git").exists():
                break
    candidates.append(Path.cwd() / FILE_NAME)
    return next((path for path in candidates if path.is_file()), None)


def load(name: str, flow_path: str | None = None, path: Path | None = None,
         environ: Mapping[str, str] | None = None) -> Environment:
    """The environment `name`; ConfigError (IVR301) with a location otherwise."""
    if path is not None and not path.is_file():
        raise ConfigError(CONFIG.at(Span(str(path), 1, 1, 1, 2), f"--config: no file {path}",
                                    hint="give the path of an ivrflow.toml"))
    path = path or find(flow_path)
    if path is None:
        where = Path(flow_path).parent if flow_path else Path.cwd()
        raise ConfigError(CONFIG.at(Span(str(where / FILE_NAME), 1, 1, 1, 2),
                                    f"no {FILE_NAME} beside the flow, in a folder above it or in the working "
                                    "directory", hint=f"create it with an [env.{name}] table, or give --config FILE"))
    file = os.path.relpath(path) if not os.path.relpath(path).startswith("..") else str(path)
    source = path.read_text(encoding="utf-8")
    try:
        document = tomllib.loads(source)
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"line (\d+), column (\d+)", str(error))
        line, column = (int(match.group(1)), int(match.group(2))) if match else (1, 1)
        raise ConfigError(CONFIG.at(Span(file, line, column, line, column + 1),
                                    f"{FILE_NAME} is not valid TOML: {error}")) from None
    environments = document.get("env", {})
    if name not in environments:
        known = ", ".join(sorted(environments)) or "none"
        raise ConfigError(CONFIG.at(Span(file, 1, 1, 1, 2), f"no environment `{name}` in {file} (known: {known})",
                                    hint=f"add an [env.{name}] table"))
    env = Environment(name, file, environments[name], source, environ if environ is not None else os.environ)
    for key, value in env.settings.items():
        if is_secret(key) and isinstance(value, str) and value and not _VARIABLE.search(value) \
                and not re.fullmatch(r"[A-Z_][A-Z0-9_]*", value):
            redact.register(value)
            # Pointed at the table, not the setting: the report shows the line it points at.
            raise env.error(f"`{key}` in [env.{name}] holds a literal secret (not shown); secrets must come from "
                            "the environment", hint=f'write `{key} = "${{SOME_VARIABLE}}"` and export SOME_VARIABLE')
    return env
