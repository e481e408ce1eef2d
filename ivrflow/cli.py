"""The command line: arguments, files, output formats and exit codes around
the pure compiler core. Heavy modules are imported inside the commands that
need them, so `ivrflow check` starts fast."""

from __future__ import annotations

import contextlib
import enum
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import __version__

if TYPE_CHECKING:
    from .compiler import Checked


class ExitStatus(enum.IntEnum):
    OK = 0
    ERRORS = 1  # the flow has errors, a test failed
    USAGE = 2  # bad arguments, unreadable files, bad configuration, internal failures
    AUTH = 3  # the platform refused the credentials
    REJECTED = 4  # the platform refused a change (mapped to the flow's line)
    NETWORK = 5  # the platform could not be reached, even after retries
    UNVERIFIED = 6  # a deploy's calls went through, but the platform read back does not match the plan
    STALE = 7  # a saved plan no longer matches the flow or the platform: nothing was changed


def _colour(stream: Any = None) -> bool:
    if "NO_COLOR" in os.environ:
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


class _Usage(click.ClickException):
    """A problem with what the user asked for: said in one line, exit status 2."""

    exit_code = ExitStatus.USAGE

    def show(self, file: Any = None) -> None:
        click.echo(f"ivrflow: error: {self.format_message()}", err=True)


def _load_all(files: Sequence[str], *, check_files: bool = True) -> list[Checked]:
    from .loader import LoadError, load

    results = []
    for path in files:
        try:
            results.append(load(path, check_files=check_files))
        except LoadError as error:
            raise _Usage(str(error)) from None
    return results


def _load_one(path: str, *, check_files: bool = False) -> Checked:
    """Load a flow that must be free of errors; diagnostics go to stderr.
    Audio files need not exist to simulate or serve; commands that read them
    (compile, plan, deploy) pass `check_files` so that the prompt file checks
    (IVR112, IVR124 to IVR126) run before any prompt is read."""
    result = _load_all([path], check_files=check_files)[0]
    if not result.ok:
        from . import report

        click.echo(report.text([result], colour=_colour(sys.stderr)), err=True, nl=False)
        raise click.exceptions.Exit(ExitStatus.ERRORS)
    return result


def _remember_config(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.meta["ivrflow.config"] = value


#: --config, on the group and on every command that reads an environment.
_config_option = click.option(
    "--config", metavar="FILE", type=click.Path(dir_okay=False), expose_value=False, callback=_remember_config,
    help="The ivrflow.toml to read environments from. Default: the one beside the flow or in a folder "
         "above it, else in the working directory.")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ivrflow")
@_config_option
def cli() -> None:
    """ivrflow: IVR call flows as text files.

    Write a flow in a .ivr file, then check it, draw it, call it and test it
    before any platform sees it:

    \b
      ivrflow init my_line          # a starter project
      ivrflow check examples/quickstart.ivr
      ivrflow render examples/quickstart.ivr -o flow.svg
      ivrflow simulate examples/quickstart.ivr --press 1
      ivrflow test examples/*.ivr
      ivrflow fmt examples/

    The language is described in docs/language.md; every diagnostic code in
    docs/checks.md; the commands in docs/cli.md.
    """


def _codes(text: str | None, option: str) -> tuple[str, ...]:
    """`IVR101,IVR2` → codes or code prefixes; an unknown one is a usage error."""
    from .compiler.diagnostics import RULES

    if not text:
        return ()
    codes = tuple(c.strip().upper() for c in text.split(",") if c.strip())
    for code in codes:
        if not any(known.startswith(code) for known in RULES):
            raise _Usage(f"{option}: no diagnostic code is or starts with `{code}` (see docs/checks.md)")
    return codes


def _keep(result: Checked, select: tuple[str, ...], ignore: tuple[str, ...], floor: str) -> Checked:
    """The result with only the diagnostics the options ask for (syntax errors always stay)."""
    from .compiler import Checked as CheckedResult
    from .compiler.diagnostics import Severity

    rank = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}
    least = {"info": 0, "warning": 1, "error": 2}[floor]
    kept = tuple(d for d in result.diagnostics
                 if d.code == "IVR001" or ((not select or d.code.startswith(select))
                                           and not d.code.startswith(ignore or ("\0",))
                                           and rank[d.severity] >= least))
    return CheckedResult(result.file, result.source, result.flow, result.graph, kept)


