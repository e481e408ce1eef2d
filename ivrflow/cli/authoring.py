"""The authoring commands: check, render, fmt and init."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import ExitStatus, _colour, _flow_files, _load_all, _target, _Usage, _watch, cli

if TYPE_CHECKING:
    from ..compiler import Checked


def _codes(text: str | None, option: str) -> tuple[str, ...]:
    """`IVR101,IVR2` → codes or code prefixes; an unknown one is a usage error."""
    from ..compiler.diagnostics import RULES

    if not text:
        return ()
    codes = tuple(c.strip().upper() for c in text.split(",") if c.strip())
    for code in codes:
        if not any(known.startswith(code) for known in RULES):
            raise _Usage(f"{option}: no diagnostic code is or starts with `{code}` (see docs/checks.md)")
    return codes


def _keep(result: Checked, select: tuple[str, ...], ignore: tuple[str, ...], floor: str) -> Checked:
    """The result with only the diagnostics the options ask for (syntax errors always stay)."""
    from ..compiler.diagnostics import Severity

    rank = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}
    least = {"info": 0, "warning": 1, "error": 2}[floor]
    kept = tuple(d for d in result.diagnostics
                 if d.code == "IVR001" or ((not select or d.code.startswith(select))
                                           and not d.code.startswith(ignore or ("\0",))
                                           and rank[d.severity] >= least))
    return dataclasses.replace(result, diagnostics=kept)


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
        from .. import report

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


def _with_target(target: Any, result: Checked, tts: bool) -> Checked:
    """The result with the target's diagnostics (IVR2xx) added, in order."""
    from ..compiler.diagnostics import Diagnostic
    from ..targets.capabilities import unsupported

    if not result.ok or result.flow is None:
        return result
    # What the target does not carry yet (IVR205) is all it can say of such a flow.
    found = list(result.diagnostics)
    found += unsupported(target, result.flow) or target.desired(result.flow, result.file, None, tts).diagnostics
    found.sort(key=Diagnostic.sort_key)
    return dataclasses.replace(result, diagnostics=tuple(found))


_IMAGE_FORMATS = ("svg", "png", "pdf")


@cli.command()
@click.argument("file", metavar="FLOW")
@click.option("-o", "--output", metavar="OUT", help="OUT.svg, .png, .pdf (need Graphviz), .dot or .mmd "
                                                     "(Mermaid). Without it, DOT goes to standard output.")
def render(file: str, output: str | None) -> int:
    """Draw the call flow as a diagram.

    Menus are rounded boxes with their prompts, routes hexagons, collects
    3-D boxes, lookups cylinders, and each way a call ends has its own shape.
    Edges carry keys, events and conditions; dashed grey edges are defaults
    the file does not write. Unreachable nodes are grey and dashed, nodes
    with errors red.

    \b
      ivrflow render examples/support.ivr -o support.svg
      ivrflow render examples/support.ivr -o support.mmd     # Mermaid, for GitHub
      ivrflow render examples/support.ivr | dot -Tpng > support.png
    """
    from ..compiler.render import to_dot, to_mermaid

    result = _load_all([file])[0]
    if result.flow is None or result.graph is None:
        from .. import report

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
    from .. import formatting

    try:
        if paths == ("-",):
            return formatting.standard_input(check, diff, _show_syntax_errors)
        return formatting.files(_flow_files(paths), check, diff, _show_syntax_errors)
    except formatting.Refused as error:
        raise _Usage(str(error)) from None


def _show_syntax_errors(path: str, source: str, diagnostics: Sequence[Any]) -> None:
    from .. import report
    from ..compiler import Checked

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
    from .. import scaffold

    try:
        project = scaffold.create(Path(directory), name)
    except scaffold.Refused as error:
        raise _Usage(str(error)) from None
    click.echo(f"created {', '.join(str(p) for p in project.files)}")
    click.echo("\nNext:\n" + "\n".join(f"  {line}" for line in scaffold.next_steps(project)))
    return ExitStatus.OK
