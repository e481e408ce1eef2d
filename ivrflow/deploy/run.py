"""`ivrflow plan` and `ivrflow deploy`: read what is live, show the difference,
apply it with a progress bar, and say how it went."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..compiler import ir
from .http import NotConverged, Rejected, Stats
from .plan import Change, Plan, show_value

OP_STYLE = {"create": "green", "update": "yellow", "delete": "red"}


def group_of(change: Change, flow: ir.Flow | None) -> str:
    """What part of the flow a change belongs to: `menu main`, `route hours`,
    `prompt hello`, `flow NAME` (settings of the flow as a whole), or `no
    longer in the flow` for what is deleted because the flow dropped it."""
    if flow is not None and change.source is not None:
        # Blocks do not nest and an item's span is its first line: the line
        # belongs to the last definition that starts at or before it.
        line = change.source.line
        items: list[ir.Menu | ir.Route | ir.Prompt] = [*flow.menus, *flow.routes, *flow.prompts]
        before = [item for item in items if item.span.line <= line]
        header = flow.header.span.line if flow.header is not None else 0
        if before:
            item = max(before, key=lambda i: i.span.line)
            if item.span.line >= header:
                return f"{_KIND[type(item).__name__]} {item.name}"
        if flow.header is not None and header <= line:
            return f"flow {flow.name}"
    name = re.split(r"[/#: ]", change.key.split(":", 1)[-1], maxsplit=1)[0]
    named = flow.names.get(name) if flow is not None else None
    if named is not None and type(named).__name__ in _KIND:
        return f"{_KIND[type(named).__name__]} {name}"
    if change.kind in ("ivr", "extension", "manifest"):
        return f"flow {flow.name}" if flow is not None else "the flow"
    return "no longer in the flow" if change.op == "delete" else change.kind


_KIND = {"Menu": "menu", "Route": "route", "Prompt": "prompt"}


def groups(plan: Plan, flow: ir.Flow | None) -> dict[str, dict[str, int]]:
    """Per part of the flow (in the order the plan first touches it), how many
    changes of each kind: {"menu main": {"create": 2, "update": 1, "delete": 0}}."""
    found: dict[str, dict[str, int]] = {}
    for change in plan.changes:
        counts = found.setdefault(group_of(change, flow), {"create": 0, "update": 0, "delete": 0})
        counts[change.op] += 1
    return dict(sorted(found.items(), key=lambda item: _place(item[0], flow)))


def _place(group: str, flow: ir.Flow | None) -> tuple[int, int]:
    """Groups in the flow's order: the flow's own settings, then its menus,
    routes and prompts as the file has them, then what it no longer has."""
    kind, _, name = group.partition(" ")
    if kind == "flow":
        return (0, 0)
    item = flow.names.get(name) if flow is not None and kind in _KIND.values() else None
    if item is not None:
        return (1, item.span.line)
    return (2, 0) if group != "no longer in the flow" else (3, 0)


def summary(plan: Plan, flow: ir.Flow | None) -> dict[str, Any]:
    """`--format json`: Plan.summary() with each change's group and the groups' counts."""
    data = plan.summary()
    for entry, change in zip(data["changes"], plan.changes, strict=True):
        entry["group"] = group_of(change, flow)
    data["groups"] = [{"group": name, **counts} for name, counts in groups(plan, flow).items()]
    return data


def _counts(counts: dict[str, int]) -> str:
    words = {"create": "to create", "update": "to update", "delete": "to delete"}
    return ", ".join(f"{n} {words[op]}" for op, n in counts.items() if n)


_SIGN = {"create": "+", "update": "~", "delete": "-"}


def print_plan(plan: Plan, fmt: str, title: str, flow: ir.Flow | None = None, detail: bool = False,
               verb: str = "plan") -> None:
    """The plan for people: what is changed, grouped by the part of the flow
    it belongs to (with counts), then one line per change with what differs;
    `detail`: every field."""
    if fmt == "json":
        click.echo(json.dumps(summary(plan, flow), indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False, soft_wrap=True)
    if not plan.changes and not plan.unmanaged:
        console.print(f"{title}: nothing to change, the platform matches the flow" if verb == "plan"
                      else f"{title}: nothing of ivrflow's is there")
        for note in plan.notes:
            console.print(f"note: {escape(note)}")
        return
    console.print(f"[bold]{escape(title)}[/]")
    by_group = groups(plan, flow)
    width = max((len(name) for name in by_group), default=0)
    for name, counts in by_group.items():
        console.print(f"  {escape(name.ljust(width))}  {_counts(counts)}")
    for name in by_group:
        console.print(f"\n[bold]{escape(name)}[/]")
        for change in plan.changes:
            if group_of(change, flow) == name:
                _print_change(console, change, detail)
    if plan.unmanaged:
        console.print("\n[bold]unmanaged[/]")
        for unmanaged in plan.unmanaged:
            console.print(f"  [dim]= keep[/] {escape(unmanaged.kind)} {escape(unmanaged.key.split(':', 1)[-1])}: "
                          f"unmanaged, left alone: {escape(unmanaged.reason)}")
    console.print(f"\n{plan.count('create')} to create, {plan.count('update')} to update, "
                  f"{plan.count('delete')} to delete")
    for note in plan.notes:
        console.print(f"note: {escape(note)}")


def _print_change(console: Any, change: Change, detail: bool) -> None:
    from rich.markup import escape

    line = f" (line {change.source.line})" if change.source else ""
    name = change.key.split(":", 1)[-1]
    what = change.kind if name == change.kind else f"{change.kind} {name}"
    head = f"  [{OP_STYLE[change.op]}]{_SIGN[change.op]} {change.op}[/] {escape(what)}{line}"
    if not detail:
        what = "; ".join(change.detail)
        console.print(head + (f": {escape(what)}" if what else ""))
        return
    console.print(head)
    if change.diff:
        for field_change in change.diff:
            console.print(f"      {escape(field_change.text(full=True))}")
    elif change.detail:
        for text in change.detail:
            console.print(f"      {escape(text)}")
    elif change.op == "create" and isinstance(change.body, dict):
        for key, value in change.body.items():
            console.print(f"      {escape(key)} {escape(show_value(value))}")
    if change.upload:
        console.print(f"      file {escape(change.upload)}")
    console.print(f"      [dim]{change.method} {escape(change.path)}[/]")


def print_calls(plan: Plan) -> None:
    """--dry-run: the calls, one per line, as they would be sent (ids not yet known stay refs)."""
    for change in plan.changes:
        body = "" if change.body is None else " " + json.dumps(change.body, ensure_ascii=False)
        upload = f" file={change.upload}" if change.upload else ""
        click.echo(f"{change.method} {change.path}{body}{upload}")


def apply(plan: Plan, send: Callable[[Change, dict[str, Any]], None], ids: dict[str, Any],
          progress: bool = True) -> None:
    """Apply the changes in order; a create's id is recorded for later calls."""
    if not progress or not sys.stderr.isatty():
        for change in plan.changes:
            _one(send, change, ids)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  transient=True) as bar:
        task = bar.add_task("deploying", total=len(plan.changes))
        for change in plan.changes:
            bar.update(task, description=change.describe()[:40])
            _one(send, change, ids)
            bar.advance(task)


