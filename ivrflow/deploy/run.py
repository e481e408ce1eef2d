"""`ivrflow plan` and `ivrflow deploy`: read what is live, show the difference,
apply it with a progress bar, and say how it went."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from .http import NotConverged, Rejected, Stats
from .plan import Change, Plan

OP_STYLE = {"create": "green", "update": "yellow", "delete": "red"}


def print_plan(plan: Plan, fmt: str, title: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(plan.summary(), indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True)
    if not plan.changes and not plan.unmanaged:
        console.print(f"{title}: nothing to change, the platform matches the flow")
        return
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in ("", "kind", "what", "line", "detail"):
        table.add_column(column)
    for change in plan.changes:
        table.add_row(f"[{OP_STYLE[change.op]}]{change.op}[/]", change.kind, change.key.split(":", 1)[-1],
                      str(change.source.line) if change.source else "", "; ".join(change.detail))
    for unmanaged in plan.unmanaged:
        table.add_row("[dim]keep[/]", unmanaged.kind, unmanaged.key.split(":", 1)[-1], "",
                      f"unmanaged, left alone: {unmanaged.reason}")
    console.print(table)
    console.print(f"{plan.count('create')} to create, {plan.count('update')} to update, "
                  f"{plan.count('delete')} to delete")
    for note in plan.notes:
        console.print(f"note: {note}")


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
    return f"{stats.requests} requests ({stats.writes} writes, {stats.retries} retried)"


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
