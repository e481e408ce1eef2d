from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _library(path: Path) -> bool:
    """A file only meant to be included: it has no `flow` block."""
    return not any(line.startswith("flow ") for line in path.read_text().splitlines())


#: Every example that is a flow of its own (common.ivr is only included).
EXAMPLE_FLOWS = [p for p in sorted(EXAMPLES.glob("*.ivr")) if not _library(p)]


def _second_edition(path: Path) -> bool:
    """Whether the flow uses a construct of the language's second edition:
    what no target carries yet (compile, plan and deploy refuse it with
    IVR205; issue 13 carries it to the platforms)."""
    from ivrflow import loader
    from ivrflow.compiler import features

    flow = loader.load(str(path), check_files=False).flow
    return flow is None or bool(features.uses(flow))


#: The examples every target compiles: those of the language's first edition.
PLATFORM_FLOWS = [p for p in EXAMPLE_FLOWS if not _second_edition(p)]


#: Modules that drive emulators, runtime servers and browsers over real HTTP
#: (end to end): `make test-fast` leaves them out, `make test` and CI run them.
END_TO_END = frozenset({
    "test_telphin", "test_portsip", "test_portsip_fidelity", "test_portsip_openapi", "test_runtime",
    "test_serve_many", "test_mediaservice_runtime", "test_mediaservice_deploy", "test_determinism",
    "test_render_mermaid", "test_attacks", "test_sessions", "test_telphin_deploy", "test_telphin_safety",
    "test_comm100_deploy", "test_comm100_second_edition", "test_portsip_second_edition",
    "test_studio_browser",
})


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite the golden files from the output")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in END_TO_END:
            item.add_marker(pytest.mark.slow)


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
