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

Then variables (issue 12): for each size, a flow of that many nodes that uses
variables on every path (collects, `set`, `{var}` prompts and destinations,
conditions on variables) against the same flow without them (the same number
of nodes: menus for the collects, conditions on hours and callers), checked
in the same process, paired and interleaved (the order alternating), median of
`--repeat` runs. It measures whatever `check` does at the time (the dataflow
check, IVR129, included once it exists; the table says whether it does) and
shows the diagnostics each flow gets, so a flow the checks refuse is visible.

    python bench/check.py [--sizes 100,1000,10000] [--repeat 3] [--only check|variables]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections import Counter
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lark import Lark  # noqa: E402

from ivrflow.compiler import Checked, _gc_paused, check_source  # noqa: E402
from ivrflow.compiler.diagnostics import RULES  # noqa: E402


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


def generate_variables(nodes: int, variables: bool) -> str:
    """A flow of `nodes` nodes (a multiple of 4) in units of four: where the
    caller keys a number, a route on it, and two menus that say it. With
    `variables`, the number is collected into a variable that every path
    through the unit uses (`set`, `{var}` in prompts and a destination,
    conditions); without, the same nodes are a menu, a route on hours and the
    caller's number, and menus with fixed prompts."""
    units = max(1, nodes // 4)
    out = [f'flow vars{nodes} "Benchmark" {{', "    language en-US", "    start c0", "}",
           'prompt ask say "Enter the number, then the pound key."', 'prompt sorry say "Sorry, that is not valid."',
           "hours office {", '    timezone "Europe/London"', "    mon-fri 09:00-18:00", "}"]
    if variables:
        out += ['prompt entered say "You entered {account:digits}, {note}."',
                'prompt once_more say "Once more: {account}."']
    else:
        out += ['prompt entered say "You entered a number."', 'prompt once_more say "Once more."']
    waits = ["    retries 2", "    on timeout -> repeat", "    on invalid -> play sorry, repeat",
             '    on exhausted -> transfer "0"']
    for i in range(units):
        nxt = f"c{i + 1}" if i + 1 < units else "c0"
        if variables:
            out += [f"collect c{i} {{", "    play ask", "    digits 4-6", '    end-key "#"',
                    f"    on done -> goto r{i}", *waits, "}",
                    f"route r{i} {{",
                    f'    when c{i} < 5000 and c{i} is set -> set account = "{{c{i}}}", set note = "low", goto m{i}',
                    f'    when c{i} == "99999" or not c{i} matches "1***" -> transfer "{{c{i}}}"',
                    f'    otherwise -> set account = "{{c{i}}}", set note = "{{c{i}:digits}}", goto m{i}', "}"]
        else:
            out += [f"menu c{i} {{", "    play ask", "    digits 4", f"    press 1234 -> goto r{i}", *waits, "}",
                    f"route r{i} {{",
                    f'    when open office and caller "1***" -> goto m{i}',
                    f'    when caller "99999" or not caller "1***" -> transfer "+4420790{i:05d}"',
                    f"    otherwise -> goto m{i}", "}"]
        out += [f"menu m{i} {{", "    play entered", f"    press 1 -> goto {nxt}", f"    press 2 -> goto n{i}",
                f'    press 3 -> transfer "+4420791{i:05d}"', *waits, "}",
                f"menu n{i} {{", "    play once_more", f"    press 1 -> goto {nxt}", f"    press 2 -> goto m{i}",
                *waits, "}"]
    return "\n".join(out) + "\n"


def diagnostics_summary(result: Checked) -> str:
    """`3 IVR002, 1 IVR113` (the codes `check` reported), or `clean`."""
    found = Counter(d.code for d in result.diagnostics)
    return ", ".join(f"{n} {code}" for code, n in sorted(found.items())) or "clean"


Times = list[tuple[float, float]]  # (wall, CPU) seconds per run


def paired(texts: tuple[str, str], repeat: int) -> tuple[Times, Times, list[Checked]]:
    """(wall, CPU) times of checking each text, run in pairs, the order
    alternating; and the last result of each."""
    times: tuple[Times, Times] = ([], [])
    results: list[Checked] = [check_source(texts[0], "warm.ivr"), check_source(texts[1], "warm.ivr")]
    for run in range(repeat):
        for which in ((0, 1) if run % 2 == 0 else (1, 0)):
            wall, cpu = time.perf_counter(), time.process_time()
            results[which] = check_source(texts[which], "bench.ivr")
            times[which].append((time.perf_counter() - wall, time.process_time() - cpu))
    return times[0], times[1], results


def one_variables(nodes: int, repeat: int) -> None:
    with_vars, without = generate_variables(nodes, True), generate_variables(nodes, False)
    times_with, times_without, (result_with, result_without) = paired((with_vars, without), repeat)

    def medians(index: int) -> tuple[float, float, float]:
        w = [t[index] for t in times_with]
        o = [t[index] for t in times_without]
        return statistics.median(w), statistics.median(o), statistics.median(a / b for a, b in zip(w, o, strict=True))

    wall_with, wall_without, wall_ratio = medians(0)
    cpu_with, cpu_without, cpu_ratio = medians(1)
    count = 4 * max(1, nodes // 4)
    print(f"{count:>7} {with_vars.count(chr(10)):>8} {wall_without:>10.3f} {wall_with:>8.3f} {wall_ratio:>9.2f}x "
          f"{cpu_without:>10.3f} {cpu_with:>8.3f} {cpu_ratio:>8.2f}x {cpu_with / count * 1e6:>13.0f}   "
          f"with: {diagnostics_summary(result_with)}; without: {diagnostics_summary(result_without)}", flush=True)


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
    parser.add_argument("--only", choices=("check", "variables"), help="run one of the two tables")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--one-variables", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    grammar = resources.files("ivrflow").joinpath("grammar/ivr.lark").read_text()
    bare = Lark(grammar, parser="lalr", lexer="contextual")
    check_source(generate(2), "warm.ivr")  # build (or load) the parser once, as a long run would

    if args.one_variables:
        size = args.one_variables
        one_variables(size, args.repeat if size <= 1000 else max(3, args.repeat - 2))
        return
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

    if args.only != "variables":
        check_table(args)
    if args.only != "check":
        variables_table(args)


def check_table(args: argparse.Namespace) -> None:
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


def variables_table(args: argparse.Namespace) -> None:
    dataflow = "with" if "IVR129" in RULES else "without"
    print()
    print(f"variables on every path vs none, same nodes; `check` {dataflow} the dataflow check (IVR129); "
          "medians, paired and interleaved (wall clock, then CPU time of the process)")
    print(f"{'nodes':>7} {'lines':>8} {'without s':>10} {'with s':>8} {'wall ratio':>10} {'cpu w/o s':>10} "
          f"{'cpu s':>8} {'cpu ratio':>9} {'cpu µs/node':>13}   diagnostics", flush=True)
    for size in args.sizes.split(","):  # one process per size, as above
        subprocess.run([sys.executable, __file__, "--one-variables", size, "--repeat", str(args.repeat)],
                       check=True)


if __name__ == "__main__":
    main()
