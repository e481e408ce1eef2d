"""The commands that run servers: serve (the runtime) and emulate (the platforms' stand-ins)."""

from __future__ import annotations

import os
import re

import click

from . import ExitStatus, _config_option, _environment, _flow_files, _load_one, _target, _Usage, cli

#: What `serve --log-level` takes: levels logging and uvicorn both name so.
LOG_LEVELS = ("debug", "info", "warning", "error")


class _ServeCommand(click.Command):
    """serve --help lists what each registered target's platform calls."""

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_help_text(ctx, formatter)
        from ..targets import all_targets

        with formatter.section("Webhooks"):
            formatter.write_dl([(f"/{t.name}", t.webhook_help) for t in all_targets() if t.webhooks])


@cli.command(cls=_ServeCommand)
@click.argument("paths", nargs=-1, required=True, metavar="FLOW...")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--sessions", default="memory", show_default=True, metavar="memory|redis://HOST:PORT/DB",
              help="Where calls are kept between callbacks; Redis lets several servers share them.")
@click.option("--env", "env_name", metavar="NAME", help="An environment of ivrflow.toml: credentials, domain, "
                                                         "SIP domain and the platform's API base URL.")
@_config_option
@click.option("--insecure", is_flag=True, help="Accept callbacks without a credential (a local trial only).")
@click.option("--log-level", type=click.Choice(LOG_LEVELS), default="info", show_default=True,
              help="info: a line for each call and what it does (a new call, a route taken, a transfer, a hang-up) "
                   "and every refused callback; warning: refusals and problems only; debug: also each call's end.")
def serve(paths: tuple[str, ...], host: str, port: int, sessions: str, env_name: str | None, insecure: bool,
          log_level: str) -> int:
    """Answer live calls: the runtime server for platform callbacks.

    FLOW... are flow files or directories (searched for *.ivr): one server
    answers every flow deployed in the environment. A callback names its
    flow (the `flow` of a signed webhook URL, or /mediaservice/FLOW/…); an
    unknown flow is answered 404 and logged. The flows run on the same
    machine as `simulate` and `test`.

    Callbacks must carry `Authorization: Bearer TOKEN` (mediaservice) or a
    URL signed with that token (Telphin, PortSIP): the token is read from
    IVRFLOW_CALLBACK_TOKEN, or the variable the environment's
    `callback_token` names; or a JWT signed by the platform's key
    (`callback_public_key`). Give the flows' environment (--env) so the
    server can look up what was deployed.

    \b
      IVRFLOW_CALLBACK_TOKEN=… ivrflow serve examples/ --env live --port 8080
      ivrflow serve examples/support.ivr --insecure        # a local trial
    """
    from .. import targets
    from ..runtime import serve as serving

    results = [_load_one(file) for file in _flow_files(paths)]
    flows = [r.flow for r in results if r.flow is not None]
    seen: dict[str, str] = {}
    for result in results:
        assert result.flow is not None
        if result.flow.name in seen:
            raise _Usage(f"{result.file} and {seen[result.flow.name]} are both flow `{result.flow.name}`; "
                         "a server answers each flow name once")
        seen[result.flow.name] = result.file
    env = _environment(env_name, results[0].file) if env_name else None
    try:
        _reach_store(sessions)
        settings = serving.settings(env, insecure, dict(os.environ))
    except serving.NotConfigured as error:
        raise _Usage(str(error)) from None
    except ValueError as error:
        raise _Usage(str(error)) from None
    if insecure:
        click.echo("warning: --insecure: callbacks are accepted without a credential; anyone who can reach "
                   f"{host}:{port} can drive calls", err=True)
    names = ", ".join(sorted(seen))
    click.echo(f"serving {names} on http://{host}:{port} (sessions: {sessions.split('@')[-1]})", err=True)
    serving.run(flows, settings, targets.webhooks(), sessions, host, port, log_level=log_level)
    return ExitStatus.OK


