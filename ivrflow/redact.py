"""Secrets never appear in output, logs, plans or artifacts: every secret read
from the environment is registered here, and everything printed or logged
passes through `redact`."""

from __future__ import annotations

import logging
import threading

_secrets: set[str] = set()
_lock = threading.Lock()
MASK = "***"


def register(value: str) -> str:
    """Remember a secret (short values are not masked: they would mangle text)."""
    if len(value) >= 4:
        with _lock:
            _secrets.add(value)
    return value


def redact(text: str) -> str:
    if not _secrets:
        return text
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that masks registered secrets in every record, once:
    a record filtered at its logger is not scanned again at the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets and not getattr(record, "ivrflow_redacted", False):
            message = record.getMessage()
            record.msg, record.args = redact(message), None
            record.ivrflow_redacted = True
        return True


def install_log_filter(*names: str) -> None:
    for name in names or ("",):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
