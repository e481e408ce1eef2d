"""What the runtime server offers a target's webhook routes: the flows it
runs (each with its machine and sessions), the credentials callbacks must
carry, the environment's values and secrets, and the HTTP client for the
platform's API and `ask`. Targets build their routes from this; the runtime
names no target."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from .core import Runtime
from .http import Credentials, HTTPProblem

log = logging.getLogger("ivrflow.runtime")


class Flows(Mapping[str, Runtime]):
    """The flows a server runs, by name."""

    def __init__(self, runtimes: Mapping[str, Runtime]):
        self._runtimes = dict(runtimes)

    def __getitem__(self, name: str) -> Runtime:
        return self._runtimes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._runtimes)

    def __len__(self) -> int:
        return len(self._runtimes)

    def named(self, name: object) -> Runtime:
        """The flow a callback names: 404 `unknown_flow` when this server does not run it."""
        if isinstance(name, str) and name in self._runtimes:
            return self._runtimes[name]
        shown = f"`{name}`" if isinstance(name, str) and name else "no flow"
        raise HTTPProblem(404, "unknown_flow", f"the callback names {shown}; this server runs "
                                               + ", ".join(f"`{n}`" for n in sorted(self._runtimes)))

    def only(self) -> Runtime:
        """The flow of a callback that names none: the one flow, if the server runs one."""
        if len(self._runtimes) == 1:
            return next(iter(self._runtimes.values()))
        raise HTTPProblem(404, "unknown_flow", "this server runs several flows; the callback URL must name one "
                                               "(" + ", ".join(f"`{n}`" for n in sorted(self._runtimes)) + ")")


@dataclass
class Webhooks:
    """The context a target's `webhooks(context)` builds its routes from."""

    flows: Flows
    credentials: Credentials
    #: The environment's values (domain, base_url, voicemail, …); empty without --env.
    settings: Mapping[str, Any]
    #: Reads a secret the environment names (client_secret, password, …); None when unset.
    secret: Callable[[str], str | None]
    #: Makes the bearer for calls to the platform's API (mediaservice), if configured.
    api_token: Callable[[], str] | None
    http: httpx.AsyncClient
    closers: list[Callable[[], None]] = field(default_factory=list)

    def on_close(self, close: Callable[[], None]) -> None:
        """Run `close` when the server stops (API clients the routes opened)."""
        self.closers.append(close)


#: A target's route factory: Webhooks -> Starlette routes, mounted at /NAME.
WebhookFactory = Callable[[Webhooks], list[Any]]
