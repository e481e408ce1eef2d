"""Mermaid output is parsed by Mermaid itself (Node, tests/mermaid), so what
`render -o flow.mmd` writes renders on GitHub."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ivrflow.cli import main

from .conftest import EXAMPLE_FLOWS, EXAMPLES, ROOT

CHECKER = ROOT / "tests" / "mermaid"


def test_mermaid_output_parses(tmp_path: Path) -> None:
    assert shutil.which("node") and (CHECKER / "node_modules" / "mermaid").is_dir(), \
        "the Mermaid checker is not installed: `make test` installs it (npm ci in tests/mermaid)"
    flows = [*EXAMPLE_FLOWS, *sorted((EXAMPLES / "broken").glob("*.ivr"))]
    written = []
    for flow in flows:
        target = tmp_path / f"{flow.stem}.mmd"
        if main(["render", str(flow), "-o", str(target)]) == 0:
            written.append(str(target))
    assert len(written) >= len(flows) - 2  # the two syntax-error examples have nothing to draw
    done = subprocess.run(["node", str(CHECKER / "check.mjs"), *written], capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
