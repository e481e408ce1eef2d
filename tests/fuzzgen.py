"""Grammar-aware fuzzing: random flows that follow ivrflow's grammar
(ivrflow/grammar/ivr.lark), run through the command line in-process.

Every flow parses (or has one deliberate mistake), so the compiler gets past
the syntax and meets what the grammar allows and the checks must catch: long
chains and cycles of menus, routes, collects and lookups, menus thousands deep
in `goto`s, action lists of thousands of `play`s, strings of hundreds of
kilobytes, and in every string the characters that mean something to a shell,
to DOT, HTML, Mermaid, YAML or JSON (quotes, backslashes, `$( )`, backticks,
escaped newlines, control characters, unicode) and `{name}` templates good and
broken. The second edition is in most flows: `include`s of generated library
files (which include others, sometimes in a cycle) and of paths that are
missing, outside the folder or not files; prompt variants; `languages`;
conditions nested a few levels, and now and then at or far past the nesting
limit (50,000 `not`s, thousands of `and`s); key ranges and patterns, valid or
not; `set`, `set language`, `replay`, `transfer … ring … else …` chains; the
new test steps. Some flows get one syntax error after a huge string.

Each flow is written to a file beside the files it includes and prompt
recordings with hostile names, and run through `check` (alone and with
`--target telphin|portsip`), `render` (DOT and Mermaid), `test`, `simulate`,
`fmt --check` and `compile --target telphin|portsip`, offline and without text
to speech; and in-process through the core with an include reader that serves
the generated files or refuses them, random calls on the machine (each state
through its JSON, as the runtime server keeps it) and fmt's promises. A
finding is:

- an internal error: any exception out of the command (IVRFLOW_DEBUG=1 lets it
  through), where the user would see `internal error` instead of a coded
  diagnostic or a one-line usage error;
- a slow run: a command that takes longer than 2 s per 100 kB of input
  (inputs under 100 kB count as 100 kB; fmt has a budget of its own, below);
- a diagram Graphviz rejects (small flows only: laying out thousands of
  nodes takes Graphviz minutes);
- a broken promise: fmt not idempotent or changing the flow, a MachineError
  on a flow that checks clean, a call that does not survive its JSON, a
  diagnostic with a code or position that does not exist.

    python -m tests.fuzzgen --count 500 --seed 1   # `make fuzz` runs this
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RECORDING = ROOT / "examples" / "prompts" / "hello.wav"

#: The budget of issue 10: no input slower than this many seconds per 100 kB.
SECONDS_PER_100_KB = 2.0
#: fmt's own budget: it parses three times by design (its tokens with the
#: comments, the flow's meaning, and the meaning of the result), so it is held
#: to linear time, not to check's speed: 6.6 s per 100 kB measured on the
#: densest input (`receive a?,a?,…`: a token per byte), about 3.7 times `check`.
FMT_SECONDS_PER_100_KB = 8.0
#: Diagrams with more nodes than this are not given to Graphviz (layout time).
DOT_CHECK_NODES = 150

#: Pieces of hostile text; strings are built from these and plain words.
HOSTILE = [
    '"', "\\", "'", "\\\\", '\\"', "$(touch /tmp/ivrflow-fuzz-pwned)", "`id`", "${HOME}", "%s%n", "{0}",
    "\n", "\t", "\r", "\x00", "\x01", "\x1b[31m", "\x7f", "\u2028", "\ufeff", "\u202e", "é", "€", "日本", "🙂",
    "\\ud800", "\\u0000", "\\x00", "<b>", "</b>", "<br/>", "&amp;", "&", "<", ">", "{", "}", "[", "]", "|", ";",
    ":", "#", "#quot;", "//", "--", "-f", "-w/x", "\\l", "\\N", "\\n", "*", "?", "~", "=", ",", "->", " ",
    "label=<x>", 'URL="https://evil.example"', "sip:", "+", "..", "NUL", "null", "true", "0", "-1", "1e999",
]
WORDS = ["main", "sales", "Tony's Pizza", "Main menu", "support", "billing", "x", "menu", "flow", "press 1"]
#: Names a recording gets in the prompts folder; `file` prompts point at these.
RECORDING_NAMES = [
    "hello.wav", "it's \"quoted\".wav", "$(touch pwned).wav", "`id`.wav", "back\\slash.wav", "new\nline.wav",
    "ünï €.wav", "semi;colon&amp.wav", "-dash.wav", "space name.wav", "tab\tname.wav", "{braces}[x].wav",
]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "mon-fri", "sat-sun"]
LANGS = ["en", "en-US", "ru", "ru-RU", "de", "xx", "zz-ZZ"]
ZONES = ["Europe/Moscow", "UTC", "America/New_York", "Mars/Olympus"]


@dataclass
class Finding:
    kind: str       # "internal error", "slow", "dot rejected", or what a probe found ("fmt", …)
    command: str
    detail: str
    source: str
    files: dict[str, str] = field(default_factory=dict)  # the files it includes


@dataclass
class Summary:
    flows: int = 0
    commands: int = 0
    bytes: int = 0
    worst_rate: float = 0.0  # seconds per 100 kB (inputs under 100 kB count as 100 kB)
    worst: str = ""
    worst_fmt_rate: float = 0.0  # the same for fmt, which has a budget of its own
    worst_fmt: str = ""
    findings: dict[tuple[str, str, str], list[Finding]] = field(default_factory=dict)

    def add(self, finding: Finding) -> None:
        self.findings.setdefault((finding.kind, finding.command, finding.detail), []).append(finding)

    def count(self, kind: str) -> int:
        return sum(len(found) for (k, _, _), found in self.findings.items() if k == kind)

    def text(self) -> str:
        known = ("internal error", "slow", "dot rejected")
        others = sum(len(found) for (k, _, _), found in self.findings.items() if k not in known)
        lines = [f"fuzz: {self.flows} generated flows, {self.commands} commands, {self.bytes / 1e6:.1f} MB of source",
                 f"internal errors: {self.count('internal error')}",
                 f"slower than {SECONDS_PER_100_KB:g} s per 100 kB (fmt: {FMT_SECONDS_PER_100_KB:g} s): "
                 f"{self.count('slow')}",
                 f"diagrams Graphviz rejected: {self.count('dot rejected')}",
                 f"broken promises (fmt, machine, call state, diagnostics): {others}",
                 f"slowest: {self.worst_rate:.3f} s per 100 kB ({self.worst})",
                 f"slowest fmt: {self.worst_fmt_rate:.3f} s per 100 kB ({self.worst_fmt}; "
                 f"its budget: {FMT_SECONDS_PER_100_KB:g} s)"]
        for (kind, command, detail), found in sorted(self.findings.items()):
            lines.append(f"  {kind} ×{len(found)} in `{command}`: {detail}")
        return "\n".join(lines)


# --- the generator ------------------------------------------------------------------------------


#: `{name}` templates, good and broken, mixed into say texts, `set` values and destinations.
TEMPLATES = ["{x}", "{account:digits}", "{key}", "{caller}", "{called}", "{language}", "{balance}", "{", "}",
             "{x", "{:digits}", "{x:foo}", "{{x}}", "{1x}", "{x:digits", "{ x }", "{é}", "{x}{y}{z}"]
#: Variable names: those the flows set, built-ins, and some nobody sets (`caller` and `called`
#: are built-ins too, but as names they are keywords: `caller "MASK"`; templates use them).
VARIABLES = ["x", "account", "balance", "status", "key", "language", "vip", "nobody", "c0"]
#: `press A-B` (good, reversed, unequal lengths, huge) and `press "PATTERN"`.
RANGES = ["1000-1019", "10-19", "5-5", "19-10", "100-19", "0-9", "2-3", "99999999999999999999-99999999999999999999",
          "0000-9999", "1-100000000000000000000000"]
PATTERNS = ["7XXX", "NZX", "X", "XX", "X" * 30, "1*X#", "ABC", "", "N-Z", "ZZZZ", "#", "*X", "7XX"]
NUMBERS = ["0", "-1.5", "42", "-0", "99999999999999999999", "1.000000000000000000001", "-99999999999999999999.5"]
TRANSFER_RESULTS = ["no-answer", "busy", "failed"]
#: Paths an `include` names: files the generator writes, and ones that are missing or not allowed.
BAD_INCLUDES = ["missing.ivr", "../outside.ivr", "/etc/passwd", "prompts", "prompts/hello.wav", "", ".",
                "a\x00b.ivr", "flow.ivr", "lib0.ivr/../lib0.ivr", "x" * 5000 + ".ivr", "é €.ivr", "\\\\evil\\share"]


class Flow:
    """One random flow, built statement by statement in the grammar's terms."""

    def __init__(self, rng: random.Random, *, huge: bool = False, library: bool = False, tame: bool = False) -> None:
        self.rng = rng
        self.tame = tame  # valid values only, so that most flows check clean and the machine runs them
        self.huge = rng.randint(1, 3) if huge else 0  # how many strings of hundreds of kilobytes are left
        self.long = rng.randint(0, 2)  # how many lists of thousands of `play`s are left
        self.library = library  # an included file: no flow block, no tests
        self.lines: list[str] = []
        self.languages = rng.sample(LANGS, rng.randint(1, 3))
        self.lookups: list[str] = []
        self.includes: dict[str, str] = {}  # file name -> text, for the files this flow includes

    def text(self, *, context: str = "") -> str:
        """A hostile string value (not yet quoted)."""
        rng = self.rng
        if self.tame:
            return rng.choice(WORDS)
        if self.huge and rng.random() < 0.1:
            self.huge -= 1
            piece = rng.choice(HOSTILE + WORDS + TEMPLATES)
            return (piece * (rng.randint(50_000, 300_000) // max(1, len(piece))))[:300_000]
        parts = [rng.choice(WORDS) if rng.random() < 0.4 else rng.choice(HOSTILE + TEMPLATES)
                 for _ in range(rng.randint(0, 6))]
        if context and rng.random() < 0.5:
            parts.insert(0, context)
        return "".join(parts)

    @staticmethod
    def quoted(value: str) -> str:
        """`value` as a STRING token: `\\` and `"` escaped, newline and tab as `\\n`, `\\t`."""
        body = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
        return f'"{body}"'

    def string(self, *, context: str = "", valid: Callable[[], str] | None = None) -> str:
        """A STRING: mostly a valid value for its place when one is given, else hostile."""
        if valid is not None and (self.tame or self.rng.random() < 0.6):
            return self.quoted(valid())
        return self.quoted(self.text(context=context))

    def key(self, *, ranges: bool = True) -> str:
        rng = self.rng
        roll = rng.random()
        if self.tame:
            if roll < 0.1 and ranges:
                return rng.choice(RANGES[:2])
            if roll < 0.2 and ranges:
                return self.quoted(rng.choice(PATTERNS[:2]))
            return rng.choice("0123456789*")
        if roll < 0.6 or (not ranges and 0.7 <= roll < 0.8):
            return rng.choice("0123456789*") * (1 if rng.random() < 0.9 else rng.randint(2, 4))
        if roll < 0.7:
            return '"#"'
        if roll < 0.8:
            return rng.choice(RANGES)
        if roll < 0.9:
            return self.string(valid=lambda: rng.choice(PATTERNS))
        return self.string()

    def entry(self) -> str:
        """What a test presses: a key, or a whole entry with an end key."""
        rng = self.rng
        if rng.random() < 0.6:
            return self.key(ranges=False)  # a test presses keys, not ranges
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 25)))
        return self.string(valid=lambda: digits + rng.choice(["", "#", "*", "#99"]))

    def duration(self) -> str:
        return self.rng.choice(["5s", "500ms", "2m"] + ([] if self.tame else ["1h", "0s", "99999999999h", "5sec", "3"]))

    def destination(self) -> str:
        rng = self.rng
        return rng.choice(["100", "050", "+79876543210", "sip:desk@pbx.example", str(rng.randint(0, 10**12)),
                           "{key}", "1{x}", "sip:{x}@pbx.example"] + ([] if self.tame else ["{account:digits}", "{"]))

    def variable(self) -> str:
        return self.rng.choice(VARIABLES + self.lookups)

    def language(self) -> str:
        return self.rng.choice(self.languages if self.rng.random() < 0.8 else LANGS)

    def terminal(self, targets: list[str], owner: str | None, *, fallbacks: int = 2, exhausted: bool = False) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.3 and targets:
            return f"goto {rng.choice(targets)}"
        if roll < 0.45:
            return self.transfer(targets, owner, fallbacks, exhausted)
        if roll < 0.55:
            return "hangup"
        if roll < 0.65 and owner is not None and not exhausted:
            return rng.choice(["repeat", "replay"])
        if roll < 0.75:
            return "voicemail" + ("" if rng.random() < 0.3 else f" {self.string(valid=lambda: 'sales')}")
        if roll < 0.85:
            return f"ask {self.string(valid=lambda: 'https://crm.example.com/route', context='https://x.example/')}"
        return rng.choice(["hangup"] if owner is None or exhausted else ["hangup", "replay", "repeat"])

    def transfer(self, targets: list[str], owner: str | None, fallbacks: int, exhausted: bool = False) -> str:
        """`transfer "D" [ring D] [else TERMINAL]`, the fallback sometimes a transfer with its own."""
        rng = self.rng
        text = f"transfer {self.string(valid=self.destination)}"
        if rng.random() < 0.3:
            text += f" ring {self.duration()}"
        if fallbacks and rng.random() < 0.35:
            text += f" else {self.terminal(targets, owner, fallbacks=fallbacks - 1, exhausted=exhausted)}"
        elif not self.tame and rng.random() < 0.01:  # past the nesting limit (IVR001)
            text += "".join(f' else transfer "{i}"' for i in range(rng.randint(45, 3000)))
        return text

    def actions(self, prompts: list[str], targets: list[str], owner: str | None, *, terminal: str = "",
                exhausted: bool = False) -> str:
        rng = self.rng
        count = rng.choice([0, 0, 0, 1, 2])
        if self.long and rng.random() < 0.05:
            self.long -= 1
            count = rng.randint(100, 3000)
        steps = []
        for _ in range(count):
            roll = rng.random()
            if roll < 0.7 and prompts:
                steps.append(f"play {rng.choice(prompts)}")
            elif roll < 0.9:
                name = self.variable().replace("language", "lang")  # `set language L` is the other `set`
                steps.append(f"set {name} = {self.string(valid=lambda: rng.choice(TEMPLATES))}")
            else:
                steps.append(f"set language {self.language()}")
        return ", ".join([*steps, terminal or self.terminal(targets, owner, exhausted=exhausted)])

    def condition(self, hours: list[str], depth: int) -> str:
        """A route condition, nested up to `depth` levels."""
        rng = self.rng
        if depth <= 0 or rng.random() < 0.4:
            roll = rng.random()
            if roll < 0.15:
                if not hours and self.tame:
                    return "vip is set"
                return f"open {rng.choice(hours) if hours and (self.tame or rng.random() < 0.9) else 'nowhen'}"
            if roll < 0.3:
                word = rng.choice(["caller", "called"])
                return f"{word} {self.string(valid=lambda: rng.choice(['7495*******', '79*', 'ALL', '100-199']))}"
            if roll < 0.5:
                return f"{self.variable()} {rng.choice(['==', '!='])} {self.string(valid=lambda: 'ok')}"
            if roll < 0.7:
                value = rng.choice(NUMBERS) if rng.random() < 0.9 else self.string()
                return f"{self.variable()} {rng.choice(['<', '<=', '>', '>=', '=='])} {value}"
            if roll < 0.85:
                return f"{self.variable()} matches {self.string(valid=lambda: rng.choice(['12*', '7XXX', '1-9']))}"
            return f"{self.variable()} is set"
        roll = rng.random()
        if roll < 0.25:
            return f"not {self.condition(hours, depth - 1)}"
        if roll < 0.4:
            return f"({self.condition(hours, depth - 1)})"
        parts = [self.condition(hours, depth - 1) for _ in range(rng.randint(2, 4))]
        return f" {rng.choice(['and', 'or'])} ".join(parts)

    def deep_condition(self, hours: list[str]) -> str:
        """A condition at the nesting limit or past it, deep or very wide."""
        rng = self.rng
        levels = rng.choice([49, 50, 51, 1000, 50_000])
        kind = rng.choice(["not", "parens", "mixed", "wide"])
        if kind == "not":
            return "not " * levels + "vip is set"
        if kind == "parens":  # parentheses alone do not nest the IR
            return "(" * levels + "vip is set" + ")" * levels
        if kind == "mixed":
            return "(vip is set and " * levels + "x is set" + ")" * levels
        return " and ".join(f'x{i} == "{i}"' for i in range(levels))

    def waits(self, kind: str, name: str, label: str, prompts: list[str], nodes: list[str],
              chained: str, shape: str) -> None:
        """A menu or a collect (one statement set; the checks say what a collect cannot have)."""
        rng = self.rng
        out = self.lines
        out.append(f"{kind} {name}{label} {{")
        for prompt in rng.sample(prompts, rng.randint(0, len(prompts))):
            out.append(f"    play {prompt}{' fully' if rng.random() < 0.2 else ''}"
                       f"{rng.choice(['', '', '', ' first', ' again'])}")
        if self.long and rng.random() < 0.05:
            self.long -= 1
            out += [f"    play {rng.choice(prompts)}"] * rng.randint(100, 2000)
        good = 2 if self.tame else None  # the first values are valid ones
        digits = rng.choice(["4", "6-10", "1", "20", "21", "0", "10-6", "1-20", "0-3", "4-4"][:good])
        retries = rng.choice([f"retries {rng.randint(0, 12)}", f"retries timeout {rng.randint(0, 3)} invalid 2",
                              "retries timeout 1", "retries invalid 1 invalid 2",
                              "retries timeout 99 invalid 1"][:good])
        end_key = rng.choice(['end-key "#"', "end-key *", "end-key 1", 'end-key "##"', 'end-key ""',
                              "end-key 12"][:good])
        for setting in (f"digits {digits}", f"inter-digit {self.duration()}", f"timeout {self.duration()}",
                        retries, end_key, "dial-extensions"):
            if rng.random() < (0.15 if kind == "menu" else 0.4):
                out.append(f"    {setting}")
        keys = {"0"}  # `press 0` is written below
        for _ in range(rng.randint(0, 5) if kind == "menu" else int(not self.tame and rng.random() < 0.1)):
            key = self.key()
            if self.tame and key in keys:
                continue
            keys.add(key)
            out.append(f"    press {key} -> {self.actions(prompts, nodes, name)}")
        if kind == "menu":
            out.append(f"    press 0 -> {chained}" if chained else "    press 0 -> hangup")
        events = ("timeout", "invalid", "exhausted") + (("done", "error") if kind == "collect" else ())
        for event in events:
            if rng.random() < (0.7 if event != "error" else 0.05):
                terminal = chained if shape == "cycle" or (event == "done" and chained) else ""
                out.append(f"    on {event} -> "
                           f"{self.actions(prompts, nodes, name, terminal=terminal, exhausted=event == 'exhausted')}")
        out.append("}")

    def lookup(self, name: str, prompts: list[str], nodes: list[str], chained: str) -> None:
        rng = self.rng
        out = self.lines
        url = self.string(valid=lambda: "https://bank.example.com/balance", context="https://x.example/")
        out.append(f"lookup {name} {url} {{")
        if rng.random() < 0.7:
            out.append("    send " + ", ".join(self.variable() for _ in range(rng.randint(1, 4))))
        if rng.random() < 0.8:
            out.append("    receive " + ", ".join(self.variable() + ("?" if rng.random() < 0.3 else "")
                                                  for _ in range(rng.randint(1, 4))))
        if rng.random() < 0.4:
            out.append(f"    timeout {self.duration()}")
        for event in ("done", "error", "timeout"):
            if rng.random() < (0.85 if event != "timeout" else 0.05):
                terminal = chained if event == "done" and chained else ""
                out.append(f"    on {event} -> {self.actions(prompts, nodes, name, terminal=terminal)}")
        out.append("}")

    def prompt(self, name: str) -> None:
        rng = self.rng
        out = self.lines
        roll = rng.random()
        if roll < 0.35:
            recording = rng.choice(RECORDING_NAMES)
            out.append(f"prompt {name} file {self.quoted('prompts/' + recording)}")
        elif roll < 0.7:
            language = f" language {rng.choice(LANGS)}" if rng.random() < 0.3 else ""
            out.append(f"prompt {name} say {self.string(valid=lambda: 'Hello {x}, press 1.')}{language}")
        else:  # a variant per language (sometimes one missing, twice, or none)
            out.append(f"prompt {name} {{")
            for language in self.languages + ([rng.choice(LANGS)] if rng.random() < 0.2 else []):
                if rng.random() < 0.9:
                    if rng.random() < 0.3:
                        value = self.quoted("prompts/" + rng.choice(RECORDING_NAMES))
                        out.append(f"    {language} file {value}")
                    else:
                        out.append(f"    {language} say {self.string(valid=lambda: 'You said {key:digits}.')}")
            out.append("}")

    def include(self, depth: int) -> None:
        """`include "…"`: a library this flow writes (itself including others), or a bad path."""
        rng = self.rng
        if not self.tame and rng.random() < 0.3:
            self.lines.append(f"include {self.quoted(rng.choice(BAD_INCLUDES))}")
            return
        name = f"lib{rng.randint(0, 3)}.ivr"
        self.lines.append(f"include {self.quoted(name)}")
        if name not in self.includes and depth > 0:
            library = Flow(self.rng, library=True, tame=self.tame)
            library.includes = self.includes  # one set of files: an include back to one of them is a cycle
            self.includes[name] = ""  # being written
            self.includes[name], _ = library.build(menus=rng.randint(0, 2), routes=rng.randint(0, 2),
                                                   shape="random", include_depth=depth - 1)

    def build(self, *, menus: int, routes: int, shape: str, include_depth: int = 2) -> tuple[str, dict[str, str]]:
        """The flow's text, and the files it includes (name -> text)."""
        rng = self.rng
        second = rng.random() < 0.7  # the second edition's statements too
        menu_names = [f"m{i}" for i in range(menus)]
        route_names = [f"r{i}" for i in range(routes)]
        collect_names = [f"c{i}" for i in range(rng.randint(0, 2) if second else 0)]
        lookup_names = [f"l{i}" for i in range(rng.randint(0, 2) if second else 0)]
        tag = f"lib{rng.randint(0, 99)}_"
        if self.library:
            menu_names = [tag + n for n in menu_names]
            route_names = [tag + n for n in route_names]
        self.lookups = lookup_names
        nodes = route_names + menu_names + collect_names + lookup_names
        prompts = [f"p{i}" for i in range(rng.randint(1, 6))]
        hours = ["office"] if rng.random() < 0.5 else []
        if self.library:  # names of their own, so that joining the flow does not clash too often
            prompts = [tag + n for n in prompts]
            hours = [tag + n for n in hours]
        out = self.lines
        if not self.library and rng.random() < 0.8:
            out.append(f"flow fuzz{'' if rng.random() < 0.3 else ' ' + self.string()} {{")
            out.append(f"    language {self.languages[0]}")
            if second and rng.random() < 0.6:
                listed = self.languages + ([self.languages[0]] if rng.random() < 0.1 else [])
                out.append(f"    languages {', '.join(listed)}")
            if nodes and rng.random() < 0.7:
                out.append(f"    start {nodes[0]}")
            if rng.random() < 0.3:  # not hours: PortSIP compile writes the delay as silence (see LIMITS)
                delay = rng.choice(["0s", "500ms", "2s"] + ([] if self.tame else ["99999999999h"]))
                out.append(f"    answer-delay {delay}")
            if rng.random() < 0.3:
                out.append(f"    max-duration {self.duration()} -> {self.actions(prompts, nodes, None)}")
            if rng.random() < 0.2:
                out.append(f"    timezone {self.string(valid=lambda: rng.choice(ZONES[:3 if self.tame else None]))}")
            out.append("}")
        if second and include_depth and rng.random() < 0.3:
            for _ in range(rng.randint(1, 3)):
                self.include(include_depth)
        for name in prompts:
            self.prompt(name)
        for name in hours:
            out.append(f"hours {name} {{")
            out.append(f"    timezone {self.string(valid=lambda: rng.choice(ZONES[:3 if self.tame else None]))}")
            out.append(f"    {rng.choice(DAYS)} 09:00-18:00" + (", 19:00-20:00" if rng.random() < 0.3 else ""))
            if rng.random() < 0.3:
                out.append(f"    closed 2026-12-{rng.randint(1, 31 if self.tame else 40)}")
            out.append("}")
        for index, name in enumerate(route_names):
            label = f" {self.string()}" if rng.random() < 0.3 else ""
            out.append(f"route {name}{label} {{")
            for _ in range(rng.randint(0, 3)):
                if not second:
                    condition = f"open {rng.choice(hours)}" if hours and rng.random() < 0.4 else \
                        f"caller {self.string(valid=lambda: rng.choice(['7495*******', '79*', 'ALL', '100-199']))}"
                elif not self.tame and rng.random() < 0.02:
                    condition = self.deep_condition(hours)
                else:
                    condition = self.condition(hours, rng.choice([0, 1, 2, 3, 5]))
                out.append(f"    when {condition} -> {self.actions(prompts, nodes, None)}")
            onward = self._next(shape, nodes, index)
            out.append(f"    otherwise -> {self.actions(prompts, nodes, None, terminal=onward)}")
            out.append("}")
        for index, name in enumerate(menu_names, start=len(route_names)):
            label = f" {self.string()}" if rng.random() < 0.4 else ""
            self.waits("menu", name, label, prompts, nodes, self._next(shape, nodes, index), shape)
        for index, name in enumerate(collect_names, start=len(route_names) + len(menu_names)):
            label = f" {self.string()}" if rng.random() < 0.2 else ""
            self.waits("collect", name, label, prompts, nodes, self._next(shape, nodes, index), shape)
        for index, name in enumerate(lookup_names, start=len(nodes) - len(lookup_names)):
            self.lookup(name, prompts, nodes, self._next(shape, nodes, index))
        for _ in range(rng.randint(0, 3)):
            self.test(nodes, second)
        return "\n".join(out) + "\n", self.includes

    def test(self, nodes: list[str], second: bool) -> None:
        rng = self.rng
        out = self.lines
        out.append(f"test {self.string(valid=lambda: f'test {len(out)}')} {{")
        if rng.random() < 0.5:
            out.append(f"    at {self.string(valid=lambda: '2026-11-23 10:00')}")
        if rng.random() < 0.3:
            out.append(f"    caller {self.string(valid=lambda: '+74951234567')}")
        if second and rng.random() < 0.3:
            out.append(f"    called {self.string(valid=lambda: '18005550199')}")
        for _ in range(rng.randint(0, 6)):
            roll = rng.random()
            if roll < 0.5 or not second:
                out.append(f"    press {self.entry()}" if rng.random() < 0.8 else "    silence")
            elif roll < 0.65:
                lookup = rng.choice(self.lookups or ["nolookup"])
                if rng.random() < 0.25:
                    out.append(f"    answer {lookup} error")
                else:
                    pairs = " ".join(f"{self.variable()}={self.string(valid=lambda: rng.choice(NUMBERS))}"
                                     for _ in range(rng.randint(1, 4)))
                    out.append(f"    answer {lookup} {pairs}")
            elif roll < 0.75:
                out.append(f"    transfer-fails {rng.choice(TRANSFER_RESULTS)}")
            elif roll < 0.83:
                out.append(f"    expect language {self.language()}")
            elif roll < 0.91:
                out.append(f"    expect say {self.string(valid=lambda: 'Hello , press 1.')}")
            else:
                name = self.variable().replace("language", "lang")  # `expect set language L`: an action
                out.append(f"    expect set {name} {rng.choice(['==', '==', '!=', '<'])} "
                           f"{self.string(valid=lambda: rng.choice(NUMBERS))}")
        if rng.random() < 0.2:
            out.append(f"    answer {self.terminal(nodes, None)}")
        out.append(f"    expect {self.terminal(nodes, None)}")
        out.append("}")

    def _next(self, shape: str, nodes: list[str], index: int) -> str:
        """Where a chain or cycle goes on from node `index`: the next node (the
        last of a cycle back to the first); otherwise a random action."""
        if shape == "chain":
            return f"goto {nodes[index + 1]}" if index + 1 < len(nodes) else "hangup"
        if shape == "cycle":
            return f"goto {nodes[(index + 1) % len(nodes)]}"
        return ""


