"""How long from saving a flow to the studio's updated SVG? Prints a table; asserts nothing.

For flows of 100 and 1,000 menus (bench/check.py's generator), `ivrflow studio
FLOW --no-browser` runs as a user runs it (a real server on loopback). The page's
side is played by a client that holds the event stream (/api/events) open: each
run changes one menu's label and saves the file, waits for the `file` event of the
new version, then fetches /api/files/f0 and checks that the SVG has the new label.
That time is "save → SVG"; "save → diagnostics" is until the first version after
the save (a large diagram comes as a second version, after the new diagnostics).
Then it adds a `test` block instead, which leaves the diagram as it was (the
studio then reuses the last SVG): "save → page".

The baselines, measured in the same run on the same file: `ivrflow render FLOW
-o OUT.svg` as a command (Python's start included), and the studio's own work
in-process (check, DOT with ids, Graphviz's `dot -Tsvg`, nodes and arrows), each
part timed, so what the server and the file watching add is the difference.

    python bench/studio.py [--sizes 100,1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from check import generate  # noqa: E402

from ivrflow.compiler.render import drawn_edges, to_dot  # noqa: E402
from ivrflow.loader import load  # noqa: E402
from ivrflow.studio import view  # noqa: E402


@contextlib.contextmanager
def studio(flow: Path) -> Iterator[str]:
    with subprocess.Popen([sys.executable, "-m", "ivrflow", "studio", str(flow), "--no-browser"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line.startswith("studio: "):
                raise SystemExit(f"ivrflow studio did not start: {line!r}")
            yield line.split()[1]
        finally:
            process.terminate()
            process.wait(30)


class Versions:
    """The versions the event stream announces, read in a thread."""

    def __init__(self, url: str):
        self.seen = 0
        self.changed = threading.Condition()
        self.ready = threading.Event()
        threading.Thread(target=self._read, args=(url,), daemon=True).start()
        if not self.ready.wait(30):
            raise SystemExit("the event stream did not open")

    def _read(self, url: str) -> None:
        with contextlib.suppress(httpx.HTTPError), httpx.stream("GET", url + "api/events", timeout=None) as answer:
            for line in answer.iter_lines():
                self.ready.set()
                if line.startswith("data: "):
                    with self.changed:
                        self.seen = max(self.seen, json.loads(line[6:])["version"])
                        self.changed.notify_all()

    def wait_past(self, version: int, seconds: float) -> int:
        with self.changed:
            if not self.changed.wait_for(lambda: self.seen > version, seconds):
                raise SystemExit(f"no new version after {version} within {seconds} s")
            return self.seen


def measure(flow: Path, text: str, repeat: int, timeout: float) -> dict[str, list[float]]:
    """Each run, interleaved (the machine's load changes alike for all): the
    studio's work in-process, part by part; `ivrflow render` as a command; then,
    with the studio running, a label changed and a test added, each saved and
    timed until the page has the new version."""
    times: dict[str, list[float]] = {name: [] for name in (
        "label", "checked", "test", "in-process", "render", "check", "dot source", "dot -Tsvg", "nodes, arrows")}
    with studio(flow) as url, httpx.Client(timeout=timeout) as client:
        version = client.get(url + "api/files/f0").json()["version"]
        versions = Versions(url)
        for run in range(repeat):
            parts = in_process(flow)
            for name, seconds in parts.items():
                times[name].append(seconds)
            times["in-process"].append(sum(parts.values()))
            times["render"].append(render_command(flow))
            labelled = text.replace('"Menu 0"', f'"Menu 0 edited {run}"', 1)
            for name, edited, wanted in (
                    ("label", labelled, f"Menu 0 edited {run}"),
                    ("test", labelled + f'test "edited {run}" {{\n    press 2\n    expect goto m1\n}}\n', None)):
                began = time.perf_counter()
                flow.write_text(edited)
                version = versions.wait_past(version, timeout)
                document = client.get(url + "api/files/f0").json()
                if name == "label":
                    times["checked"].append(time.perf_counter() - began)
                version, document = drawn(client, url, versions, version, document, timeout)
                times[name].append(time.perf_counter() - began)
                if wanted is not None and wanted not in document["svg"]:
                    raise SystemExit(f"version {version} does not show {wanted!r}")
                time.sleep(0.3)  # let the watcher settle: each save is its own change
    flow.write_text(text)
    return times


def drawn(client: httpx.Client, url: str, versions: Versions, version: int, document: dict,
          timeout: float) -> tuple[int, dict]:
    """The version and document once drawn: a large diagram follows its diagnostics as the next version."""
    version = max(version, document["version"])
    while document["drawing"]:
        version = versions.wait_past(version, timeout)
        document = client.get(url + "api/files/f0").json()
        version = max(version, document["version"])
    return version, document


def render_command(flow: Path) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ivrflow", "render", str(flow), "-o", str(flow.with_suffix(".svg"))],
                   check=True, capture_output=True)
    return time.perf_counter() - began


def in_process(flow: Path) -> dict[str, float]:
    began = time.perf_counter()
    checked = load(str(flow))
    assert checked.flow is not None and checked.graph is not None
    checked_at = time.perf_counter()
    source = to_dot(checked.flow, checked.graph, checked.diagnostics, ids=True)
    sourced_at = time.perf_counter()
    view.run_dot(source, "svg")
    drawn_at = time.perf_counter()
    view.nodes(checked.flow, checked.graph, None)
    view.arrow_map(drawn_edges(checked.flow, checked.graph))
    done = time.perf_counter()
    return {"check": checked_at - began, "dot source": sourced_at - checked_at, "dot -Tsvg": drawn_at - sourced_at,
            "nodes, arrows": done - drawn_at}


def ms(times: list[float]) -> str:
    return f"{statistics.median(times) * 1000:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(ROOT / "examples" / "prompts" / "hello.wav", Path(folder) / "hello.wav")
        for size in (int(s) for s in args.sizes.split(",")):
            flow = Path(folder) / f"menus{size}.ivr"
            text = generate(size)
            flow.write_text(text)
            repeat = args.repeat if size <= 100 else max(1, args.repeat // 2)
            rows.append((size, repeat, measure(flow, text, repeat, timeout=600)))
    print(f"median ms over the runs (Python {sys.version.split()[0]}; load average {os.getloadavg()[0]:.1f})\n")
    print("| menus | runs | save → SVG (a label) | save → diagnostics (a label) | save → page (a test) | "
          "studio's work in-process | `ivrflow render -o .svg` | check | dot source | dot -Tsvg | nodes, arrows |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size, repeat, times in rows:
        print(f"| {size:,} | {repeat} | " + " | ".join(ms(t) for t in times.values()) + " |")


if __name__ == "__main__":
    main()
