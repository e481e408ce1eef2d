"""Grammar-aware fuzzing: random flows that follow ivrflow's grammar
(ivrflow/grammar/ivr.lark), run through the command line in-process.

Every flow parses, so the compiler gets past the syntax and meets what the
grammar allows and the checks must catch: long chains and cycles of menus and
routes, menus thousands deep in `goto`s, action lists of thousands of `play`s,
strings of hundreds of kilobytes, and in every string the characters that mean
something to a shell, to DOT, HTML, Mermaid, YAML or JSON (quotes, backslashes,
`$( )`, backticks, escaped newlines, control characters, unicode). Some flows
get one syntax error after a huge string.

Each flow is written to a file beside prompt recordings with hostile names
and run through `check` (alone and with `--target telphin|portsip`),
`render` (DOT and Mermaid), `test`, and `compile --target telphin|portsip`,
offline and without text to speech. A finding is:

- an internal error: any exception out of the command (IVRFLOW_DEBUG=1 lets it
  through), where the user would see `internal error` instead of a coded
  diagnostic or a one-line usage error;
- a slow run: a command that takes longer than 2 s per 100 kB of input
  (inputs under 100 kB count as 100 kB);
- a diagram Graphviz rejects (small flows only: laying out thousands of
  nodes takes Graphviz minutes).

    python -m tests.fuzzgen --count 500 --seed 1   # `make fuzz` runs this
"""

from __future__ import annotations

import argparse
import contextlib
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

ROOT = Path(__file__).resolve().parent.parent
RECORDING = ROOT / "examples" / "prompts" / "hello.wav"

#: The budget of issue 10: no input slower than this many seconds per 100 kB.
SECONDS_PER_100_KB = 2.0
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
    kind: str       # "internal error", "slow", "dot rejected"
    command: str
    detail: str
    source: str


@dataclass
class Summary:
    flows: int = 0
    commands: int = 0
    bytes: int = 0
    worst_rate: float = 0.0  # seconds per 100 kB (inputs under 100 kB count as 100 kB)
    worst: str = ""
    findings: dict[tuple[str, str, str], list[Finding]] = field(default_factory=dict)

    def add(self, finding: Finding) -> None:
        self.findings.setdefault((finding.kind, finding.command, finding.detail), []).append(finding)

    def count(self, kind: str) -> int:
        return sum(len(found) for (k, _, _), found in self.findings.items() if k == kind)

    def text(self) -> str:
        lines = [f"fuzz: {self.flows} generated flows, {self.commands} commands, {self.bytes / 1e6:.1f} MB of source",
                 f"internal errors: {self.count('internal error')}",
                 f"slower than {SECONDS_PER_100_KB:g} s per 100 kB: {self.count('slow')}",
                 f"diagrams Graphviz rejected: {self.count('dot rejected')}",
                 f"slowest: {self.worst_rate:.3f} s per 100 kB ({self.worst})"]
        for (kind, command, detail), found in sorted(self.findings.items()):
            lines.append(f"  {kind} ×{len(found)} in `{command}`: {detail}")
        return "\n".join(lines)


# --- the generator ------------------------------------------------------------------------------


