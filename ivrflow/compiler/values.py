"""Reading the values a user writes: durations, times, dates, masks, keys.

Each reader returns `(value, problem)`: a problem is a sentence for the user
(reported as IVR004 with the value's position), never an exception.
"""

from __future__ import annotations

import datetime as dt
import functools
import re

Result = tuple[object, str | None]

_DURATION = re.compile(r"(\d+)(ms|s|m|h)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_KEY = re.compile(r"[0-9*#]+")
_DESTINATION = re.compile(r"\+?[0-9*#]+|sips?:[^\s@]+@?[^\s]*")
_URL = re.compile(r"https?://[^\s/]+\S*")
_MASK_PART = re.compile(r"\+?[0-9*]+")


#: The longest duration a flow may give (a day): anything longer is a typo,
#: and platforms that render silence (PortSIP's answer-delay) would write it out.
MAX_DURATION_MS = 24 * 3600 * 1000
#: `answer-delay` rings before the call is answered; a caller gives up long before a minute.
MAX_ANSWER_DELAY_MS = 60 * 1000


def duration(text: str, *, allow_zero: bool = False, most: int = MAX_DURATION_MS) -> Result:
    """`500ms`, `5s`, `2m`, `1h` → milliseconds, at most `most`."""
    match = _DURATION.fullmatch(text)
    if match is None:
        unit = text.lstrip("0123456789")
        if not unit:
            return None, f"`{text[:40]}` has no unit: write `{text[:40]}s` for seconds or `{text[:40]}ms`"
        return None, f"`{text[:40]}`: unknown unit `{unit[:20]}`; use ms, s, m or h (such as `5s`)"
    digits = match.group(1).lstrip("0") or "0"
    ms = int(digits) * _UNIT_MS[match.group(2)] if len(digits) <= 12 else most + 1
    if ms == 0 and not allow_zero:
        return None, "a duration of zero would end at once; give at least 1ms"
    if ms > most:
        return None, f"`{text[:40]}` is longer than {_spoken(most)}, the most this setting takes"
    return ms, None


def _spoken(ms: int) -> str:
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def count(text: str, *, low: int, high: int, what: str) -> Result:
    if len(text.lstrip("0")) > len(str(high)):  # int() refuses numbers of more than 4,300 digits
        return None, f"{what} must be between {low} and {high}, not {text[:20]}{'…' if len(text) > 20 else ''}"
    number = int(text)
    if not low <= number <= high:
        return None, f"{what} must be between {low} and {high}, not {number}"
    return number, None


def time_range(text: str) -> Result:
    """`09:00-18:00` → (540, 1080) minutes after midnight; `24:00` may end a range."""
    start_text, end_text = text.split("-")
    start, problem = _clock(start_text, allow_24=False)
    if problem:
        return None, problem
    end, problem = _clock(end_text, allow_24=True)
    if problem:
        return None, problem
    assert isinstance(start, int) and isinstance(end, int)
    if end <= start:
        return None, (f"`{text}` ends before it starts; for a range past midnight "
                      "write two lines, one ending at 24:00 and one starting at 00:00")
    return (start, end), None


def _clock(text: str, *, allow_24: bool) -> Result:
    hours, minutes = (int(part) for part in text.split(":"))
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes or not allow_24)):
        return None, f"`{text}` is not a time of day (00:00 to 24:00)"
    return hours * 60 + minutes, None


def days(text: str) -> tuple[int, ...]:
    """`mon-fri` → (0, 1, 2, 3, 4); a range may wrap past Sunday (`fri-mon`)."""
    first, _, last = text.partition("-")
    start = DAY_NAMES.index(first)
    end = DAY_NAMES.index(last) if last else start
    return tuple((start + i) % 7 for i in range((end - start) % 7 + 1))


def date(text: str) -> Result:
    year, month, day = (int(part) for part in text.split("-"))
    try:
        return dt.date(year, month, day), None
    except ValueError:
        return None, f"`{text}` is not a date (YYYY-MM-DD)"


#: Longer than any IANA zone name ("America/Argentina/ComodRivadavia" is 32).
MAX_ZONE_NAME = 64


@functools.cache
def timezone(name: str) -> Result:
    import zoneinfo  # only flows with hours pay for it

    try:
        if len(name) > MAX_ZONE_NAME:  # no zone is that long; the file system would refuse the lookup
            raise ValueError(name)
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError, RecursionError):
        import difflib

        close = difflib.get_close_matches(name, sorted(zoneinfo.available_timezones()), n=1)
        suggestion = f"; did you mean \"{close[0]}\"?" if close else " (such as \"Europe/Moscow\")"
        return None, f"`{name[:80]}` is not an IANA time zone{suggestion}"
    return name, None


