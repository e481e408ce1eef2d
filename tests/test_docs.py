"""docs/checks.md is written from the code: the rule table, each check's
docstring and a real diagnostic from examples/broken. This test keeps it in
step (rewrite it with `pytest --update-golden`)."""

from __future__ import annotations

import os

import pytest

from ivrflow import report
from ivrflow.compiler import Checked
from ivrflow.compiler.checks import CHECKS
from ivrflow.compiler.diagnostics import RULES
from ivrflow.loader import load

from .conftest import EXAMPLES, ROOT

WITHOUT_A_CHECK = {
    "IVR001": "The file does not follow the grammar. The message says in words what was expected "
              "and after what, such as \"expected `->` after the key `1`\", and a block left open names "
              "the line where it began. Every syntax error of a file is reported in one run (the parse resumes "
              "at the next line, up to 20 errors); nothing else is checked until the syntax is right.",
    "IVR007": "An `include` whose file cannot be read: it is not there, it is outside the folder of the flow "
              "being checked (also once symbolic links are followed), or it is not a regular UTF-8 file of at most "
              "16 MiB. The path is relative to the file that has the `include`. Reported where the `include` is "
              "written, before any other check; what the file would have defined is missing from the flow.",
    "IVR008": "A file that includes itself, directly or through others (`a.ivr` includes `b.ivr`, which includes "
              "`a.ivr`); the message shows the chain. Shared definitions belong in a third file that both include "
              "(a file reached along two paths without a cycle is simply read once).",
    "IVR006": "A `# ivrflow: ignore[CODE]` comment that silences nothing on its line, names a code that "
              "does not exist, or tries to silence an error (errors cannot be silenced). A suppression "
              "at the end of a line covers that line; on a line of its own, the next line.",
}


def _checks_md() -> str:
    docs = {code: (check.__name__, " ".join((check.__doc__ or "").split()))
            for check in CHECKS for code in getattr(check, "codes", ())}
    examples: dict[str, tuple[str, Checked]] = {}
    for path in sorted((EXAMPLES / "broken").glob("*.ivr")):
        result = load(os.path.relpath(path, ROOT))
        for diagnostic in result.diagnostics:
            examples.setdefault(diagnostic.code, (result.file, result))
    out = ["# Checks", "",
           "Every diagnostic ivrflow reports, by code. Codes never change meaning. Bands: IVR0xx syntax,",
           "names and values; IVR1xx the call flow; IVR2xx what a target cannot express; IVR3xx deploys.",
           "Errors make `ivrflow check` exit 1; warnings and infos do not. A warning can be silenced on",
           "its line with `# ivrflow: ignore[CODE]`.", "",
           "_Written from the code by tests/test_docs.py; do not edit by hand._", "",
           "| code | severity | what |", "|---|---|---|"]
    for code, rule in RULES.items():
        out.append(f"| [{code}](#{code.lower()}) | {rule.severity} | {rule.title} |")
    for code, rule in RULES.items():
        out += ["", f"## {code}", "", f"**{rule.title}** ({rule.severity})", ""]
        if code in docs:
            name, text = docs[code]
            out += [text, "", f"Reported by `{name}`."]
        elif code in WITHOUT_A_CHECK:
            out.append(WITHOUT_A_CHECK[code])
        if code in examples:
            file, result = examples[code]
            shown = [d for d in result.diagnostics if d.code == code][:1]
            single = Checked(result.file, result.source, result.flow, result.graph, tuple(shown))
            text = report.text([single]).rsplit("\n\n", 1)[0]
            out += ["", f"From `{file}`:", "", "```", text.rstrip(), "```"]
    return "\n".join(out) + "\n"


def test_checks_md_is_up_to_date(golden, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    text = _checks_md()
    for code in RULES:
        if code.startswith(("IVR0", "IVR1")):
            assert f"## {code}" in text
    golden("checks.md", text, path=ROOT / "docs" / "checks.md")
