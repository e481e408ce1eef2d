"""The commands that touch a platform: compile, plan, deploy, destroy, status and targets."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import (
    ExitStatus,
    _config_option,
    _environment,
    _flow_files,
    _load_one,
    _show,
    _show_config_error,
    _target,
    _Usage,
    cli,
)

if TYPE_CHECKING:
    from ..compiler import Checked


@cli.command(name="compile")
@click.argument("file", metavar="FLOW")
@click.option("--target", "target_name", required=True, metavar="T",
              help="telphin, portsip or mediaservice (`ivrflow targets` compares them).")
@click.option("--env", "env_name", metavar="NAME", help="Fills in the bindings (extension, runtime URL, …); "
                                                         "without it, placeholders are used and listed.")
@_config_option
@click.option("-o", "--output", default="build", show_default=True, metavar="DIR")
@click.option("--tts", type=click.Choice(["espeak"]), help="Speak `say` prompts with espeak-ng.")
def compile_command(file: str, target_name: str, env_name: str | None, output: str, tts: str | None) -> int:
    """Write what a target needs, without touching the network.

    plan.json: the ordered API calls that create the flow from nothing,
    `[{"method", "path", "body", "ref", "source": {"file", "line"}}]`, where a
    later call refers to an id created earlier as {"$ref": "name"} in a body
    and {name} in a path; secrets stay markers ({"$secret": "pin"}).

    \b
    telphin: also deploy.sh, the same calls as a curl script.
    portsip: also prompts/*.wav, each receptionist's prompts joined into one
    16-bit mono WAV, as they will be uploaded.

    \b
      ivrflow compile examples/quickstart.ivr --target portsip --tts espeak -o build/
      ivrflow compile examples/telphin_guide.ivr --target telphin --env local -o build/
    """
    from .. import config
    from ..deploy.tts import TTSUnavailable
    from ..prompt_files import PromptFileError

    target = _target(target_name)
    out = Path(output)
    if os.path.lexists(output) and not out.is_dir():
        raise _Usage(f"cannot write to `{output}`: it is a file, not a directory")
    result = _load_one(file, check_files=True)
    assert result.flow is not None
    env = _environment(env_name, file) if env_name else None
    if env is not None and env.get("target") != target_name:
        raise _Usage(f"environment `{env_name}` is for target `{env.get('target')}`, not `{target_name}`")
    try:
        wanted, _ = _desired(target, result, file, env, tts == "espeak")
        the_plan = target.make_empty_plan(wanted)
        try:
            written = target.write_artifacts(wanted, the_plan, out, env.get("base_url") if env is not None else None,
                                             flow=result.flow, flow_path=file)
        except OSError as error:
            raise _Usage(f"cannot write to `{error.filename or output}`: {error.strerror or error}") from None
    except config.ConfigError as error:
        _show_config_error(error)
        return ExitStatus.USAGE
    except PromptFileError as error:  # the file changed since it was checked
        _show(error.at(result.flow), result)
        return ExitStatus.ERRORS
    except TTSUnavailable as error:
        raise _Usage(str(error)) from None
    click.echo(f"wrote {', '.join(str(p) for p in written)}: {len(the_plan.changes)} calls", err=True)
    for note in the_plan.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"callers dial {target.dial(wanted)}", err=True)
    return ExitStatus.OK


def _desired(target: Any, result: Checked, file: str, env: Any, tts: bool) -> tuple[Any, Any]:
    from ..compiler.diagnostics import Severity

    assert result.flow is not None
    _refuse_unsupported(target, result)
    wanted = target.desired(result.flow, file, env, tts)
    if wanted.diagnostics:
        _show(wanted.diagnostics, result)
    if any(d.severity is Severity.ERROR for d in wanted.diagnostics):
        raise click.exceptions.Exit(ExitStatus.ERRORS)
    return wanted, None


def _refuse_unsupported(target: Any, result: Checked) -> None:
    """Stop (exit 1) before the target compiles or reads anything, with
    IVR205 at each use of a second-edition construct it does not carry yet."""
    from ..targets.capabilities import unsupported

    assert result.flow is not None
    refused = unsupported(target, result.flow)
    if refused:
        _show(refused, result)
        raise click.exceptions.Exit(ExitStatus.ERRORS)


ADOPT_HELP = ("Also change or delete what ivrflow did not make where the flow's objects are (options and rules "
              "someone added to its menus, an extension's existing voice menu, actions, responses and triggers "
              "someone added to its Comm100 voicebot); without it they are left alone and the plan lists them as "
              "unmanaged.")


@cli.command()
@click.argument("file", metavar="FLOW")
@click.option("--env", "env_name", required=True, metavar="NAME", help="An environment of ivrflow.toml.")
@_config_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--detail", is_flag=True, help="Every field of every change, not one line per change.")
@click.option("-out", "--out", "out", metavar="FILE", type=click.Path(dir_okay=False),
              help="Also save the plan to FILE (such as main.plan): `ivrflow deploy FILE` applies exactly it.")
@click.option("--adopt", is_flag=True, help=ADOPT_HELP)
def plan(file: str, env_name: str, fmt: str, detail: bool, out: str | None, adopt: bool) -> int:
    """Show what a deploy would create, change and delete on the platform.

    First how many changes each part of the flow gets (per menu, route and
    prompt), then one line per change with what differs (`timeout 5000 →
    6000`; a field with no value is `unset`); --detail shows every field.
    Only objects ivrflow manages (marked in their description or title) are
    ever changed or deleted; what someone else made where the flow's objects
    are is listed as "unmanaged, left alone" (see --adopt). Then the number
    callers dial.

    `--format json` prints {"create": N, "update": N, "delete": N,
    "changes": [{"op", "kind", "key", "group", "method", "path", "body",
    "detail", "diff": [{"field", "before", "after"}], …}], "groups": [{"group",
    "create", "update", "delete"}], "unmanaged": [...], "dial": "…"}.

    `--out FILE` (or Terraform's `-out FILE`) saves the plan: the changes,
    digests of the flow and its recordings, the environment, the target and
    a fingerprint of the platform as read. `ivrflow deploy FILE` applies
    exactly that plan, and refuses (exit 7) if the flow, a recording or the
    platform changed since. Secrets are never written: bodies carry
    {"$secret": "pin"} markers.

    \b
    Examples:
      ivrflow plan main.ivr --env prod
      ivrflow plan main.ivr --env prod --detail
      ivrflow plan main.ivr --env prod -out main.plan && ivrflow deploy main.plan
    """
    return _deploy(file, env_name, fmt=fmt, apply=False, dry_run=False, yes=True, adopt=adopt, detail=detail,
                   out=out)


@cli.command()
@click.argument("file", metavar="FLOW|FILE.plan")
@click.option("--env", "env_name", metavar="NAME",
              help="An environment of ivrflow.toml (required for a flow; a saved plan names its own).")
@_config_option
@click.option("--dry-run", is_flag=True, help="Print the calls instead of sending them.")
@click.option("--yes", is_flag=True, help="Do not ask before changing the platform.")
@click.option("--detail", is_flag=True, help="Show every field of every change.")
@click.option("--adopt", is_flag=True, help=ADOPT_HELP)
def deploy(file: str, env_name: str | None, dry_run: bool, yes: bool, detail: bool, adopt: bool) -> int:
    """Make the platform match the flow, or apply a saved plan.

    Reads what is live, shows the plan, applies it (with a progress bar) and
    can be run again: after a failure it converges, and when nothing changed
    it writes nothing. Calls that fail with 429, 5xx, timeouts or dropped
    connections are retried where that is safe (a create that may have
    happened is looked up, until it settles, before it is sent again). Every
    deploy that changed something ends by reading the platform again.

    Given a plan saved by `ivrflow plan --out FILE`, it applies exactly that
    plan to the environment it was made for, after checking that the flow
    file and its recordings are byte for byte those planned, and that the
    platform, read again, gives the same plan; otherwise it changes nothing
    and exits 7.

    Exit status: 0 done, 1 the flow has errors, 2 usage, 3 credentials
    refused, 4 the platform rejected a change (the flow's line is shown), 5
    network, 6 the platform read back does not match the plan (run it
    again), 7 a saved plan is out of date (plan again).

    \b
    Examples:
      ivrflow deploy main.ivr --env prod
      ivrflow deploy main.ivr --env prod --dry-run
      ivrflow deploy main.plan --yes
    """
    if _is_saved_plan(file):
        return _deploy_saved(file, env_name, dry_run=dry_run, yes=yes, detail=detail, adopt=adopt)
    if env_name is None:
        raise _Usage("deploy FLOW needs --env NAME (a plan saved with `plan --out` names its environment)")
    return _deploy(file, env_name, fmt="text", apply=True, dry_run=dry_run, yes=yes, adopt=adopt, detail=detail)


@cli.command()
@click.argument("file", metavar="FLOW")
@click.option("--env", "env_name", required=True, metavar="NAME", help="An environment of ivrflow.toml.")
@_config_option
@click.option("--dry-run", is_flag=True, help="Show the plan and print the calls instead of sending them.")
@click.option("--yes", is_flag=True, help="Do not ask before removing anything.")
@click.option("--detail", is_flag=True, help="Show every field of every change.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: print the removal plan as `plan --format json` does, and change nothing.")
def destroy(file: str, env_name: str, dry_run: bool, yes: bool, detail: bool, fmt: str) -> int:
    """Remove what ivrflow made on the platform for this flow, and nothing else.

    Reads what is live, shows what would be removed as a plan, asks (or
    --yes), removes it and reads the platform again. Only objects that carry
    ivrflow's marker for this flow are removed: Telphin contexts (with their
    options and rules) and sounds, PortSIP receptionists named
    `ivrflow:FLOW:…` with their action URLs and the flow's prompt files,
    mediaservice prompt files named `ivrflow-FLOW-…` that the flow's
    manifest lists, then the manifest, the Comm100 voicebot described
    `ivrflow:FLOW` with its marked actions, response, trigger and channel
    (unless another voicebot uses it). What someone else made stays; an
    ivrflow object that holds something someone else added is left alone
    and listed as unmanaged. On Telphin the extension stays (it is the
    number of ivrflow.toml): its voice-menu settings are put back to a new
    extension's (no entry context) when they enter this flow's menu.
    Running it again changes nothing.

    \b
    Examples:
      ivrflow destroy main.ivr --env staging --dry-run
      ivrflow destroy main.ivr --env staging --yes
    """
    return _destroy(file, env_name, dry_run=dry_run, yes=yes, detail=detail, fmt=fmt)


@cli.command()
@click.argument("files", nargs=-1, metavar="[FLOW...]")
@click.option("--env", "env_name", required=True, metavar="NAME", help="An environment of ivrflow.toml.")
@_config_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--check", "check_sync", is_flag=True, help="Exit 1 unless every flow is deployed and in sync (CI).")
def status(files: tuple[str, ...], env_name: str, fmt: str, check_sync: bool) -> int:
    """What is deployed for each flow, which number callers dial, and whether
    the platform has drifted from the flow.

    FLOW: flow files or folders (default: the *.ivr files of the working
    directory). For each, it reads what is live once for the objects ivrflow
    made (counted by kind: "deployed" is any of them there) and once as
    `plan` does: a plan with changes means the platform has drifted (or the
    flow changed since the last deploy), with how many changes. Changes
    nothing. `--format json` prints [{"flow", "file", "env", "target",
    "deployed": {KIND: N}, "dial", "in_sync", "drift": {"create", "update",
    "delete"}, "unmanaged": N}].

    \b
    Examples:
      ivrflow status --env prod
      ivrflow status main.ivr --env prod --format json
      ivrflow status --env prod --check     # exit 1 when anything drifted
    """
    paths = _flow_files(files) if files else sorted(str(p) for p in Path().glob("*.ivr"))
    if not paths:
        raise _Usage("no flow given and no *.ivr file in the working directory")
    reports = [_status_of(path, env_name) for path in paths]
    if fmt == "json":
        click.echo(json.dumps(reports, indent=2, ensure_ascii=False))
    else:
        for report in reports:
            click.echo(_status_line(report))
    if check_sync and not all(r["in_sync"] and r["deployed"] for r in reports):
        return ExitStatus.ERRORS
    return ExitStatus.OK


def _status_line(report: dict[str, Any]) -> str:
    deployed = ", ".join(f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in report["deployed"].items())
    head = f"{report['flow']} on {report['env']} ({report['target']}): "
    drift = report["drift"]
    changes = drift["create"] + drift["update"] + drift["delete"]
    if not report["deployed"]:
        return f"{head}not deployed (a deploy would make {changes} change(s))\n  callers would dial {report['dial']}"
    head += f"deployed ({deployed})"
    if report["in_sync"]:
        state = "in sync"
    else:
        counts = ", ".join(f"{n} to {op}" for op, n in drift.items() if n)
        state = f"drifted: {changes} change(s) ({counts}); `ivrflow plan` shows them"
    unmanaged = f"; {report['unmanaged']} unmanaged object(s) left alone" if report["unmanaged"] else ""
    return f"{head}; {state}{unmanaged}\n  callers dial {report['dial']}"


def _status_of(file: str, env_name: str) -> dict[str, Any]:
    with _session(file, env_name) as (result, env, target, api, _stats):
        assert result.flow is not None
        if target.destroy is None:
            raise _Usage(f"status: the {target.name} target cannot list what it deployed")
        _, removal = target.destroy(result.flow, file, env, api)
        wanted, the_plan = target.plan(result.flow, file, env, api)
        deployed: dict[str, int] = {}
        for change in removal.changes:
            if change.op == "delete":
                deployed[change.kind] = deployed.get(change.kind, 0) + 1
        return {"flow": result.flow.name, "file": file, "env": env_name, "target": target.name,
                "deployed": deployed, "dial": target.dial(wanted), "in_sync": not the_plan.changes,
                "drift": {op: the_plan.count(op) for op in ("create", "update", "delete")},
                "unmanaged": len(the_plan.unmanaged)}


def _is_saved_plan(file: str) -> bool:
    """A saved plan is JSON (`plan --out`); a flow never starts with `{`."""
    try:
        with open(file, "rb") as handle:
            start = handle.read(64).lstrip()
    except OSError:
        return file.endswith(".plan")
    return start.startswith(b"{")


@contextlib.contextmanager
def _session(file: str, env_name: str | None, *, check_files: bool = True, config_file: str | None = None,
             result: Checked | None = None, refuse: bool = True) -> Iterator[tuple[Checked, Any, Any, Any, Any]]:
    """The flow, its environment, the target and an open API client; the
    platform's failures become their exit statuses (click.exceptions.Exit).
    `refuse`: stop before any request when the flow uses what the target
    does not carry (IVR205); destroy, which only removes, goes on."""
    from .. import config
    from ..compiler.diagnostics import RULES
    from ..deploy.http import DeployError, Rejected, Stats
    from ..deploy.tts import TTSUnavailable
    from ..prompt_files import PromptFileError

    result = result or _load_one(file, check_files=check_files)
    assert result.flow is not None and env_name is not None
    if config_file is not None:
        try:
            env = config.load(env_name, file, Path(config_file))
        except config.ConfigError as error:
            _show_config_error(error)
            raise click.exceptions.Exit(ExitStatus.USAGE) from None
    else:
        env = _environment(env_name, file)
    target = _target(str(env.get("target") or ""))
    if refuse:
        _refuse_unsupported(target, result)
    stats = Stats()
    api = None
    try:
        api = target.api_for(env, stats=stats)
        yield result, env, target, api, stats
    except config.ConfigError as error:
        _show_config_error(error)
        raise click.exceptions.Exit(ExitStatus.USAGE) from None
    except PromptFileError as error:  # the file changed since it was checked
        _show(error.at(result.flow), result)
        raise click.exceptions.Exit(ExitStatus.ERRORS) from None
    except TTSUnavailable as error:
        raise _Usage(str(error)) from None
    except Rejected as error:
        change = error.change
        span = change.source if change is not None and change.source is not None else None
        if span is not None:
            _show([RULES["IVR302"].at(span, f"{env.get('target')} rejected `{change.describe()}`: {error}")], result)
        else:
            click.echo(f"ivrflow: error: the platform rejected a change: {error}", err=True)
        raise click.exceptions.Exit(ExitStatus.REJECTED) from None
    except DeployError as error:
        click.echo(f"ivrflow: error: {error}", err=True)
        code = {"auth": ExitStatus.AUTH, "unverified": ExitStatus.UNVERIFIED}.get(error.kind, ExitStatus.NETWORK)
        raise click.exceptions.Exit(code) from None
    finally:
        if api is not None:
            api.close()


def _secrets_of(env: Any, target: Any) -> list[str]:
    """The values of the environment's secrets: the target's and the callback token."""
    from ..config import CALLBACK_TOKEN_VARIABLE

    values = [env.secret(key) for key in target.secrets]
    values.append(env.secret("callback_token", default_variable=CALLBACK_TOKEN_VARIABLE))
    return [value for value in values if value]


def _plan_options(target: Any, adopt: bool) -> dict[str, Any]:
    if not adopt:
        return {}
    if not target.adopts:
        raise _Usage(f"--adopt: the {target.name} target never leaves objects alone")
    return {"adopt": True}


def _deploy(file: str, env_name: str, *, fmt: str, apply: bool, dry_run: bool, yes: bool,
            adopt: bool = False, detail: bool = False, out: str | None = None) -> int:
    from ..deploy import run
    from ..targets.common import prompt_sources

    with _session(file, env_name) as (result, env, target, api, stats):
        assert result.flow is not None
        options = _plan_options(target, adopt)
        wanted, the_plan = target.plan(result.flow, file, env, api, **options)
        if any(d.severity.name == "ERROR" for d in wanted.diagnostics):
            _show(wanted.diagnostics, result)
            return ExitStatus.ERRORS
        title = f"{result.flow.name} on {env_name} ({env.get('target')})"
        dial = target.dial(wanted)
        if out is not None:
            try:
                run.write_saved(Path(out), plan=the_plan, flow=result.flow, flow_path=file,
                                digest=run.flow_digest(file, prompt_sources(result.flow, file)), env_name=env_name,
                                config_file=env.file, target=target.name, dial=dial, adopt=adopt,
                                secrets=_secrets_of(env, target))
            except (run.SavedPlanError, OSError) as error:
                raise _Usage(f"--out {out}: {error}") from None
        if not apply and fmt == "json":
            click.echo(json.dumps({**run.summary(the_plan, result.flow), "dial": dial}, indent=2,
                                  ensure_ascii=False))
            return ExitStatus.OK
        run.print_plan(the_plan, "text", title, result.flow, detail)
        click.echo(f"callers dial {dial}")
        if out is not None:
            click.echo(f"saved the plan to {out}: `ivrflow deploy {out}` applies exactly it", err=True)
        if not apply or not the_plan.changes:
            return ExitStatus.OK
        return _apply(the_plan, result, env, target, api, stats, file, dry_run=dry_run, yes=yes,
                      replan=lambda: target.plan(result.flow, file, env, api, **options)[1],
                      done=f"deployed {result.flow.name} to {env_name}", dial=dial)


def _apply(the_plan: Any, result: Checked, env: Any, target: Any, api: Any, stats: Any, file: str, *,
           dry_run: bool, yes: bool, replan: Callable[[], Any], done: str, dial: str | None,
           question: str = "apply {n} changes?") -> int:
    """Send a plan's changes (after --dry-run's listing or the question), then read the platform again."""
    from ..deploy import run

    if dry_run:
        click.echo("\n--dry-run: these calls would be sent:")
        run.print_calls(the_plan)
        return ExitStatus.OK
    if not yes:
        if not sys.stdin.isatty():
            raise _Usage("not a terminal: add --yes to go ahead without being asked")
        if not click.confirm(question.format(n=len(the_plan.changes)), default=False):
            click.echo("nothing changed", err=True)
            return ExitStatus.OK
    ids: dict[str, Any] = {}
    run.apply(the_plan, lambda change, known: target.apply(result.flow, file, change, api, known), ids)
    run.verify(the_plan, replan)
    click.echo(f"{done}: {run.describe_stats(stats)}" + (f"; callers dial {dial}" if dial else ""), err=True)
    return ExitStatus.OK


def _deploy_saved(path: str, env_name: str | None, *, dry_run: bool, yes: bool, detail: bool, adopt: bool) -> int:
    """`deploy FILE.plan`: exactly the saved plan, or nothing (exit 7)."""
    from ..deploy import run
    from ..targets.common import prompt_sources

    try:
        saved = run.read_saved(Path(path))
    except run.SavedPlanError as error:
        raise _Usage(str(error)) from None
    if env_name is not None and env_name != saved["env"]:
        raise _Usage(f"{path} was planned for environment `{saved['env']}`, not `{env_name}`")
    if adopt and not saved.get("adopt"):
        raise _Usage(f"{path} was planned without --adopt: plan again with --adopt")
    file = saved["flow"]

    def stale(why: str) -> int:
        click.echo(f"ivrflow: error: {path} is out of date: {why}; nothing was changed. Plan again: "
                   f"ivrflow plan {file} --env {saved['env']} --out {path}", err=True)
        return ExitStatus.STALE

    if not Path(file).is_file():
        return stale(f"the flow {file} is gone")
    if run.file_digest(file) != saved.get("flow_file_sha256"):
        return stale(f"the flow {file} changed since it was planned")
    result = _load_one(file, check_files=True)
    assert result.flow is not None
    if run.flow_digest(file, prompt_sources(result.flow, file)) != saved["flow_sha256"]:
        return stale("a recording the flow plays changed since it was planned")
    with _session(file, saved["env"], config_file=saved["config"], result=result) as (_, env, target, api, stats):
        if target.name != saved["target"]:
            return stale(f"environment `{saved['env']}` now deploys to {target.name}, not {saved['target']}")
        options = _plan_options(target, bool(saved.get("adopt")))
        wanted, the_plan = target.plan(result.flow, file, env, api, **options)
        if run.live_fingerprint(the_plan) != saved["live_fingerprint"]:
            differences = run.plan_differences(saved, the_plan)
            return stale("the platform changed since it was planned" +
                         (f" ({'; '.join(differences)})" if differences else ""))
        title = f"{result.flow.name} on {saved['env']} ({target.name}), as saved in {path}"
        run.print_plan(the_plan, "text", title, result.flow, detail)
        dial = target.dial(wanted)
        click.echo(f"callers dial {dial}")
        if not the_plan.changes:
            return ExitStatus.OK
        return _apply(the_plan, result, env, target, api, stats, file, dry_run=dry_run, yes=yes,
                      replan=lambda: target.plan(result.flow, file, env, api, **options)[1],
                      done=f"deployed {result.flow.name} to {saved['env']} from {path}", dial=dial)


def _destroy(file: str, env_name: str, *, dry_run: bool, yes: bool, detail: bool, fmt: str) -> int:
    from ..deploy import run

    with _session(file, env_name, check_files=False, refuse=False) as (result, env, target, api, stats):
        assert result.flow is not None
        if target.destroy is None:
            raise _Usage(f"destroy: the {target.name} target cannot remove what it deployed")
        _, removal = target.destroy(result.flow, file, env, api)
        if fmt == "json":
            click.echo(json.dumps(run.summary(removal, result.flow), indent=2, ensure_ascii=False))
            return ExitStatus.OK
        title = f"remove {result.flow.name} from {env_name} ({target.name})"
        run.print_plan(removal, "text", title, result.flow, detail, verb="destroy")
        if not removal.changes:
            return ExitStatus.OK
        return _apply(removal, result, env, target, api, stats, file, dry_run=dry_run, yes=yes,
                      replan=lambda: target.destroy(result.flow, file, env, api)[1],
                      done=f"removed {result.flow.name} from {env_name}", dial=None,
                      question="remove these {n} objects from the platform?")


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "markdown"]), default="text", show_default=True)
def targets(fmt: str) -> int:
    """What each target expresses: natively, through the runtime server, or not at all."""
    from ..targets import capabilities

    if fmt == "markdown":
        click.echo(capabilities.markdown(), nl=False)
        return ExitStatus.OK
    from rich.console import Console
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    table.add_column("construct")
    for name in capabilities.capabilities():
        table.add_column(name)
    for row in capabilities.rows():
        table.add_row(*row)
    console = Console(highlight=False)
    if not console.is_terminal:  # piped: one row a line, not wrapped to 80 columns across five targets
        console = Console(highlight=False, width=200)
    console.print(table)
    return ExitStatus.OK
