"""How fast is `check`? Prints a table; asserts nothing.

Flows of 100, 1,000 and 10,000 menus are generated; for each size the bare
Lark parse of the project's grammar (the same LALR parser building a plain
parse tree, nothing else) is timed against the full `check` (parse to IR,
graph, every check), in the same run. `check` pauses Python's cyclic garbage
collector while it builds (see ivrflow/compiler/__init__.py), so the ratio is
taken against the bare parse under the same condition; the bare parse with
the collector running, as Lark does by default, is shown beside it. Then the
command line's cold start on a small flow against
`python -c "import lark, networkx"`.

    python bench/check.py [--sizes 100,1000,10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lark import Lark  # noqa: E402

from ivrflow.compiler import _gc_paused, check_source  # noqa: E402


def generate(menus: int) -> str:
    """A flow of `menus` menus, each with prompts, settings, keys and events,
    chained so that every menu is reachable."""
    out = [f'flow bench{menus} "Benchmark" {{', "    language en-US", "    start entry", "}",
           'prompt hello file "hello.wav"', 'prompt sorry say "Sorry, that is not an option."',
           "hours office {", '    timezone "Europe/London"', "    mon-fri 09:00-18:00", "}",
           "route entry {", "    when open office -> goto m0", '    otherwise -> voicemail "closed"', "}"]
    for i in range(menus):
        nxt = f"m{i + 1}" if i + 1 < menus else "m0"
        out += [f'menu m{i} "Menu {i}" {{', "    play hello", "    timeout 5s", "    retries 2",
                f'    press 1 -> transfer "+4420790{i:05d}"', f"    press 2 -> goto {nxt}",
                '    press 3 -> voicemail "sales"', "    on timeout -> repeat",
                "    on invalid -> play sorry, repeat", '    on exhausted -> transfer "0"', "}"]
    return "\n".join(out) + "\n"


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def interleaved(parse, check, repeat: int) -> tuple[float, float]:
    """Best times of the bare parse (collector paused, as in `check`) and of
    `check`, run alternately so that drift in the machine's speed hits both."""
    parse_times, check_times = [], []
    for _ in range(repeat):
        with _gc_paused():
            start = time.perf_counter()
            parse()
            parse_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        check()
        check_times.append(time.perf_counter() - start)
    return min(parse_times), min(check_times)


def cold(argv: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    grammar = resources.files("ivrflow").joinpath("grammar/ivr.lark").read_text()
    bare = Lark(grammar, parser="lalr", lexer="contextual")
    check_source(generate(2), "warm.ivr")  # build (or load) the parser once, as a long run would

    if args.one:
        size = args.one
        text = generate(size)
        repeat = args.repeat if size <= 1000 else max(1, args.repeat - 2)
        parse_s, check_s = interleaved(lambda: bare.parse(text), lambda: check_source(text, "bench.ivr"), repeat)
        default_s = best(lambda: bare.parse(text), repeat)
        result = check_source(text, "bench.ivr")
        assert result.errors == 0, result.diagnostics[:3]
        print(f"{size:>7} {text.count(chr(10)):>8} {default_s:>16.3f} {parse_s:>13.3f} {check_s:>9.3f} "
              f"{check_s / parse_s:>11.2f}x {check_s / size * 1e6:>14.0f}")
        return

    print(f"{'menus':>7} {'lines':>8} {'parse (gc on) s':>16} {'bare parse s':>13} {'check s':>9} "
          f"{'check/parse':>12} {'check µs/menu':>14}", flush=True)
    for size in args.sizes.split(","):  # one process per size: no size inherits another's heap
        subprocess.run([sys.executable, __file__, "--one", size, "--repeat", str(args.repeat)], check=True)

    flow = ROOT / "examples" / "quickstart.ivr"
    baseline = cold([sys.executable, "-c", "import lark, networkx"], 7)
    ours = cold([sys.executable, "-m", "ivrflow", "check", str(flow)], 7)
    print()
    print(f"{'cold start (median of 7)':<44} {'s':>7}")
    label = 'python -c "import lark, networkx"'
    print(f"{label:<44} {baseline:>7.3f}")
    print(f"{'ivrflow check examples/quickstart.ivr':<44} {ours:>7.3f}   {ours / baseline:.2f}x the baseline")


if __name__ == "__main__":
    main()