@cli.command()
@click.argument("paths", nargs=-1, required=True, metavar="FLOW...")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github", "sarif"]), default="text",
              show_default=True, help="text for people; json for scripts; github for workflow "
                                      "annotations; sarif for code-scanning upload.")
@click.option("--target", "target_name", metavar="T", help="Also report what target T cannot express "
                                                            "(IVR2xx): telphin, portsip or mediaservice.")
@click.option("--tts", type=click.Choice(["espeak"]), help="With --target: `say` prompts will be synthesized.")
@click.option("--select", metavar="CODES", help="Report only these codes or prefixes, such as IVR1 or "
                                                 "IVR101,IVR113.")
@click.option("--ignore", metavar="CODES", help="Do not report these codes or prefixes, such as IVR113.")
@click.option("--severity", "floor", type=click.Choice(["info", "warning", "error"]), default="info",
              show_default=True, help="Report only diagnostics at least this severe.")
@click.option("-q", "--quiet", is_flag=True, help="Errors only: the same as --severity error.")
@click.option("--strict", is_flag=True, help="Warnings fail too (exit 1): for CI.")
@click.option("--watch", is_flag=True, help="Check again whenever a flow file or prompt changes (Ctrl-C stops).")
def check(paths: tuple[str, ...], fmt: str, target_name: str | None, tts: str | None, select: str | None,
          ignore: str | None, floor: str, quiet: bool, strict: bool, watch: bool) -> int:
    """Report every problem in the flow files (directories: every *.ivr in them).

    Each problem has a place (file:line:col), a severity, a stable code such
    as IVR002 and usually a hint; a problem repeated word for word in a file
    is shown once with the other places. Exit status: 0 without errors
    (warnings allowed unless --strict), 1 with errors, 2 for usage errors.

    Silence a warning on one line with `# ivrflow: ignore[IVR105]`, or
    everywhere with --ignore IVR105.

    \b
      ivrflow check examples/
      ivrflow check flows/ --strict --format github      # in CI
      ivrflow check main.ivr --target portsip --ignore IVR201,IVR202
      ivrflow check flows/ --watch
    """
    if tts and not target_name:
        raise _Usage("--tts only matters with --target: it says how that target would speak `say` prompts")
    chosen, dropped = _codes(select, "--select"), _codes(ignore, "--ignore")
    files = _flow_files(paths)

    def run_once() -> int:
        from . import report

        results = _load_all(files)
        if target_name is not None:
            target = _target(target_name)
            results = [_with_target(target, result, tts == "espeak") for result in results]
        results = [_keep(r, chosen, dropped, "error" if quiet else floor) for r in results]
        output = report.text(results, colour=_colour()) if fmt == "text" else report.FORMATS[fmt](results)
        click.echo(output, nl=False)
        failed = any(r.errors or r.flow is None or (strict and r.warnings) for r in results)
        return ExitStatus.ERRORS if failed else ExitStatus.OK

    if watch:
        return _watch(files, run_once)
    return run_once()


def _watch(files: Sequence[str], run_once: Callable[[], int]) -> int:
    """Run, then run again on every change to the flows' folders (their prompts too), until Ctrl-C."""
    from watchfiles import watch as changes

    def attempt() -> None:
        try:
            run_once()
        except click.ClickException as error:  # a file that vanished for a moment: say so, keep watching
            error.show()

    folders = sorted({str(Path(f).resolve().parent) for f in files})
    attempt()
    click.echo(f"watching {', '.join(folders)} (Ctrl-C stops)", err=True)
    for _ in changes(*folders, debounce=200, raise_interrupt=False):
        click.echo(click.style(f"\n── {time.strftime('%H:%M:%S')} a file changed ──", dim=True), err=True)
        attempt()
    return ExitStatus.OK


