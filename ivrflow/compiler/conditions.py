"""The two things a route can ask: is it open, and who is calling."""

from __future__ import annotations

import datetime as dt
import functools

from . import ir


def is_open(hours: ir.Hours, moment: dt.datetime) -> bool:
    """Whether `moment` falls in the hours. A naive `moment` is wall-clock time
    where the hours are; an aware one is converted to the hours' zone."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(_zone(hours.timezone_name))
    if moment.date() in hours.closed_dates:
        return False
    minute = moment.hour * 60 + moment.minute
    weekday = moment.weekday()
    for days in hours.open:
        if weekday in days.days:
            for start, end in days.ranges:
                if start <= minute < end:
                    return True
    return False


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> dt.tzinfo:
    import zoneinfo

    return zoneinfo.ZoneInfo(name)


def caller_matches(mask: str, caller: str | None) -> bool:
    """DESIGN §2: `*` is any one digit, `;` separates alternatives, `A-B` is an
    inclusive range of numbers of equal length, `ALL` matches anyone (even a
    withheld number, `caller` None). A leading `+` is ignored on both sides."""
    number = (caller or "").lstrip("+")
    for part in mask.split(";"):
        part = part.strip()
        if part == "ALL":
            return True
        if not number:
            continue
        low, dash, high = part.partition("-")
        if dash:
            low, high = low.lstrip("+"), high.lstrip("+")
            # digits of equal length compare as numbers (and int() refuses more than 4,300 digits)
            if number.isascii() and number.isdigit() and len(number) == len(low) and low <= number <= high:
                return True
            continue
        pattern = part.lstrip("+")
        if len(pattern) == len(number) and all(
                (p == "*" and n.isdigit()) or p == n for p, n in zip(pattern, number, strict=True)):
            return True
    return False
