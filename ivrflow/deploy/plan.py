"""A plan: the ordered API calls that take a platform from what is live to
what the flow says.

Each change is `{"method", "path", "body", "ref", "source"}`. A call that
creates something names it (`ref`); later calls refer to its id as
`{"$ref": "name"}` in a body, or as `{name}` in a path. Ids of things that
already exist are filled in when the plan is made.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..compiler.ir import Span

Op = Literal["create", "update", "delete"]
_PLACEHOLDER = re.compile(r"\{([a-z_]+(?::[^{}]+)?)\}")


#: How a field with no value is shown (never Python's `None`).
UNSET = "unset"


@dataclass(frozen=True)
class FieldChange:
    """One field of an update: what it is live (`before`) and what the flow
    wants (`after`); None is a field with no value. A `secret` field's
    values are never kept, only that it differs."""

    field: str
    before: Any
    after: Any
    secret: bool = False

    def to_dict(self) -> dict[str, Any]:
        if self.secret:
            return {"field": self.field, "secret": True}
        return {"field": self.field, "before": self.before, "after": self.after}

    def text(self, *, full: bool = False) -> str:
        """`timeout 5000 → 6000`; long values that share a beginning are cut to
        where they differ (`url …sig=ab12 → …sig=cd34`) unless `full`."""
        if self.secret:
            return f"{self.field} (changed, not shown)"
        before, after = show_value(self.before), show_value(self.after)
        if not full:
            before, after = _cut(before, after)
        return f"{self.field} {before} → {after}"


def show_value(value: Any) -> str:
    """A value as a plan shows it: `unset` for none, strings as they are,
    anything else as compact JSON."""
    if value is None or value == "":
        return UNSET
    if isinstance(value, dict) and set(value) == {"$ref"}:
        return f"(the id of {value['$ref']}, made by this plan)"
    if isinstance(value, dict) and set(value) == {"$secret"}:
        return f"(the secret {value['$secret']})"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), sort_keys=True)


def _cut(before: str, after: str, keep: int = 10, width: int = 48) -> tuple[str, str]:
    if len(before) <= width and len(after) <= width:
        return before, after
    common = 0
    for a, b in zip(before, after, strict=False):
        if a != b:
            break
        common += 1
    # Start at the piece of the value that differs: after the last `&`, `?`,
    # `/`, `,` or space before the difference, or `keep` characters before it.
    boundary = max(before.rfind(mark, 0, common) for mark in "&?/, ")
    start = boundary + 1 if boundary >= 0 and common - boundary <= 3 * keep else max(0, common - keep)
    before, after = (("…" if start else "") + text[start:] for text in (before, after))
    return tuple(text if len(text) <= width else text[:width - 1] + "…" for text in (before, after))  # type: ignore[return-value]


def field_changes(before: Mapping[str, Any], after: Mapping[str, Any], keys: Iterable[str] | None = None
                  ) -> list[FieldChange]:
    """The fields of `after` (or `keys`) whose value differs in `before`."""
    return [FieldChange(key, before.get(key), after.get(key)) for key in (keys if keys is not None else after)
            if before.get(key) != after.get(key)]


@dataclass
class Change:
    op: Op
    kind: str  # "context", "rule", "sound", … in the platform's words
    key: str  # what it is, stable across runs: "context:main", "rule:main/1#0"
    method: str
    path: str
    body: Any = None
    ref: str | None = None  # the name later calls use for the id this call creates
    source: Span | None = None  # the line of the flow that asked for it
    detail: list[str] = field(default_factory=list)  # for updates: "timeout: 5000 → 8000"
    upload: str | None = None  # a file sent as multipart `file` (a path relative to the flow)
    diff: list[FieldChange] = field(default_factory=list)  # for updates: field by field

    def __post_init__(self) -> None:
        if self.diff and not self.detail:
            self.detail = [change.text() for change in self.diff]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"method": self.method, "path": self.path, "body": self.body, "ref": self.ref,
                                "source": {"file": self.source.file, "line": self.source.line} if self.source else None}
        if self.upload:
            data["upload"] = self.upload
        return data

    def describe(self) -> str:
        return f"{self.op} {self.kind} {self.key.split(':', 1)[-1]}"


@dataclass(frozen=True)
class Unmanaged:
    """Something on the platform, where the flow's objects are, that ivrflow did
    not make: left alone unless the deploy is told to adopt it."""

    kind: str
    key: str  # stable across runs (a rule by its id, not its position)
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "key": self.key, "reason": self.reason}


@dataclass
class Plan:
    target: str
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # placeholders used, and such
    unmanaged: list[Unmanaged] = field(default_factory=list)

    def count(self, op: Op) -> int:
        return sum(c.op == op for c in self.changes)

    @property
    def writes(self) -> int:
        return len(self.changes)

    def summary(self) -> dict[str, Any]:
        """`plan --format json`: {"create": N, "update": N, "delete": N, "changes": [...],
        "unmanaged": [...]}."""
        return {
            "create": self.count("create"), "update": self.count("update"), "delete": self.count("delete"),
            "changes": [{"op": c.op, "kind": c.kind, "key": c.key, **c.to_dict(), "detail": c.detail,
                         "diff": [d.to_dict() for d in c.diff]} for c in self.changes],
            "unmanaged": [u.to_dict() for u in self.unmanaged],
        }

    def calls(self) -> list[dict[str, Any]]:
        """plan.json: the calls alone."""
        return [c.to_dict() for c in self.changes]


def resolve(value: Any, ids: Mapping[str, Any], *, partial: bool = False) -> Any:
    """Replace `{"$ref": name}` in a body by the id it names (`partial`: only
    the ids known, leaving the others for the deploy)."""
    if isinstance(value, dict):
        if set(value) == {"$ref"}:
            name = value["$ref"]
            if name not in ids:
                if partial:
                    return value
                raise KeyError(name)
            return ids[name]
        return {k: resolve(v, ids, partial=partial) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, ids, partial=partial) for v in value]
    if isinstance(value, str) and "{" in value:
        return resolve_path(value, ids)
    return value


def resolve_path(path: str, ids: Mapping[str, Any]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in ids:
            return match.group(0)
        return str(ids[name])
    return _PLACEHOLDER.sub(replace, path)


def refs_in(changes: Iterable[Change]) -> set[str]:
    text = json.dumps([[c.path, c.body] for c in changes])
    return set(re.findall(r'"\$ref": "([^"]+)"', text)) | set(_PLACEHOLDER.findall(text))