def _with_target(target: Any, result: Checked, tts: bool) -> Checked:
    """The result with the target's diagnostics (IVR2xx) added, in order."""
    from .compiler import Checked as CheckedResult
    from .compiler.diagnostics import Diagnostic

    if not result.ok or result.flow is None:
        return result
    found = list(result.diagnostics) + list(target.desired(result.flow, result.file, None, tts).diagnostics)
    found.sort(key=Diagnostic.sort_key)
    return CheckedResult(result.file, result.source, result.flow, result.graph, tuple(found))


_IMAGE_FORMATS = ("svg", "png", "pdf")


@cli.command()
@click.argument("file", metavar="FLOW")
@click.option("-o", "--output", metavar="OUT", help="OUT.svg, .png, .pdf (need Graphviz), .dot or .mmd "
                                                     "(Mermaid). Without it, DOT goes to standard output.")
def render(file: str, output: str | None) -> int:
    """Draw the call flow as a diagram.

    Menus are rounded boxes with their prompts, routes hexagons, and each way
    a call ends has its own shape. Edges carry keys and events; dashed grey
    edges are defaults the file does not write. Unreachable nodes are grey
    and dashed, nodes with errors red.

    \b
      ivrflow render examples/support.ivr -o support.svg
      ivrflow render examples/support.ivr -o support.mmd     # Mermaid, for GitHub
      ivrflow render examples/support.ivr | dot -Tpng > support.png
    """
    from .compiler.render import to_dot, to_mermaid

    result = _load_all([file])[0]
    if result.flow is None or result.graph is None:
        from . import report

        click.echo(report.text([result], colour=_colour(sys.stderr)), err=True, nl=False)
        return ExitStatus.ERRORS
    suffix = output.rsplit(".", 1)[-1].lower() if output and "." in output else ""
    if output and suffix not in (*_IMAGE_FORMATS, "dot", "gv", "mmd", "mermaid"):
        raise _Usage(f"cannot tell the format of `{output}`: use .svg, .png, .pdf, .dot or .mmd")
    if suffix in ("mmd", "mermaid"):
        data: bytes = to_mermaid(result.flow, result.graph, result.diagnostics).encode()
    else:
        dot = to_dot(result.flow, result.graph, result.diagnostics)
        data = dot.encode() if suffix in ("", "dot", "gv") else _image(dot, suffix)
    if output is None:
        click.echo(data.decode(), nl=False)
    else:
        try:
            with open(output, "wb") as handle:
                handle.write(data)
        except OSError as error:
            raise _Usage(f"cannot write `{output}`: {error.strerror}") from None
        click.echo(f"wrote {output}", err=True)
    if result.errors:
        click.echo(f"note: {result.errors} error(s) drawn in red; run `ivrflow check {file}`", err=True)
    return ExitStatus.OK


def _image(dot: str, fmt: str) -> bytes:
    import graphviz

    try:
        return bytes(graphviz.Source(dot).pipe(format=fmt))
    except graphviz.ExecutableNotFound:
        raise _Usage(
            "Graphviz's `dot` program is needed for ." + fmt + " images and was not found.\n"
            "Install it: `sudo apt-get install graphviz` (Debian, Ubuntu), `brew install graphviz` "
            "(macOS) or see https://graphviz.org/download/.\n"
            "Without it, `-o flow.dot` and `-o flow.mmd` (Mermaid) still work.") from None
    except graphviz.CalledProcessError as error:
        raise _Usage(f"Graphviz failed: {error.stderr.decode(errors='replace').strip()}") from None