#: A generated flow: its shape, its text and the files it includes (name -> text).
Generated = tuple[str, str, dict[str, str]]


def generate(rng: random.Random, *, large: bool = True) -> Generated:
    """(shape, source, included files) of one random flow; `large` allows the big shapes."""
    shapes = ["small"] * 5 + ["tame"] * 3 + (["chain", "cycle", "huge", "syntax error"] if large else ["syntax error"])
    shape = rng.choice(shapes)
    if shape in ("small", "tame"):
        source, files = Flow(rng, tame=shape == "tame").build(menus=rng.randint(0, 6), routes=rng.randint(0, 3),
                                                             shape="random")
        return shape, source, files
    if shape in ("chain", "cycle"):
        size = rng.choice([10, 100, 1000, 3000])
        menus = rng.randint(0, size)
        source, files = Flow(rng).build(menus=menus, routes=size - menus, shape=shape)
        return shape, source, files
    if shape == "huge":
        source, files = Flow(rng, huge=True).build(menus=rng.randint(1, 4), routes=rng.randint(0, 2), shape="random")
        return shape, source, files
    source, files = Flow(rng).build(menus=rng.randint(1, 3), routes=rng.randint(0, 2), shape="random")
    big = Flow.quoted("a" * (rng.randint(1, 300) * (1000 if large else 10)))
    return shape, source.replace("\n", f"\nprompt big say {big} {rng.choice(['x', '->', '{', 'language'])}\n", 1), files


