"""The runtime's line for each event of a call (a new call, a route taken,
a transfer, a hang-up): INFO on the `ivrflow.runtime` logger.

Lines go through `logging` unless `ivrflow serve`, which configures the
process's logging itself, hands over the stream handler it installed
(`write_to`). The lines are then written to that handler's stream directly,
in the same format, redacted and only at the levels that would let the
record through. One such line per call went through logging's records,
filters, handlers and formatter at about a tenth of a saturated server's
throughput; written directly, about a fiftieth (docs/performance.md, "The
line per call, written directly").
Every other record (warnings, refusals, errors) still goes through logging.
"""

from __future__ import annotations

import logging
import time

from ..redact import RedactingFilter, redact

log = logging.getLogger("ivrflow.runtime")

#: A log line of `ivrflow serve`: when, how bad, where from, what. The only
#: format the direct writer reproduces.
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _Direct:
    """Writes INFO lines of `log` to a StreamHandler's stream, as its formatter would."""

    def __init__(self, handler: logging.StreamHandler, formatter: logging.Formatter) -> None:
        self.handler = handler
        self.converter = formatter.converter
        self.time_format = formatter.default_time_format
        self.msec_format = formatter.default_msec_format or ""  # never empty: _alike
        self.prefix = f" {logging.getLevelName(logging.INFO)} {log.name}: "
        self.second = -1
        self.second_text = ""

    def asctime(self, now: float) -> str:
        """logging.Formatter.formatTime's text (no datefmt), the second's part made once a second."""
        second = int(now)
        if second != self.second:
            self.second, self.second_text = second, time.strftime(self.time_format, self.converter(second))
        return self.msec_format % (self.second_text, int((now - second) * 1000))

    def write(self, text: str) -> None:
        handler = self.handler
        if handler.level > logging.INFO:
            return
        line = f"{self.asctime(time.time())}{self.prefix}{redact(text)}\n"
        with handler.lock:  # type: ignore[union-attr]
            handler.stream.write(line)
            handler.stream.flush()


_direct: _Direct | None = None


def line(message: str, *args: object) -> None:
    """Log `message % args`, a call's event, at INFO on `ivrflow.runtime`."""
    if not log.isEnabledFor(logging.INFO):
        return
    if _direct is None:
        log.info(message, *args)
    else:
        _direct.write(message % args if args else message)


def write_to(handler: logging.StreamHandler | None) -> bool:
    """Write call lines to `handler`'s stream directly (True) when logging
    would write them there alone and alike: it is the only handler a record
    of `log` reaches, its formatter is a plain Formatter of FORMAT with the
    default time format, and the only filters on the way redact. Otherwise,
    or with None, lines go through logging (False)."""
    global _direct
    formatter = handler.formatter if handler is not None else None
    _direct = _Direct(handler, formatter) if handler is not None and formatter is not None and \
        _alike(handler, formatter) else None
    return _direct is not None


def _alike(handler: logging.StreamHandler, formatter: logging.Formatter) -> bool:
    if type(formatter) is not logging.Formatter or formatter._fmt != FORMAT or formatter.datefmt is not None \
            or not formatter.default_msec_format:
        return False
    handlers: list[logging.Handler] = []
    logger: logging.Logger | None = log
    while logger is not None:
        handlers += logger.handlers
        logger = logger.parent if logger.propagate else None
    filters = [*log.filters, *handler.filters]
    return handlers == [handler] and all(isinstance(f, RedactingFilter) for f in filters)