@cli.command()
@click.argument("file", metavar="FLOW")
@click.option("--press", "presses", metavar="KEYS", help="A scripted call: entries separated by commas, "
                                                          "such as `1,2,silence` (`silence` lets the timeout pass).")
@click.option("--at", "at", metavar="TIME", help='The time of the call, such as "2026-11-23 10:00" (wall-clock '
                                                  "time where the hours are) or with a zone. Default: now.")
@click.option("--caller", metavar="NUMBER", help="The calling number, such as +442071234567. Default: withheld.")
@click.option("--answer", "answers", multiple=True, metavar="ACTION",
              help='What the routing service answers when the flow asks, such as `transfer "100"` or '
                   "`goto main`. Repeat for several asks.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--via", metavar="URL", help="Run the scripted call through a live runtime server, such as "
                                           "http://127.0.0.1:8080/mediaservice (token: IVRFLOW_CALLBACK_TOKEN). "
                                           "The server must run FILE's flow (its /healthz lists them).")
def simulate(file: str, presses: str | None, at: str | None, caller: str | None,
             answers: tuple[str, ...], fmt: str, via: str | None) -> int:
    """Call the flow offline and hear what a caller would hear.

    With --press, the call is scripted and the outcome printed. Without it you
    are the caller: type one entry a line (keys, `silence` or just Enter to let
    the timeout pass, `help`, `quit`); input that is not an entry is asked for
    again. When the flow asks a routing service, you type its answer.

    \b
      ivrflow simulate examples/support.ivr --press 1,2 --at "2026-11-23 10:00"
      ivrflow simulate examples/support.ivr --press 2,silence --format json
      ivrflow simulate examples/clinic.ivr --answer 'transfer "100"'
      ivrflow simulate examples/support.ivr --via http://127.0.0.1:8080/mediaservice --press 3,2
    """
    from . import simulation

    result = _load_one(file)
    assert result.flow is not None
    try:
        line = simulation.line(at, caller)
        parsed_answers = [simulation.action(text, result.flow) for text in answers]
        inputs = simulation.inputs(presses) if presses is not None else None
    except ValueError as error:
        raise _Usage(str(error)) from None
    if via is not None:
        if answers:
            raise _Usage("--answer cannot be used with --via: the server asks the real routing service")
        try:
            callbacks = simulation.via_callbacks(via, result.flow.name, file)
        except simulation.WrongServer as error:
            raise _Usage(str(error)) from None
        return simulation.via(result.flow, callbacks, inputs or [], at, caller, fmt, colour=_colour())
    from .compiler.simulate import UndeclaredAnswer

    try:
        if inputs is None and fmt == "text":
            return simulation.interactive(result.flow, line, parsed_answers, colour=_colour())
        return simulation.scripted(result.flow, line, inputs or [], parsed_answers, fmt, colour=_colour())
    except UndeclaredAnswer as error:
        raise _Usage(f"--answer {error}") from None


@cli.command(name="test")
@click.argument("files", nargs=-1, required=True, metavar="FLOW...")
@click.option("-k", "keyword", metavar="EXPR", help="Run only the tests whose `FILE::NAME` matches EXPR: "
                                                  "words are case-insensitive substrings, combined with and, "
                                                  "or, not and parentheses, as in pytest.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: {files, coverage, summary} for scripts.")
@click.option("--junit-xml", metavar="FILE", help="Also write the results as JUnit XML, which CI systems read.")
@click.option("--fail-under", type=click.FloatRange(0, 100), metavar="PERCENT",
              help="Exit 1 when tests exercise less than PERCENT of the keys, menu events and route branches.")