# --- running a flow through the command line ------------------------------------------------------


def _prepare(workdir: Path) -> None:
    prompts = workdir / "prompts"
    prompts.mkdir(parents=True, exist_ok=True)
    for name in RECORDING_NAMES:
        shutil.copyfile(RECORDING, prompts / name)


def _where(error: BaseException) -> str:
    """The innermost ivrflow frame of a traceback: `ivrflow/x.py:12 in f`."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "/ivrflow/" in f.filename.replace("\\", "/")]
    frame = frames[-1] if frames else traceback.extract_tb(error.__traceback__)[-1]
    path = frame.filename.replace("\\", "/")
    path = path[path.rindex("/ivrflow/") + 1:] if "/ivrflow/" in path else path
    return f"{path}:{frame.lineno} in {frame.name}"


def _run(argv: list[str]) -> tuple[int | None, str, BaseException | None]:
    from ivrflow.cli import main

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(argv)
    except Exception as error:  # IVRFLOW_DEBUG=1: what the user would see as `internal error`
        return None, err.getvalue(), error
    return status, err.getvalue(), None


def commands(flow: str, workdir: Path, rng: random.Random) -> Iterator[tuple[str, list[str]]]:
    yield "check", ["check", flow]
    yield "check --target telphin", ["check", flow, "--target", "telphin"]
    yield "check --target portsip", ["check", flow, "--target", "portsip"]
    yield "render -o flow.dot", ["render", flow, "-o", str(workdir / "flow.dot")]
    yield "render -o flow.mmd", ["render", flow, "-o", str(workdir / "flow.mmd")]
    yield "test", ["test", flow]
    entries = [rng.choice(["1", "0", "9", "silence", "12345678#", "1005", "7123", "*", "#", "no-answer", "busy",
                           "1" * 30]) for _ in range(rng.randint(0, 8))]
    yield "simulate", ["simulate", flow, "--at", "2026-11-23 10:00", "--press", ",".join(entries) or "silence",
                       "--format", rng.choice(["text", "json"]), "--answer", rng.choice(['transfer "100"', "hangup"])]
    yield "fmt --check", ["fmt", "--check", flow]
    yield "compile --target telphin", ["compile", flow, "--target", "telphin", "-o", str(workdir / "telphin")]
    yield "compile --target portsip", ["compile", flow, "--target", "portsip", "-o", str(workdir / "portsip")]


class Wrong(Exception):
    """What an in-process probe found that is not an exception of ivrflow's: (kind, detail)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail = kind, detail


