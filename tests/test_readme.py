"""The README is a newcomer's page: it starts with the two commands, its
links lead somewhere, and what it says to type works."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_it_starts_with_the_two_commands() -> None:
    first_block = README.split("```")[1].strip().splitlines()
    assert [line.split("#")[0].strip() for line in first_block] == ["make demo", "make test"]


def test_it_fits_on_a_couple_of_screens_and_every_link_exists() -> None:
    assert len(README.splitlines()) < 200
    links = re.findall(r"\]\(([^)#]+)\)", README)
    assert links, "the README links to the manual"
    missing = [link for link in links if not link.startswith("http") and not (ROOT / link).exists()]
    assert missing == []


def test_the_shell_completion_it_describes_works() -> None:
    assert "_IVRFLOW_COMPLETE=bash_source ivrflow" in README
    env = {**os.environ, "_IVRFLOW_COMPLETE": "bash_complete", "COMP_WORDS": "ivrflow ch", "COMP_CWORD": "1"}
    done = subprocess.run([sys.executable, "-m", "ivrflow"], env=env, capture_output=True, text=True, timeout=60)
    assert "plain,check" in done.stdout.splitlines()