@click.option("--no-coverage", is_flag=True, help="Do not report which keys, events and branches went untested.")
@click.option("--watch", is_flag=True, help="Run again whenever a flow file or prompt changes (Ctrl-C stops).")
def test_command(files: tuple[str, ...], keyword: str | None, fmt: str, junit_xml: str | None,
                 fail_under: float | None, no_coverage: bool, watch: bool) -> int:
    """Run the `test` blocks of the flow files (or directories of them).

    Each failure shows its line, what was expected, what happened and the
    path the call took. Then coverage: the keys, menu events and route
    branches no test exercised. Exit status 1 on any failure or a flow with
    errors, or when coverage is under --fail-under.

    \b
      ivrflow test examples/
      ivrflow test examples/quickstart.ivr -k "wrong key or sales"
      ivrflow test examples/ --junit-xml results.xml --fail-under 90
      ivrflow test examples/ --format json --no-coverage
      ivrflow test examples/ --watch
    """
    from . import testrun
    from .compiler.testing import name_filter

    if no_coverage and fail_under is not None:
        raise _Usage("--fail-under needs coverage: leave out --no-coverage")
    try:
        select = name_filter(keyword) if keyword is not None else None
    except ValueError as error:
        raise _Usage(str(error)) from None
    paths = _flow_files(files)

    def run_once() -> int:
        results = _load_all(paths, check_files=False)
        if select is not None:
            names = [f"{Path(r.file).name}::{t.name}" for r in results if r.flow is not None for t in r.flow.tests]
            if names and not any(select(name) for name in names):
                raise _Usage(f"-k `{keyword}` matches none of the {len(names)} tests")
        return testrun.run_files(results, colour=_colour(), select=select, fmt=fmt, junit_xml=junit_xml,
                                 coverage=not no_coverage, fail_under=fail_under)

    return _watch(paths, run_once) if watch else run_once()


@cli.command(name="fmt")
@click.argument("paths", nargs=-1, required=True, metavar="FLOW...")
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if a file is not formatted (for CI).")
@click.option("--diff", is_flag=True, help="Change nothing; print what would change as a unified diff "
                                           "(exit 1 if anything would).")
def fmt_command(paths: tuple[str, ...], check: bool, diff: bool) -> int:
    """Rewrite flow files in the one canonical layout, comments kept.

    FLOW... are files or directories (searched for *.ivr); `-` reads standard
    input and writes the result to standard output. Formatting changes only
    spaces, blank lines and line ends: the flow means the same, and
    formatting twice changes nothing. A file with syntax errors is left as
    it is and its errors are shown (exit 1). A file with a line
    `# ivrflow: fmt off` is left as it is.

    \b
      ivrflow fmt examples/
      ivrflow fmt --check examples/          # in CI
      ivrflow fmt --diff examples/quickstart.ivr
    """
    from . import formatting

    try:
        if paths == ("-",):
            return formatting.standard_input(check, diff, _show_syntax_errors)
        return formatting.files(_flow_files(paths), check, diff, _show_syntax_errors)
    except formatting.Refused as error:
        raise _Usage(str(error)) from None


def _show_syntax_errors(path: str, source: str, diagnostics: Sequence[Any]) -> None:
    from . import report
    from .compiler import Checked

    click.echo(report.text([Checked(path, source, None, None, tuple(diagnostics))], colour=_colour(sys.stderr)),
               err=True, nl=False)
    click.echo(f"{path}: not formatted, it has syntax errors", err=True)


@cli.command()
@click.argument("directory", default=".", metavar="[DIR]")
@click.option("--name", metavar="NAME", help="The flow's name (default: from DIR's name).")
def init(directory: str, name: str | None) -> int:
    """Start a project: a flow with tests, a prompts folder and ivrflow.toml.

    DIR (default: here) gets NAME.ivr (a menu, its prompts and tests that
    cover every key), prompts/greeting.wav (a placeholder) and ivrflow.toml
    (an environment for each target, secrets as ${VAR}). `ivrflow check` and
    `ivrflow test` pass on it at once. Existing files are never replaced.

    \b
      ivrflow init pizza
      ivrflow init --name front_desk
    """
    from . import scaffold

    try:
        project = scaffold.create(Path(directory), name)
    except scaffold.Refused as error:
        raise _Usage(str(error)) from None
    click.echo(f"created {', '.join(str(p) for p in project.files)}")
    click.echo("\nNext:\n" + "\n".join(f"  {line}" for line in scaffold.next_steps(project)))
    return ExitStatus.OK


