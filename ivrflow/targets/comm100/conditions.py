"""A route's conditions in Comm100's terms: each comparison one condition
of a `Condition` action's case ({fieldName, operator, value}), a caller
mask a regular expression.

A condition that is one comparison, or `and` / `or` of comparisons, is one
case (`conditionExpressionType` all / any); anything else (`not`, nesting)
is a small tree of Condition actions, which compile.py builds from
`split`. What Comm100 cannot ask is a reason (`problem`), reported IVR205.
"""

from __future__ import annotations

import re
from typing import Any

from ...compiler import ir
from . import schema

#: DESIGN §2b's operators as Comm100's (UNOFFICIAL names, schema.CONDITION_OPERATORS).
OPERATORS = {"==": "is", "!=": "isNot", "<": "isLessThan", "<=": "isNotMoreThan", ">": "isMoreThan",
             ">=": "isNotLessThan", "matches": "regularExpression"}
#: Why `called` cannot be asked.
NO_CALLED = "Comm100 tells a voicebot the caller's number, not the number the caller dialled"
#: Why `is set` cannot be asked.
NO_IS_SET = ("Comm100's Condition operators (is, isNot, contains, isMoreThan, regularExpression, …) have none "
             "that tells a variable that is not set from one that is")
#: Why `key` cannot be asked outside the handler of the entry.
NO_KEY = "Comm100 keeps no variable for the keys that chose a menu option"


def problem(condition: ir.Condition) -> str | None:
    """Why Comm100 cannot ask `condition`, or None."""
    for part in ir.walk_condition(condition):
        if isinstance(part, ir.CalledIs) or (isinstance(part, (ir.Compare, ir.IsSet)) and part.name == "called"):
            return NO_CALLED
        if isinstance(part, ir.IsSet):
            return NO_IS_SET
        if isinstance(part, ir.Compare) and part.name == "key":
            return NO_KEY
        if isinstance(part, ir.IsOpen):
            return schema.NO_HOURS
    return None


def field_of(name: str) -> str:
    """The fieldName a variable (or the caller) is asked by."""
    return schema.CALLER_FIELD if name == "caller" else schema.variable_field(name)


def comparison(condition: ir.Condition) -> dict[str, Any] | None:
    """One comparison as a Comm100 condition (without its `order`), or None
    when `condition` is not one."""
    if isinstance(condition, ir.CallerIs):
        return {"fieldName": schema.CALLER_FIELD, "operator": "regularExpression",
                "value": mask_pattern(condition.mask)}
    if isinstance(condition, ir.Compare):
        value = mask_pattern(condition.value) if condition.operator == "matches" else condition.value
        return {"fieldName": field_of(condition.name), "operator": OPERATORS[condition.operator], "value": value}
    return None


def case(condition: ir.Condition) -> tuple[str, list[dict[str, Any]]] | None:
    """(conditionExpressionType, conditions) when `condition` is one case, else None."""
    single = comparison(condition)
    if single is not None:
        return "all", [{**single, "order": 0}]
    if isinstance(condition, (ir.AllOf, ir.AnyOf)):
        items = [comparison(item) for item in condition.items]
        if all(item is not None for item in items):
            return ("all" if isinstance(condition, ir.AllOf) else "any",
                    [{**item, "order": order} for order, item in enumerate(items) if item is not None])
    return None


def mask_pattern(mask: str) -> str:
    """A caller mask (DESIGN §2: `*` one digit, `;` alternatives, `A-B` a
    range of numbers of equal length, `ALL` anyone; a leading + ignored) as
    the regular expression Comm100's `regularExpression` operator takes."""
    parts = []
    for part in mask.split(";"):
        part = part.strip()
        if part == "ALL":
            return "^.*$"
        low, dash, high = part.partition("-")
        if dash:
            parts.append(_range(low.lstrip("+"), high.lstrip("+")))
        else:
            parts.append("".join("[0-9]" if c == "*" else re.escape(c) for c in part.lstrip("+")))
    return r"^\+?(?:" + "|".join(parts) + ")$"


def _range(low: str, high: str) -> str:
    """A regular expression for the numbers low…high, all of their length."""
    if low > high or len(low) != len(high):
        return "(?!)"
    if low == high:
        return low
    if len(low) == 1:
        return f"[{low}-{high}]"
    if low[0] == high[0]:
        return low[0] + "(?:" + _range(low[1:], high[1:]) + ")"
    rest = len(low) - 1
    parts = [low[0] + "(?:" + _range(low[1:], "9" * rest) + ")"]
    if int(high[0]) - int(low[0]) > 1:
        parts.append(f"[{int(low[0]) + 1}-{int(high[0]) - 1}][0-9]{{{rest}}}")
    parts.append(high[0] + "(?:" + _range("0" * rest, high[1:]) + ")")
    return "(?:" + "|".join(parts) + ")"
