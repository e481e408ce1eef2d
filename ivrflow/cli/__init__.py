"""The command line: arguments, files, output formats and exit codes around
the pure compiler core. Heavy modules are imported inside the commands that
need them, so `ivrflow check` starts fast."""

from __future__ import annotations

import dataclasses
import enum
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import __version__

if TYPE_CHECKING:
    from ..compiler import Checked


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
    from ..loader import LoadError, load

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
        from .. import report

        click.echo(report.text([result], colour=_colour(sys.stderr)), err=True, nl=False)
        raise click.exceptions.Exit(ExitStatus.ERRORS)
    return result


def _remember_config(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.meta["ivrflow.config"] = value


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


def _environment(name: str, flow_path: str) -> Any:
    from .. import config

    context = click.get_current_context(silent=True)
    given = context.meta.get("ivrflow.config") if context is not None else None
    try:
        return config.load(name, flow_path, Path(given) if given else None)
    except config.ConfigError as error:
        _show_config_error(error)
        raise click.exceptions.Exit(ExitStatus.USAGE) from None


def _show_config_error(error: Any) -> None:
    """An IVR301 diagnostic, shown with its line of ivrflow.toml."""
    from .. import report
    from ..compiler import Checked

    diagnostic = error.diagnostic
    path = Path(diagnostic.span.file)
    source = path.read_text(encoding="utf-8") if path.is_file() else ""
    click.echo(report.text([Checked(diagnostic.span.file, source, None, None, (diagnostic,))],
                           colour=_colour(sys.stderr)), err=True, nl=False)


def _target(name: str) -> Any:
    from .. import targets

    try:
        return targets.get(name)
    except targets.UnknownTarget as error:
        raise _Usage(str(error)) from None


def _show(diagnostics: Sequence[Any], result: Checked) -> None:
    from .. import report

    shown = dataclasses.replace(result, diagnostics=tuple(diagnostics))
    text = report.text([shown], colour=_colour(sys.stderr))
    click.echo(text.rsplit("\n\n", 1)[0] + "\n", err=True, nl=False)


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


# The commands register themselves on `cli` when their modules are imported.
from . import authoring, calls, deploying, servers, studio  # noqa: E402, F401