def probes(source: str, files: dict[str, str], rng: random.Random) -> Iterator[tuple[str, Callable[[], None]]]:
    """What runs in-process, beside the command line: the core with an include
    reader that serves the generated files (or raises), the machine on random
    calls, and the formatter's promises."""
    from ivrflow.compiler import check_source
    from ivrflow.compiler.checks import Env
    from ivrflow.compiler.diagnostics import RULES
    from ivrflow.compiler.includes import IncludeError

    def read(including: str, written: str) -> tuple[str, str]:
        if written in files and rng.random() < 0.95:
            return written, files[written]
        raise IncludeError(rng.choice(["no such file", "is not UTF-8 text", "cannot be read (\x00\n`$(x)`)"]))

    def core() -> None:
        result = check_source(source, "flow.ivr", Env(include=read))
        lines = {"flow.ivr": source.count("\n") + 2, **{name: text.count("\n") + 2 for name, text in files.items()}}
        for d in result.diagnostics:
            if d.code not in RULES or not 1 <= d.span.line <= lines.get(d.span.file, 0) or d.span.column < 1:
                raise Wrong("bad diagnostic", f"{d.code} at {d.span.file}:{d.span.line}:{d.span.column}")
        if result.flow is not None:
            for _ in range(3):
                call_through(result.flow, rng, clean=result.errors == 0)

    def fmt() -> None:
        from ivrflow.compiler.format import format_source, same_flow

        done = format_source(source, "flow.ivr")
        if done.text is None or done.skipped:
            return
        if format_source(done.text, "flow.ivr").text != done.text:
            raise Wrong("fmt", "formatting twice changes the file")
        if not same_flow(source, done.text):
            raise Wrong("fmt", "the formatted file is another flow")

    yield "check, includes from memory, machine", core
    yield "fmt (in-process)", fmt