def _one(send: Callable[[Change, dict[str, Any]], None], change: Change, ids: dict[str, Any]) -> None:
    try:
        send(change, ids)
    except Rejected as error:
        error.change = change  # so the CLI can point at the flow's line
        raise


def describe_stats(stats: Stats) -> str:
    paused = f"; paused {stats.paused:.0f} s (rate limit, retries)" if stats.paused >= 0.5 else ""
    return f"{stats.requests} requests ({stats.writes} writes, {stats.retries} retried){paused}"


def verify(plan: Plan, replan: Callable[[], Plan]) -> None:
    """Read the platform again after applying `plan`: NotConverged unless it
    now matches the flow (no change left, and nothing unmanaged that was not
    there before, as a create that landed twice would be)."""
    if not plan.changes:
        return
    after = replan()
    new = [u for u in after.unmanaged if u not in plan.unmanaged]
    if after.changes or new:
        left = [change.describe() for change in after.changes] + [f"{u.kind} {u.key} appeared" for u in new]
        shown = "; ".join(left[:5]) + (f"; … {len(left) - 5} more" if len(left) > 5 else "")
        raise NotConverged(f"every call went through, but the platform does not match the flow afterwards "
                           f"({len(left)} difference(s): {shown}); run the deploy again")


# --- saved plans (`plan -out FILE`, `deploy FILE.plan`) ------------------------------------------

