"""The test clock: `X-Ivrflow-Clock` sets the time of a call on every
webhook (local trials only, `accept_test_clock`), in the forms `ivrflow
simulate --at` takes: "2026-11-23 10:00" (wall-clock time where the hours
are), with `Z` or an offset such as "+03:00", or with an IANA zone after a
space ("2026-11-23 10:00 Europe/London"). A value it cannot read is a 422."""

from __future__ import annotations

import datetime as dt
import functools

from starlette.requests import Request

from ..compiler import values
from .core import Runtime
from .http import HTTPProblem, header

CLOCK_HEADER = "X-Ivrflow-Clock"
_CLOCK_NAME = CLOCK_HEADER.lower().encode()
#: Longer values are not a date and time; refused before they are parsed.
MAX_CLOCK_CHARS = 64
#: Years a test clock may name: any zone's conversion of them stays within
#: what datetime can hold (year 1 with +14:00 would not).
YEARS = (1900, 9998)


def call_time(request: Request, runtime: Runtime) -> dt.datetime:
    """The time of the call: the header's, when the runtime honours it and
    the request has one, else the runtime's clock."""
    value = header(request, _CLOCK_NAME)
    if value is None or not runtime.accept_test_clock:
        return runtime.clock()
    return parse_clock(value)


def parse_clock(text: str) -> dt.datetime:
    """`text` as the time of a call (the forms `simulate --at` takes); 422 `bad_clock` otherwise."""
    shown = text if len(text) <= MAX_CLOCK_CHARS else text[:MAX_CLOCK_CHARS] + "…"
    if len(text) > MAX_CLOCK_CHARS:
        raise HTTPProblem(422, "bad_clock", f"{CLOCK_HEADER} `{shown}` is not a date and time")
    head, _, zone = text.rpartition(" ")
    if head and ("/" in zone or zone == "UTC") and zone not in _zones():
        # Checked here so that header values never reach the zone cache of the compiler.
        raise HTTPProblem(422, "bad_clock", f"{CLOCK_HEADER}: `{zone}` is not an IANA time zone")
    moment, problem = values.moment(text)
    if problem or not isinstance(moment, dt.datetime):
        raise HTTPProblem(422, "bad_clock", f"{CLOCK_HEADER}: {problem or f'`{shown}` is not a date and time'}")
    try:
        year = moment.astimezone(dt.UTC).year if moment.tzinfo is not None else moment.year
    except (OverflowError, ValueError):
        year = 0
    if not YEARS[0] <= year <= YEARS[1]:
        raise HTTPProblem(422, "bad_clock", f"{CLOCK_HEADER} `{shown}` is out of range "
                                            f"(years {YEARS[0]} to {YEARS[1]})")
    return moment


@functools.cache
def _zones() -> frozenset[str]:
    import zoneinfo

    return frozenset(zoneinfo.available_timezones()) | {"UTC"}