def call_through(flow: Any, rng: random.Random, *, clean: bool) -> None:
    """One random call on the machine, each state through JSON as the runtime
    server stores it. A MachineError is the flow's fault, unless the flow
    checks clean (then the checks missed something)."""
    import datetime as dt
    import json

    from ivrflow.compiler import ir
    from ivrflow.compiler import machine as m
    from ivrflow.compiler.parse import parse_action

    line = m.Line(now=dt.datetime(2026, 11, rng.choice([23, 28, 29]), rng.choice([3, 10, 17, 20]), 30),
                  caller=rng.choice([None, "+74951234567", "79001234567", "", "\x00$(id)"]),
                  called=rng.choice([None, "18005550199", "100", "{x}"]))
    call = m.Call()
    for _ in range(40):
        if call.status == "new":
            event: m.Event = m.Start()
        elif call.status == "input":
            event = m.Silence() if rng.random() < 0.25 else m.Keys(rng.choice(
                ["1", "0", "9", "2", "12345678#", "1234#", "1005", "7123", "*", "#", "1" * 5000, "1234567890"]))
        elif call.status == "answer":
            declared = [a for ask in m.asks_at(flow, call.node, call.outcome.target if call.outcome else None)
                        for a in ask.answers]
            event = m.Answer(rng.choice(declared) if declared else parse_action(
                rng.choice(["hangup", 'transfer "100"', 'voicemail "1"'])))
        elif call.status == "lookup":
            lookup = flow.node(call.outcome.target if call.outcome else "")
            names = [r.name for r in lookup.receive] if isinstance(lookup, ir.Lookup) else []
            answer: dict[str, object] | None = {
                name: rng.choice(["42.10", "-12.50", "ok", "vip", "", "{x}", "\x00", "1" * 100_000, 5, None])
                for name in names if rng.random() < 0.9}
            if rng.random() < 0.1:
                answer = None
            elif rng.random() < 0.1:
                answer = {"extra": "x", **(answer or {})}
            event = m.LookupResult(answer)
        elif call.status == "ringing":
            event = m.TransferFailed(rng.choice(m.TRANSFER_REASONS))
        else:
            return
        try:
            call, _ = m.step(flow, call, event, line)
        except m.MachineError as error:
            if clean:
                raise Wrong("machine error on a flow that checks clean", str(error)[:120]) from None
            return
        again = m.Call.from_dict(json.loads(json.dumps(call.to_dict())))
        if again != call:
            raise Wrong("call state", "a call does not survive its JSON")


