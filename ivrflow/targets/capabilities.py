"""What each target can express: natively, through the runtime server, or not
at all. Each target declares its own CAPABILITIES; `ivrflow targets` and the
README's table are written from them.

The second edition's constructs (compiler/features.py finds their uses) are
checked here for every target alike: a use of one the target declares "no"
is an IVR205 error at the use, before the target compiles anything, so
compile, plan and deploy stop with located errors and nothing is sent.
"""

from __future__ import annotations

from ..compiler import ir
from ..compiler.diagnostics import RULES, Diagnostic
from ..compiler.features import uses
from . import all_targets
from .base import Target

#: The constructs of the language's first edition, in the order a table shows them.
FIRST_EDITION = (
    ("menu", "menu"),
    ("prompt-file", "prompt … file"),
    ("prompt-say", "prompt … say"),
    ("fully", "play … fully"),
    ("keys", "press KEY (several digits, * and #)"),
    ("dial-extensions", "dial-extensions"),
    ("timeout", "timeout, inter-digit, digits"),
    ("retries", "retries, repeat, on exhausted"),
    ("invalid", "on invalid"),
    ("handler-prompts", "play in a handler"),
    ("goto", "goto"),
    ("transfer", "transfer"),
    ("hangup", "hangup"),
    ("voicemail", "voicemail"),
    ("ask", "ask"),
    ("route-hours", "route: when open HOURS"),
    ("route-caller", "route: when caller MASK"),
    ("answer-delay", "answer-delay"),
    ("max-duration", "max-duration"),
)
#: The second edition's (DESIGN §2b), keyed as compiler/features.py reports
#: their uses: `unsupported` checks these for every target alike.
SECOND_EDITION = (
    ("languages", "languages"),
    ("prompt-variants", "prompt variants per language"),
    ("play-first-again", "play … first / again"),
    ("variables", "variables ({name}, set)"),
    ("set-language", "set language"),
    ("collect", "collect"),
    ("lookup", "lookup"),
    ("conditions", "conditions (called, ==, <, is set, not…)"),
    ("key-ranges", "key ranges (press 100-199)"),
    ("key-patterns", "key patterns (press \"7XXX\")"),
    ("end-key", "end-key"),
    ("split-retries", "separate retry counters"),
    ("replay", "replay"),
    ("transfer-else", "transfer … ring … else"),
)
#: Every construct, as `ivrflow targets` shows them: a target declares each.
CONSTRUCTS = FIRST_EDITION + SECOND_EDITION
LEVELS = {"native": "native", "runtime": "runtime server", "synthesized": "synthesized", "no": "—"}


def capabilities() -> dict[str, Target]:
    return {target.name: target for target in all_targets()}


def rows() -> list[list[str]]:
    """One row per construct: its name, then each target's level (and note)."""
    targets = capabilities()
    table = []
    for key, label in CONSTRUCTS:
        row = [label]
        for target in targets.values():
            level, note = target.capabilities[key]
            row.append(LEVELS[level] + (f" ({note})" if note else ""))
        table.append(row)
    return table


def markdown() -> str:
    names = list(capabilities())
    lines = ["| construct | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines += ["| " + " | ".join(row) + " |" for row in rows()]
    return "\n".join(lines) + "\n"


def unsupported(target: Target, flow: ir.Flow) -> list[Diagnostic]:
    """IVR205 at each use of a second-edition construct that `target`
    declares "no": what compile, plan, deploy and `check --target` report
    before the target's own compiler runs, in source order."""
    labels = dict(CONSTRUCTS)
    found = []
    for use in uses(flow):
        level, note = target.capabilities.get(use.construct, ("no", ""))
        if level == "no":
            why = f"{target.name} does not carry {labels[use.construct]}"
            found.append(RULES["IVR205"].at(
                use.span, f"{use.description} cannot be deployed to {target.name}" +
                          (f" yet: {why}" if note in ("", "not yet") else f": {why} ({note})"),
                hint="`ivrflow targets` lists what each target carries; `ivrflow simulate` and `ivrflow test` "
                     "run the flow today"))
    return found