def _reach_store(sessions: str) -> None:
    """Open the session store and ping it: one that is down is a one-line
    usage error here, before the server's startup would log a traceback."""
    import asyncio

    from ..runtime.sessions import open_store

    store = open_store(sessions)

    async def ping() -> None:
        try:
            await store.ping()
        finally:
            await store.close()
    try:
        asyncio.run(ping())
    except RuntimeError as error:
        raise _Usage(str(error)) from None


class _EmulateCommand(click.Command):
    """emulate --help describes each registered target's stand-in."""

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_help_text(ctx, formatter)
        from ..targets import all_targets

        with formatter.section("Platforms"):
            formatter.write_dl([(t.name, t.emulator_help) for t in all_targets()])


def _platforms() -> list[str]:
    from ..targets import TARGETS

    return sorted(TARGETS)


@cli.command(cls=_EmulateCommand)
@click.argument("platform", type=click.Choice(_platforms()), metavar="PLATFORM")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True, type=click.IntRange(0, 65535))
@click.option("--domain", default="localhost", show_default=True, help="mediaservice: the tenant domain in paths.")
@click.option("--client-id", default="demo", show_default=True, help="telphin: the OAuth client id it accepts.")
@click.option("--client-secret", default="demo", show_default=True, help="telphin: the OAuth client secret.")
@click.option("--username", default="demo", show_default=True, help="portsip: the user it signs in.")
@click.option("--password", default="demo", show_default=True, help="portsip: that user's password.")
@click.option("--faults", type=click.FloatRange(0, 1), default=0.0,
              help="telphin, portsip, comm100: the share of API calls that fail.")
@click.option("--fault-kinds", default="429,500,503,timeout,drop", show_default=True,
              help="telphin, portsip, comm100: the kinds of failure injected.")
@click.option("--latency-ms", type=click.IntRange(0, 60_000), default=0,
              help="telphin, portsip, comm100: added to every API call.")
@click.option("--rate-limit", "rate_limit", metavar="CALLS/WINDOW",
              help="comm100: the calls one client address may make in a window (seconds, or minutes with m), "
                   "then 429 with Retry-After. [default: 300/300s, Comm100's own]")
def emulate(platform: str, host: str, port: int, domain: str, client_id: str, client_secret: str, username: str,
            password: str, faults: float, fault_kinds: str, latency_ms: int, rate_limit: str | None) -> int:
    """Run a local stand-in of a platform's API (PLATFORM: one of the targets).

    \b
      ivrflow emulate portsip --port 8092
      ivrflow emulate telphin --port 8091 --faults 0.2 --latency-ms 20
      ivrflow emulate comm100 --port 8093 --rate-limit 40/10s
    """
    import uvicorn

    from ..targets.base import EmulatorOptions
    from ..targets.emulation import Faults

    limit = _rate_limit(rate_limit) if rate_limit is not None else None
    injected = Faults(rate=faults, kinds=tuple(k.strip() for k in fault_kinds.split(",") if k.strip()),
                      latency_ms=latency_ms)
    options = EmulatorOptions(domain=domain, client_id=client_id, client_secret=client_secret, username=username,
                              password=password, faults=injected, rate_limit=limit)
    emulator = _target(platform).emulator(options)
    click.echo(emulator.banner.format(url=f"http://{host}:{port}"), err=True)
    uvicorn.run(emulator.app, host=host, port=port, log_level="warning")
    return ExitStatus.OK


_RATE_LIMIT = re.compile(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*(s|m)?\s*")


def _rate_limit(text: str) -> tuple[int, float]:
    """`300/300s` (or `300/5m`, `300/300`) as (calls, window in seconds); anything else a usage error."""
    match = _RATE_LIMIT.fullmatch(text)
    calls, window = (int(match.group(1)), float(match.group(2)) * (60 if match.group(3) == "m" else 1)) \
        if match else (0, 0.0)
    if calls < 1 or window <= 0:
        raise _Usage(f"--rate-limit {text!r}: give CALLS/WINDOW with both above 0, such as 300/300s "
                     "(300 calls in 300 seconds) or 40/1m")
    return calls, window
