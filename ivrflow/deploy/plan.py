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
            "changes": [{"op": c.op, "kind": c.kind, "key": c.key, **c.to_dict(), "detail": c.detail}
                        for c in self.changes],
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