def _flow_files(paths: Sequence[str]) -> list[str]:
    """FLOW arguments: files, or directories searched for *.ivr (sorted)."""
    files: list[str] = []
    for path in paths:
        if Path(path).is_dir():
            found = sorted(str(p) for p in Path(path).rglob("*.ivr"))
            if not found:
                raise _Usage(f"{path}: a directory with no .ivr files")
            files += found
        else:
            files.append(path)
    return files


class _ServeCommand(click.Command):
    """serve --help lists what each registered target's platform calls."""

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_help_text(ctx, formatter)
        from .targets import all_targets

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
def serve(paths: tuple[str, ...], host: str, port: int, sessions: str, env_name: str | None, insecure: bool) -> int:
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
    from . import targets
    from .runtime import serve as serving

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
    serving.run(flows, settings, targets.webhooks(), sessions, host, port)
    return ExitStatus.OK


def _reach_store(sessions: str) -> None:
    """Open the session store and ping it: one that is down is a one-line
    usage error here, before the server's startup would log a traceback."""
    import asyncio

    from .runtime.sessions import open_store

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


def _environment(name: str, flow_path: str) -> Any:
    from . import config

    context = click.get_current_context(silent=True)
    given = context.meta.get("ivrflow.config") if context is not None else None
    try:
        return config.load(name, flow_path, Path(given) if given else None)
    except config.ConfigError as error:
        _show_config_error(error)
        raise click.exceptions.Exit(ExitStatus.USAGE) from None


def _show_config_error(error: Any) -> None:
    """An IVR301 diagnostic, shown with its line of ivrflow.toml."""
    from . import report
    from .compiler import Checked

    diagnostic = error.diagnostic
    path = Path(diagnostic.span.file)
    source = path.read_text(encoding="utf-8") if path.is_file() else ""
    click.echo(report.text([Checked(diagnostic.span.file, source, None, None, (diagnostic,))],
                           colour=_colour(sys.stderr)), err=True, nl=False)


class _EmulateCommand(click.Command):
    """emulate --help describes each registered target's stand-in."""

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_help_text(ctx, formatter)
        from .targets import all_targets

        with formatter.section("Platforms"):
            formatter.write_dl([(t.name, t.emulator_help) for t in all_targets()])


def _platforms() -> list[str]:
    from .targets import TARGETS

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
              help="telphin, portsip: the share of API calls that fail.")
@click.option("--fault-kinds", default="429,500,503,timeout,drop", show_default=True,
              help="telphin, portsip: the kinds of failure injected.")
@click.option("--latency-ms", type=click.IntRange(0, 60_000), default=0,
              help="telphin, portsip: added to every API call.")
def emulate(platform: str, host: str, port: int, domain: str, client_id: str, client_secret: str, username: str,
            password: str, faults: float, fault_kinds: str, latency_ms: int) -> int:
    """Run a local stand-in of a platform's API (PLATFORM: one of the targets).

    \b
      ivrflow emulate portsip --port 8092
      ivrflow emulate telphin --port 8091 --faults 0.2 --latency-ms 20
    """
    import uvicorn

    from .targets.base import EmulatorOptions
    from .targets.emulation import Faults

    injected = Faults(rate=faults, kinds=tuple(k.strip() for k in fault_kinds.split(",") if k.strip()),
                      latency_ms=latency_ms)
    options = EmulatorOptions(domain=domain, client_id=client_id, client_secret=client_secret, username=username,
                              password=password, faults=injected)
    emulator = _target(platform).emulator(options)
    click.echo(emulator.banner.format(url=f"http://{host}:{port}"), err=True)
    uvicorn.run(emulator.app, host=host, port=port, log_level="warning")
    return ExitStatus.OK