def _measure(run: Callable[[], tuple[int | None, str, BaseException | None]],
             budget: float, allowed: float) -> tuple[int | None, str, BaseException | None, float]:
    started = time.perf_counter()
    status, stderr, error = run()
    seconds = time.perf_counter() - started
    if seconds / budget > allowed:  # once more, in case the machine was busy
        started = time.perf_counter()
        run()
        seconds = min(seconds, time.perf_counter() - started)
    return status, stderr, error, seconds


def _probe(function: Callable[[], None]) -> tuple[int | None, str, BaseException | None]:
    try:
        function()
    except Exception as error:
        return None, "", error
    return 0, "", None


def run_one(source: str, workdir: Path, summary: Summary, *, check_dot: bool = True,
            files: dict[str, str] | None = None) -> None:
    """Run every command on one flow (beside the files it includes) and add what goes wrong to `summary`."""
    files = files or {}
    for old in workdir.glob("*.ivr"):
        old.unlink()
    flow = workdir / "flow.ivr"
    flow.write_text(source, encoding="utf-8")
    for name, text in files.items():
        (workdir / name).write_text(text, encoding="utf-8")
    for name in ("flow.dot", "flow.mmd"):
        (workdir / name).unlink(missing_ok=True)
    size = len(source.encode("utf-8")) + sum(len(text.encode("utf-8")) for text in files.values())
    budget = max(size, 100_000) / 100_000
    summary.flows += 1
    summary.bytes += size
    rng = random.Random(source)  # the same flow gets the same calls
    steps: list[tuple[str, Callable[[], tuple[int | None, str, BaseException | None]]]] = [
        (command, functools.partial(_run, argv)) for command, argv in commands(str(flow), workdir, rng)]
    steps += [(name, functools.partial(_probe, function)) for name, function in probes(source, files, rng)]
    for command, run in steps:
        formatting = command.startswith("fmt")
        allowed = FMT_SECONDS_PER_100_KB if formatting else SECONDS_PER_100_KB
        status, stderr, error, seconds = _measure(run, budget, allowed)
        summary.commands += 1
        rate = seconds / budget
        if formatting and rate > summary.worst_fmt_rate:
            summary.worst_fmt_rate, summary.worst_fmt = rate, f"`{command}` on {size:,} bytes: {seconds:.2f} s"
        elif not formatting and rate > summary.worst_rate:
            summary.worst_rate, summary.worst = rate, f"`{command}` on {size:,} bytes: {seconds:.2f} s"
        if isinstance(error, Wrong):
            summary.add(Finding(error.kind, command, error.detail, source, files))
        elif error is not None:
            summary.add(Finding("internal error", command, f"{type(error).__name__} at {_where(error)}", source,
                                files))
        elif "Traceback" in stderr or "internal error" in stderr:
            summary.add(Finding("internal error", command, stderr.strip().splitlines()[-1][:200], source, files))
        if rate > allowed:
            summary.add(Finding("slow", command, f"{seconds:.1f} s on {size:,} bytes", source, files))
        if command == "render -o flow.dot" and status == 0 and check_dot:
            _check_dot(workdir / "flow.dot", source, summary)


