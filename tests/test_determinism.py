"""The same input gives the same bytes: across runs and across hash seeds
(a set iterated into output would differ between seeds)."""

from __future__ import annotations

import os
import subprocess
import sys

from .conftest import ROOT

COMMANDS = [
    ["check", "--format", "json", "examples/broken/traps_and_loops.ivr", "examples/support.ivr"],
    ["check", "--format", "sarif", "examples/broken/keys.ivr"],
    ["render", "examples/support.ivr"],
    ["render", "examples/broken/traps_and_loops.ivr"],
    ["simulate", "examples/clinic.ivr", "--press", "3,*,silence", "--format", "json"],
    ["test", "examples/support.ivr"],
]


def _run(argv: list[str], seed: str) -> bytes:
    env = {**os.environ, "PYTHONHASHSEED": seed, "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-m", "ivrflow", *argv], cwd=ROOT, env=env,
                          capture_output=True, check=False)
    return done.stdout


def test_mermaid_does_not_depend_on_the_hash_seed(tmp_path) -> None:
    outputs = []
    for seed in ("1", "2"):
        target = tmp_path / f"{seed}.mmd"
        _run(["render", "examples/broken/traps_and_loops.ivr", "-o", str(target)], seed)
        outputs.append(target.read_bytes())
    assert outputs[0] and outputs[0] == outputs[1]


def test_output_does_not_depend_on_the_hash_seed() -> None:
    for argv in COMMANDS:
        first = _run(argv, "1")
        assert first, argv
        assert _run(argv, "2") == first, argv
        assert _run(argv, "1") == first, argv