class Flow:
    """One random flow, built statement by statement in the grammar's terms."""

    def __init__(self, rng: random.Random, *, huge: bool = False) -> None:
        self.rng = rng
        self.huge = rng.randint(1, 3) if huge else 0  # how many strings of hundreds of kilobytes are left
        self.long = rng.randint(0, 2)  # how many lists of thousands of `play`s are left
        self.lines: list[str] = []

    def text(self, *, context: str = "") -> str:
        """A hostile string value (not yet quoted)."""
        rng = self.rng
        if self.huge and rng.random() < 0.1:
            self.huge -= 1
            piece = rng.choice(HOSTILE + WORDS)
            return (piece * (rng.randint(50_000, 300_000) // max(1, len(piece))))[:300_000]
        parts = [rng.choice(WORDS) if rng.random() < 0.4 else rng.choice(HOSTILE)
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
        if valid is not None and self.rng.random() < 0.6:
            return self.quoted(valid())
        return self.quoted(self.text(context=context))

    def key(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.7:
            return rng.choice("0123456789*") * (1 if rng.random() < 0.9 else rng.randint(2, 4))
        if roll < 0.85:
            return '"#"'
        return self.string()

    def duration(self) -> str:
        return self.rng.choice(["5s", "500ms", "2m", "1h", "0s", "99999999999h", "5sec", "3"])

    def destination(self) -> str:
        rng = self.rng
        return rng.choice(["100", "050", "+79876543210", "sip:desk@pbx.example", str(rng.randint(0, 10**12))])

    def terminal(self, targets: list[str], owner: str | None) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.35 and targets:
            return f"goto {rng.choice(targets)}"
        if roll < 0.5:
            return f"transfer {self.string(valid=self.destination)}"
        if roll < 0.6:
            return "hangup"
        if roll < 0.7 and owner is not None:
            return "repeat"
        if roll < 0.8:
            return "voicemail" + ("" if rng.random() < 0.3 else f" {self.string(valid=lambda: 'sales')}")
        if roll < 0.9:
            return f"ask {self.string(valid=lambda: 'https://crm.example.com/route', context='https://x.example/')}"
        return "hangup"

    def actions(self, prompts: list[str], targets: list[str], owner: str | None, *, terminal: str = "") -> str:
        rng = self.rng
        count = rng.choice([0, 0, 0, 1, 2])
        if self.long and rng.random() < 0.05:
            self.long -= 1
            count = rng.randint(100, 3000)
        plays = [f"play {rng.choice(prompts)}" for _ in range(count)] if prompts else []
        return ", ".join([*plays, terminal or self.terminal(targets, owner)])

    def build(self, *, menus: int, routes: int, shape: str) -> str:
        rng = self.rng
        menu_names = [f"m{i}" for i in range(menus)]
        route_names = [f"r{i}" for i in range(routes)]
        nodes = route_names + menu_names
        prompts = [f"p{i}" for i in range(rng.randint(1, 6))]
        hours = ["office"] if rng.random() < 0.5 else []
        out = self.lines
        if rng.random() < 0.8:
            out.append(f"flow fuzz{'' if rng.random() < 0.3 else ' ' + self.string()} {{")
            out.append(f"    language {rng.choice(LANGS)}")
            if nodes and rng.random() < 0.7:
                out.append(f"    start {nodes[0]}")
            if rng.random() < 0.3:  # not hours: PortSIP compile writes the delay as silence (see LIMITS)
                out.append(f"    answer-delay {rng.choice(['0s', '500ms', '2s', '99999999999h'])}")
            if rng.random() < 0.3:
                out.append(f"    max-duration {self.duration()} -> {self.actions(prompts, nodes, None)}")
            if rng.random() < 0.2:
                out.append(f"    timezone {self.string(valid=lambda: rng.choice(ZONES))}")
            out.append("}")
        for name in prompts:
            if rng.random() < 0.5:
                recording = rng.choice(RECORDING_NAMES)
                out.append(f"prompt {name} file {self.quoted('prompts/' + recording)}")
            else:
                language = f" language {rng.choice(LANGS)}" if rng.random() < 0.3 else ""
                out.append(f"prompt {name} say {self.string(valid=lambda: 'Hello, press 1.')}{language}")
        for name in hours:
            out.append(f"hours {name} {{")
            out.append(f"    timezone {self.string(valid=lambda: rng.choice(ZONES))}")
            out.append(f"    {rng.choice(DAYS)} 09:00-18:00" + (", 19:00-20:00" if rng.random() < 0.3 else ""))
            if rng.random() < 0.3:
                out.append(f"    closed 2026-12-{rng.randint(1, 40)}")
            out.append("}")
        for index, name in enumerate(route_names):
            label = f" {self.string()}" if rng.random() < 0.3 else ""
            out.append(f"route {name}{label} {{")
            for _ in range(rng.randint(0, 3)):
                condition = f"open {rng.choice(hours)}" if hours and rng.random() < 0.4 else \
                    f"caller {self.string(valid=lambda: rng.choice(['7495*******', '79*', 'ALL', '100-199']))}"
                out.append(f"    when {condition} -> {self.actions(prompts, nodes, None)}")
            onward = self._next(shape, nodes, index)
            out.append(f"    otherwise -> {self.actions(prompts, nodes, None, terminal=onward)}")
            out.append("}")
        for index, name in enumerate(menu_names, start=len(route_names)):
            label = f" {self.string()}" if rng.random() < 0.4 else ""
            out.append(f"menu {name}{label} {{")
            for prompt in rng.sample(prompts, rng.randint(0, len(prompts))):
                out.append(f"    play {prompt}{' fully' if rng.random() < 0.2 else ''}")
            if self.long and rng.random() < 0.05:
                self.long -= 1
                out += [f"    play {rng.choice(prompts)}"] * rng.randint(100, 2000)
            for setting in ("digits 3", f"inter-digit {self.duration()}", f"timeout {self.duration()}",
                            f"retries {rng.randint(0, 12)}", "dial-extensions"):
                if rng.random() < 0.15:
                    out.append(f"    {setting}")
            for _ in range(rng.randint(0, 5)):
                out.append(f"    press {self.key()} -> {self.actions(prompts, nodes, name)}")
            chained = self._next(shape, nodes, index)
            out.append(f"    press 0 -> {chained}" if chained else "    press 0 -> hangup")
            for event in ("timeout", "invalid", "exhausted"):
                if rng.random() < 0.7:
                    terminal = chained if shape == "cycle" else ""
                    out.append(f"    on {event} -> {self.actions(prompts, nodes, name, terminal=terminal)}")
            out.append("}")
        for _ in range(rng.randint(0, 3)):
            out.append(f"test {self.string(valid=lambda: 'a test')} {{")
            if rng.random() < 0.5:
                out.append(f"    at {self.string(valid=lambda: '2026-11-23 10:00')}")
            if rng.random() < 0.3:
                out.append(f"    caller {self.string(valid=lambda: '+74951234567')}")
            for _ in range(rng.randint(0, 4)):
                out.append(f"    press {self.key()}" if rng.random() < 0.8 else "    silence")
            if rng.random() < 0.2:
                out.append(f"    answer {self.terminal(nodes, None)}")
            out.append(f"    expect {self.terminal(nodes, None)}")
            out.append("}")
        return "\n".join(out) + "\n"

    def _next(self, shape: str, nodes: list[str], index: int) -> str:
        """Where a chain or cycle goes on from node `index`: the next node (the
        last of a cycle back to the first); otherwise a random action."""
        if shape == "chain":
            return f"goto {nodes[index + 1]}" if index + 1 < len(nodes) else "hangup"
        if shape == "cycle":
            return f"goto {nodes[(index + 1) % len(nodes)]}"
        return ""


def generate(rng: random.Random, *, large: bool = True) -> tuple[str, str]:
    """(shape, source) of one random flow; `large` allows the big shapes."""
    shapes = ["small"] * 8 + (["chain", "cycle", "huge", "syntax error"] if large else ["syntax error"])
    shape = rng.choice(shapes)
    if shape == "small":
        return shape, Flow(rng).build(menus=rng.randint(0, 6), routes=rng.randint(0, 3), shape="random")
    if shape in ("chain", "cycle"):
        size = rng.choice([10, 100, 1000, 3000])
        menus = rng.randint(0, size)
        return shape, Flow(rng).build(menus=menus, routes=size - menus, shape=shape)
    if shape == "huge":
        return shape, Flow(rng, huge=True).build(menus=rng.randint(1, 4), routes=rng.randint(0, 2), shape="random")
    source = Flow(rng).build(menus=rng.randint(1, 3), routes=rng.randint(0, 2), shape="random")
    big = Flow.quoted("a" * (rng.randint(1, 300) * (1000 if large else 10)))
    return shape, source.replace("\n", f"\nprompt big say {big} {rng.choice(['x', '->', '{', 'language'])}\n", 1)


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


def commands(flow: str, workdir: Path) -> Iterator[tuple[str, list[str]]]:
    yield "check", ["check", flow]
    yield "check --target telphin", ["check", flow, "--target", "telphin"]
    yield "check --target portsip", ["check", flow, "--target", "portsip"]
    yield "render -o flow.dot", ["render", flow, "-o", str(workdir / "flow.dot")]
    yield "render -o flow.mmd", ["render", flow, "-o", str(workdir / "flow.mmd")]
    yield "test", ["test", flow]
    yield "compile --target telphin", ["compile", flow, "--target", "telphin", "-o", str(workdir / "telphin")]
    yield "compile --target portsip", ["compile", flow, "--target", "portsip", "-o", str(workdir / "portsip")]


def run_one(source: str, workdir: Path, summary: Summary, *, check_dot: bool = True) -> None:
    """Run every command on one flow and add what goes wrong to `summary`."""
    flow = workdir / "flow.ivr"
    flow.write_text(source, encoding="utf-8")
    for name in ("flow.dot", "flow.mmd"):
        (workdir / name).unlink(missing_ok=True)
    size = len(source.encode("utf-8"))
    budget = max(size, 100_000) / 100_000
    summary.flows += 1
    summary.bytes += size
    for command, argv in commands(str(flow), workdir):
        started = time.perf_counter()
        status, stderr, error = _run(argv)
        seconds = time.perf_counter() - started
        if seconds / budget > SECONDS_PER_100_KB:  # once more, in case the machine was busy
            started = time.perf_counter()
            _run(argv)
            seconds = min(seconds, time.perf_counter() - started)
        summary.commands += 1
        rate = seconds / budget
        if rate > summary.worst_rate:
            summary.worst_rate, summary.worst = rate, f"`{command}` on {size:,} bytes: {seconds:.2f} s"
        if error is not None:
            summary.add(Finding("internal error", command, f"{type(error).__name__} at {_where(error)}", source))
        elif "Traceback" in stderr or "internal error" in stderr:
            summary.add(Finding("internal error", command, stderr.strip().splitlines()[-1][:200], source))
        if rate > SECONDS_PER_100_KB:
            summary.add(Finding("slow", command, f"{seconds:.1f} s on {size:,} bytes", source))
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
        run_one(generate(random.Random(0), large=False)[1], warm, Summary(), check_dot=False)
        try:
            for index in range(count):
                shape, source = generate(rng, large=large)
                started = time.perf_counter()
                run_one(source, workdir, summary)
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