def _check_dot(path: Path, source: str, summary: Summary) -> None:
    dot = path.read_text(encoding="utf-8")
    if dot.count("\n") > DOT_CHECK_NODES * 3 or shutil.which("dot") is None:
        return
    done = subprocess.run(["dot", "-Tsvg", "-o", os.devnull, str(path)], capture_output=True, timeout=120,
                          check=False)
    if done.returncode != 0:
        message = (done.stderr.decode(errors="replace").strip().splitlines() or ["?"])[0]
        message = message.replace(str(path), "flow.dot")
        summary.add(Finding("dot rejected", "render -o flow.dot", message[:200], source))


def fuzz(count: int, seed: int, *, large: bool = True, keep: Path | None = None, progress: bool = False) -> Summary:
    """Generate and run `count` flows; `keep` gets the first source of each finding."""
    rng = random.Random(seed)
    summary = Summary()
    debug = os.environ.get("IVRFLOW_DEBUG")
    os.environ["IVRFLOW_DEBUG"] = "1"  # exceptions come out of main() instead of `internal error`
    with tempfile.TemporaryDirectory(prefix="ivrflow-fuzz-") as temp:
        workdir = Path(temp)
        _prepare(workdir)
        warm = workdir / "warm"  # imports and the grammar, once per process, are not what is measured
        _prepare(warm)
        _, source, files = generate(random.Random(0), large=False)
        run_one(source, warm, Summary(), check_dot=False, files=files)
        try:
            for index in range(count):
                shape, source, files = generate(rng, large=large)
                started = time.perf_counter()
                run_one(source, workdir, summary, files=files)
                if progress:
                    print(f"{index + 1}/{count} {shape}: {len(source):,} characters, "
                          f"{time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        finally:
            if debug is None:
                del os.environ["IVRFLOW_DEBUG"]
            else:
                os.environ["IVRFLOW_DEBUG"] = debug
    if keep is not None and summary.findings:
        keep.mkdir(parents=True, exist_ok=True)
        for index, found in enumerate(summary.findings.values()):
            (keep / f"finding{index}.ivr").write_text(found[0].source, encoding="utf-8")
            for name, text in found[0].files.items():  # what it includes, beside it
                (keep / f"finding{index}").mkdir(exist_ok=True)
                (keep / f"finding{index}" / name).write_text(text, encoding="utf-8")
            (keep / f"finding{index}.txt").write_text(
                f"{found[0].kind} in `{found[0].command}`: {found[0].detail}\n", encoding="utf-8")
    return summary


#: What one fuzzing process may take, so that a runaway input becomes a
#: MemoryError or an OSError (a finding) instead of taking the machine: an
#: `answer-delay 10h` made PortSIP's compile write a 1.15 GB WAV in 3.4 GB of memory.
LIMITS = {"memory": 3 << 30, "file": 256 << 20}


def _limit_resources() -> None:
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing us
    for kind, limit in ((resource.RLIMIT_AS, LIMITS["memory"]), (resource.RLIMIT_FSIZE, LIMITS["file"])):
        soft, hard = resource.getrlimit(kind)
        if soft == resource.RLIM_INFINITY or soft > limit:
            resource.setrlimit(kind, (limit, hard))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=int(os.environ.get("IVRFLOW_FUZZ_GENERATED", "150")))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("IVRFLOW_FUZZ_SEED", "1")))
    parser.add_argument("--keep", type=Path, default=Path("build/fuzz-findings"),
                        help="where the first flow of each finding is written")
    parser.add_argument("--progress", action="store_true", help="a line per flow on stderr")
    args = parser.parse_args(argv)
    _limit_resources()
    summary = fuzz(args.count, args.seed, keep=args.keep, progress=args.progress)
    print(summary.text())
    if summary.findings:
        print(f"the first flow of each finding is in {args.keep}/")
    return 1 if summary.findings else 0


if __name__ == "__main__":
    sys.exit(main())