def _target(name: str) -> Any:
    from . import targets

    try:
        return targets.get(name)
    except targets.UnknownTarget as error:
        raise _Usage(str(error)) from None


def _show(diagnostics: Sequence[Any], result: Checked) -> None:
    from . import report
    from .compiler import Checked as CheckedResult

    shown = CheckedResult(result.file, result.source, result.flow, result.graph, tuple(diagnostics))
    text = report.text([shown], colour=_colour(sys.stderr))
    click.echo(text.rsplit("\n\n", 1)[0] + "\n", err=True, nl=False)


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
    from . import config
    from .deploy.tts import TTSUnavailable
    from .prompt_files import PromptFileError

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
    from .compiler.diagnostics import Severity

    assert result.flow is not None
    wanted = target.desired(result.flow, file, env, tts)
    if wanted.diagnostics:
        _show(wanted.diagnostics, result)
    if any(d.severity is Severity.ERROR for d in wanted.diagnostics):
        raise click.exceptions.Exit(ExitStatus.ERRORS)
    return wanted, None


ADOPT_HELP = ("Also change or delete what ivrflow did not make where the flow's objects are (options and rules "
              "someone added to its menus, an extension's existing voice menu); without it they are left alone "
              "and the plan lists them as unmanaged.")


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
    manifest lists, then the manifest. What someone else made stays; an
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
             result: Checked | None = None) -> Iterator[tuple[Checked, Any, Any, Any, Any]]:
    """The flow, its environment, the target and an open API client; the
    platform's failures become their exit statuses (click.exceptions.Exit)."""
    from . import config
    from .compiler.diagnostics import RULES
    from .deploy.http import DeployError, Rejected, Stats
    from .deploy.tts import TTSUnavailable
    from .prompt_files import PromptFileError

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
    from .targets.common import TOKEN_VARIABLE

    values = [env.secret(key) for key in target.secrets]
    values.append(env.secret("callback_token", default_variable=TOKEN_VARIABLE))
    return [value for value in values if value]


def _plan_options(target: Any, adopt: bool) -> dict[str, Any]:
    import inspect

    if not adopt:
        return {}
    if "adopt" not in inspect.signature(target.plan).parameters:
        raise _Usage(f"--adopt: the {target.name} target never leaves objects alone")
    return {"adopt": True}


def _deploy(file: str, env_name: str, *, fmt: str, apply: bool, dry_run: bool, yes: bool,
            adopt: bool = False, detail: bool = False, out: str | None = None) -> int:
    from .deploy import run
    from .targets.common import prompt_sources

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
    from .deploy import run

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
    from .deploy import run
    from .targets.common import prompt_sources

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
    from .deploy import run

    with _session(file, env_name, check_files=False) as (result, env, target, api, stats):
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
    from .targets import capabilities

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
    Console(highlight=False).print(table)
    return ExitStatus.OK


def run(argv: Sequence[str] | None = None) -> None:
    """The console script: `ivrflow …`."""
    sys.exit(main(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line in-process and return its exit status."""
    try:
        status = cli.main(args=list(argv) if argv is not None else None, prog_name="ivrflow",
                          standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.UsageError as error:  # click's own (a missing argument, a bad choice): one style of line
        hint = f" (see `{error.ctx.command_path} --help`)" if error.ctx is not None else ""
        click.echo(f"ivrflow: error: {error.format_message()}{hint}", err=True)
        return ExitStatus.USAGE
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.Abort:
        click.echo("aborted", err=True)
        return ExitStatus.USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return ExitStatus.OK
    except Exception as error:  # the last line of defence: no traceback for users
        if os.environ.get("IVRFLOW_DEBUG"):
            raise
        click.echo(f"ivrflow: internal error: {type(error).__name__}: {error}\n"
                   "This is a bug in ivrflow; run again with IVRFLOW_DEBUG=1 for the traceback "
                   "and please report it.", err=True)
        return ExitStatus.USAGE
    return int(status or 0)