def moment(text: str) -> Result:
    """`2026-11-23 10:00` (wall clock where the hours are), optionally with
    `Z`, an offset such as `+03:00`, or an IANA zone after a space."""
    base, zone = text, None
    head, _, tail = text.rpartition(" ")
    if head and ("/" in tail or tail == "UTC"):
        base, zone = head, tail
    try:
        value = dt.datetime.fromisoformat(base)
    except ValueError:
        return None, f"`{text}` is not a date and time such as \"2026-11-23 10:00\""
    if zone is not None:
        name, problem = timezone(zone)
        if problem:
            return None, problem
        import zoneinfo

        value = value.replace(tzinfo=zoneinfo.ZoneInfo(str(name)))
    return value, None


def key(text: str) -> Result:
    if not _KEY.fullmatch(text):
        return None, f"`{text}` is not a key: use digits, `*` and `#`"
    return text, None


_PATTERN = re.compile(r"[0-9*#XNZ]+")


def press_key(text: str) -> Result:
    """A menu's key: `1`, `"#"`, a range `1000-1019` or a pattern `"7XXX"`."""
    low, dash, high = text.partition("-")
    if dash:
        if not (low.isdigit() and high.isdigit()) or len(low) != len(high):
            return None, f"`{text}`: a range of keys needs two numbers of the same length, such as 1000-1019"
        if low > high:  # digits of equal length compare as numbers (int() refuses 4,300 digits)
            return None, f"`{text}`: the range starts after it ends"
        return text, None
    if _KEY.fullmatch(text):
        return text, None
    if _PATTERN.fullmatch(text):
        return text, None
    return None, (f"`{text}` is not a key: use digits, `*` and `#`, a range such as 1000-1019, "
                  "or a pattern with X (any digit), N (2-9) and Z (1-9)")


def end_key(text: str) -> Result:
    if text not in ("#", "*") and not (len(text) == 1 and text.isdigit()):
        return None, f"`{text}` is not one key: an end key is `#`, `*` or one digit"
    return text, None


#: The most keys an entry may have (`digits`).
MAX_DIGITS = 20


def digit_count(text: str) -> Result:
    """`digits 3` → 3; `digits 6-10` → (6, 10) (a collect's fewest and most)."""
    low, dash, high = text.partition("-")
    if not dash:
        return count(text, low=1, high=MAX_DIGITS, what="digits")
    _, problem = count(low, low=1, high=MAX_DIGITS, what="digits")
    if problem is None:
        _, problem = count(high, low=1, high=MAX_DIGITS, what="digits")
    if problem is not None:
        return None, problem
    if int(low) > int(high):
        return None, f"`digits {text}`: the fewest ({int(low)}) is more than the most ({int(high)})"
    return (int(low), int(high)), None


#: `{name}` or `{name:digits}` in a say text, a `set` value or a destination.
TEMPLATE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(digits))?\}")


def template_names(text: str) -> list[str]:
    """The variables a text inserts, in order."""
    return [m.group(1) for m in TEMPLATE.finditer(text)] if "{" in text else []


def fill(text: str, variables: dict[str, str]) -> str:
    """A text with its variables inserted; one that is not set inserts nothing,
    `{name:digits}` separates the characters with spaces ("1 2 3 4")."""
    if "{" not in text:
        return text

    def value(match: re.Match[str]) -> str:
        found = variables.get(match.group(1), "")
        return " ".join(found) if match.group(2) else found
    return TEMPLATE.sub(value, text)


def destination(text: str) -> Result:
    if "{" in text:  # checked with each variable standing in for a digit
        return destination(TEMPLATE.sub("1", text)) if TEMPLATE.search(text) else (
            None, f"`{text}`: write a variable as {{name}}")
    if not _DESTINATION.fullmatch(text):
        return None, (f"`{text}` is not an extension, a phone number (+4420…) "
                      "or a sip: URI")
    return text, None


def url(text: str) -> Result:
    if not _URL.fullmatch(text):
        return None, f"`{text}` is not an http:// or https:// URL"
    return text, None


def caller_mask(text: str) -> str | None:
    """The problem with a caller mask, or None: `*` is one digit, `;` separates
    alternatives, `A-B` is a range of numbers of equal length, `ALL` is anyone."""
    for part in text.split(";"):
        part = part.strip()
        if part == "ALL":
            continue
        low, dash, high = part.partition("-")
        if dash:
            low, high = low.lstrip("+"), high.lstrip("+")
            if not (low.isdigit() and high.isdigit()) or len(low) != len(high):
                return f"`{part}`: a range needs two numbers of the same length"
            if low > high:  # digits of equal length compare as numbers (int() refuses 4,300 digits)
                return f"`{part}`: the range starts after it ends"
        elif not _MASK_PART.fullmatch(part):
            return (f"`{part}` is not a caller mask: use digits, `*` for any digit, "
                    "`;` between alternatives, `A-B` for a range or ALL")
    return None


def unquote(text: str) -> str:
    """A STRING token's text without its quotes, with `\\"` and `\\\\` undone."""
    body = text[1:-1]
    if "\\" not in body:
        return body
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)
