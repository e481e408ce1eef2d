"""A call's lines: through logging, or written directly by `ivrflow serve` in
the same format, masked, and only at the levels logging would write them."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from ivrflow import redact
from ivrflow.runtime import calllog

SECRET = "calllog-secret-4711"
#: 2026-12-02 18:33:58.042 UTC, a time whose milliseconds are easy to misprint.
NOW = 1796236438.042


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> Iterator[logging.StreamHandler[io.StringIO]]:
    """`ivrflow serve`'s logging, writing to a string: a stream handler of
    calllog.FORMAT on a logger that does not propagate, secrets masked."""
    logger = logging.getLogger("ivrflow.runtime")
    monkeypatch.setattr(logger, "propagate", False)
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "filters", [])
    monkeypatch.setattr(logger, "level", logging.INFO)
    monkeypatch.setattr(redact, "_secrets", {SECRET})
    monkeypatch.setattr(time, "time", lambda: NOW)
    monkeypatch.setattr(time, "time_ns", lambda: int(NOW * 1e9))
    stream_handler = logging.StreamHandler(io.StringIO())
    stream_handler.setFormatter(logging.Formatter(calllog.FORMAT))
    logger.addHandler(stream_handler)
    logger.manager._clear_cache()
    redact.install_log_filter("ivrflow.runtime")
    yield stream_handler
    calllog.write_to(None)
    logger.manager._clear_cache()


def alone(handler: logging.StreamHandler[io.StringIO]) -> logging.StreamHandler[io.StringIO]:
    """The handler as the logger's only one (pytest adds its capture to non-propagating loggers for each test)."""
    logging.getLogger("ivrflow.runtime").handlers[:] = [handler]
    return handler


def written(handler: logging.StreamHandler[io.StringIO]) -> str:
    text = handler.stream.getvalue()
    handler.stream.seek(0)
    handler.stream.truncate()
    return text


def test_a_line_written_directly_is_the_line_logging_writes(handler: logging.StreamHandler[io.StringIO]) -> None:
    alone(handler)
    calllog.line("session %s: new call from %s", "c1", f"+44{SECRET}")
    through_logging = written(handler)
    assert calllog.write_to(handler)
    calllog.line("session %s: new call from %s", "c1", f"+44{SECRET}")
    assert written(handler) == through_logging == \
        f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(NOW))},042 INFO ivrflow.runtime: " \
        "session c1: new call from +44***\n"


@pytest.mark.parametrize("quiet", ["logger", "handler"])
def test_no_line_below_the_level_of_the_logger_or_the_handler(handler: logging.StreamHandler[io.StringIO],
                                                              quiet: str) -> None:
    alone(handler)
    assert calllog.write_to(handler)
    if quiet == "logger":
        logging.getLogger("ivrflow.runtime").setLevel(logging.WARNING)
    else:
        handler.setLevel(logging.WARNING)
    calllog.line("session %s: the caller hung up", "c1")
    assert written(handler) == ""


@pytest.mark.parametrize("change, expected", [
    ("second handler", "18:33 session c1: new call from +4420\n"),  # also written by the other handler
    ("dropping filter", ""),  # a filter of the logger's own that drops the line
    ("other format", "INFO session c1: new call from +4420\n"),
    ("other time format", "18:33 INFO ivrflow.runtime: session c1: new call from +4420\n"),
])
def test_lines_go_through_logging_where_it_would_write_them_otherwise(
        handler: logging.StreamHandler[io.StringIO], change: str, expected: str) -> None:
    logger = logging.getLogger("ivrflow.runtime")
    alone(handler)
    other = logging.StreamHandler(io.StringIO())
    other.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M"))
    assert calllog.write_to(handler)
    if change == "second handler":
        logger.addHandler(other)
    elif change == "dropping filter":
        logger.addFilter(lambda record: "c1" not in record.getMessage())
    elif change == "other format":
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    else:
        handler.setFormatter(logging.Formatter(calllog.FORMAT, "%H:%M"))
    assert not calllog.write_to(handler)
    calllog.line("session %s: new call from %s", "c1", "+4420")
    assert (other if change == "second handler" else handler).stream.getvalue() == expected.replace(
        "18:33", time.strftime("%H:%M", time.localtime(NOW)))


def test_serve_writes_the_lines_directly_when_it_configures_logging() -> None:
    program = ("from ivrflow.runtime import calllog, serve\n"
               "serve.configure_logging('info')\n"
               "print(calllog._direct is not None)\n"
               "calllog.line('session %s: new call from %s', 'c1', '+4420')\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert done.stdout == "True\n"
    assert done.stderr.endswith(" INFO ivrflow.runtime: session c1: new call from +4420\n")