SAVED_FORMAT = 1


class SavedPlanError(Exception):
    """A saved plan that cannot be applied: said in one line."""


def file_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def flow_digest(flow_path: str, prompt_sources: dict[str, bytes]) -> str:
    """The flow file and every recording it plays, as one sha256."""
    digest = hashlib.sha256(Path(flow_path).read_bytes())
    for name, data in sorted(prompt_sources.items()):
        digest.update(b"\0" + name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()


def live_fingerprint(plan: Plan) -> str:
    """What the platform was when `plan` was made, as ivrflow reads it: the
    plan itself made against it (every call with the live ids in its path,
    every field that differs, what is left alone). Any change on the platform
    to what the flow's objects are or hold changes this."""
    calls = [[c.op, c.kind, c.key, c.method, c.path, c.body, c.ref, c.upload,
              [d.to_dict() for d in c.diff]] for c in plan.changes]
    text = json.dumps({"calls": calls, "unmanaged": [u.to_dict() for u in plan.unmanaged]},
                      sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def plan_differences(saved: dict[str, Any], now: Plan, most: int = 5) -> list[str]:
    """What differs between a saved plan and the plan made now, in words:
    `update context main: timeout 9000 → 6000 (planned: timeout 5000 → 6000)`."""
    def key(change: dict[str, Any]) -> str:
        return f"{change.get('op')} {change.get('kind')} {str(change.get('key', '')).split(':', 1)[-1]}"

    def content(change: dict[str, Any]) -> str:
        return json.dumps({k: change.get(k) for k in ("method", "path", "body", "diff", "upload")},
                          sort_keys=True, default=str)

    planned = {key(c): c for c in saved.get("changes") or [] if isinstance(c, dict)}
    current = {key(c): c for c in summary(now, None)["changes"]}
    found = []
    for name, change in current.items():
        if name not in planned:
            found.append(f"now also: {name}")
        elif content(change) != content(planned[name]):
            was, is_now = "; ".join(planned[name].get("detail") or []), "; ".join(change.get("detail") or [])
            found.append(f"{name}: {is_now} (planned: {was})" if was != is_now else f"{name} differs")
    found += [f"no longer needed: {name}" for name in planned if name not in current]
    if len(saved.get("unmanaged") or []) != len(now.unmanaged):
        found.append(f"unmanaged objects: {len(now.unmanaged)} (planned: {len(saved.get('unmanaged') or [])})")
    return found[:most] + ([f"… {len(found) - most} more"] if len(found) > most else [])


def write_saved(path: Path, *, plan: Plan, flow: ir.Flow, flow_path: str, digest: str, env_name: str,
                config_file: str, target: str, dial: str, secrets: list[str], adopt: bool = False) -> None:
    """Write the plan as JSON. Secret values never go in: bodies carry
    `{"$secret": …}` markers, and the file is refused if any of `secrets`
    (the environment's) would appear in it."""
    document = {
        "ivrflow_plan": SAVED_FORMAT, "flow": str(Path(flow_path).resolve()), "flow_name": flow.name,
        "flow_file_sha256": file_digest(flow_path), "flow_sha256": digest, "adopt": adopt, "env": env_name,
        "config": str(Path(config_file).resolve()), "target": target,
        "live_fingerprint": live_fingerprint(plan), "dial": dial, **summary(plan, flow),
    }
    text = json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"
    if any(len(secret) >= 4 and secret in text for secret in secrets):
        raise SavedPlanError("the plan would contain the value of one of the environment's secrets; "
                             "nothing was written")
    path.write_text(text, encoding="utf-8")


def read_saved(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SavedPlanError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SavedPlanError(f"cannot read the saved plan {path}: {error}") from None
    except json.JSONDecodeError:
        raise SavedPlanError(f"{path} is not a saved plan (`ivrflow plan --out FILE` writes one)") from None
    keys = ("flow", "flow_sha256", "env", "target", "live_fingerprint", "config")
    if not isinstance(document, dict) or document.get("ivrflow_plan") != SAVED_FORMAT or \
            not all(isinstance(document.get(k), str) for k in keys):
        raise SavedPlanError(f"{path} is not a saved plan of this version of ivrflow "
                             "(`ivrflow plan --out FILE` writes one)")
    return document
