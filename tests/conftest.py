from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite the golden files from the output")


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """compare(name, text): the text must equal tests/golden/NAME (rewritten with --update-golden)."""
    update = request.config.getoption("--update-golden") or os.environ.get("UPDATE_GOLDEN")

    def compare(name: str, text: str, path: Path | None = None) -> None:
        path = path or ROOT / "tests" / "golden" / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        assert path.exists(), f"no golden file {path}; run pytest --update-golden"
        assert text == path.read_text(encoding="utf-8"), f"output differs from {path}"

    return compare
