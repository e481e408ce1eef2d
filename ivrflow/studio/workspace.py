"""The files a studio shows, each checked and drawn again whenever it, one
of its includes or one of its prompt files changes on disk."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..compiler import Checked
from ..loader import LoadError, load
from . import view

log = logging.getLogger("ivrflow.studio")

#: How long watchfiles gathers changes before reporting them (an editor's save
#: is a burst of writes and renames), and how long it waits for more.
DEBOUNCE_MS = 400
STEP_MS = 30
#: Events a slow page may fall behind by before it misses some (it can fetch the file again).
QUEUE_EVENTS = 64


@dataclass(frozen=True, slots=True)
class FileState:
    """One file as the studio shows it now. `drawing` is the last diagram
    drawn, kept while later versions have errors (`stale`)."""

    id: str
    path: str
    version: int
    checked: Checked | None
    drawing: view.Drawing | None
    stale: bool
    problem: str | None  # the file could not be read, or Graphviz failed
    watched: frozenset[str]  # the real paths whose change reloads it

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "stale": self.stale}


class Workspace:
    """The files given to `ivrflow studio`, by id (`f0`, `f1`, …), and the pages listening for changes."""

    def __init__(self, paths: Iterable[Path | str], editor_url: str | None = None):
        self.editor_url = editor_url
        self.files: dict[str, FileState] = {}
        self._listeners: set[asyncio.Queue[dict[str, Any] | None]] = set()
        for index, path in enumerate(paths):
            fid = f"f{index}"
            empty = FileState(fid, str(path), 0, None, None, False, None, frozenset({_real(str(path))}))
            self.files[fid] = self._next(empty)

    # --- checking ---------------------------------------------------------------------

    def reload(self, fid: str) -> FileState:
        """Check and draw the file again (blocking: Graphviz may take seconds)."""
        state = self._next(self.files[fid])
        self.files[fid] = state
        return state

    def _next(self, state: FileState) -> FileState:
        version = state.version + 1
        try:
            checked = load(state.path)
        except LoadError as error:  # gone for a moment while an editor saves: keep what was shown
            return dataclasses.replace(state, version=version, stale=True, problem=str(error))
        watched = _watched(checked)
        drawing, problem = state.drawing, None
        if checked.flow is not None and (checked.ok or drawing is None):
            try:
                drawing = view.draw(checked, self.editor_url, drawing)
            except view.RenderError as error:
                problem = str(error)
        return FileState(state.id, state.path, version, checked, drawing, not checked.ok, problem, watched)

    # --- what the page reads ------------------------------------------------------------

    def listing(self) -> list[dict[str, Any]]:
        return [{"id": s.id, "path": s.path, "name": Path(s.path).name,
                 "title": view.title(s.checked) if s.checked is not None else Path(s.path).name}
                for s in self.files.values()]

    def document(self, fid: str) -> dict[str, Any]:
        """GET /api/files/{fid} (docs/studio-api.md)."""
        state = self.files[fid]
        drawing = state.drawing
        checked = state.checked
        return {
            "id": fid, "path": state.path, "name": Path(state.path).name, "version": state.version,
            "stale": state.stale, "problem": state.problem,
            "title": view.title(checked) if checked is not None else Path(state.path).name,
            "svg": drawing.svg if drawing is not None else None,
            "diagnostics": view.diagnostics(checked.diagnostics, self.editor_url) if checked is not None else [],
            "nodes": drawing.nodes if drawing is not None else {},
            "edges": drawing.edges if drawing is not None else [],
            "tests": len(drawing.checked.flow.tests) if drawing is not None and drawing.checked.flow else 0,
        }

    # --- pages listening ------------------------------------------------------------------

    def subscribe(self) -> asyncio.Queue[dict[str, Any] | None]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE_EVENTS)
        self._listeners.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        self._listeners.discard(queue)

    def publish(self, state: FileState) -> None:
        for queue in list(self._listeners):
            if not queue.full():  # a page that reads nothing misses events; it can fetch the file again
                queue.put_nowait(state.summary())

    def close(self) -> None:
        """Tell every listening page the server is stopping."""
        for queue in list(self._listeners):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(None)

    # --- watching ---------------------------------------------------------------------------

    def folders(self) -> list[str]:
        """What to watch: each flow's folder (includes and prompt files must be in it or below it)."""
        return sorted({os.path.dirname(_real(s.path)) for s in self.files.values()})

    async def watch(self, stop: asyncio.Event) -> None:
        """Check again and publish each file whose own, included or prompt files changed, until `stop`."""
        from watchfiles import awatch

        async for changes in awatch(*self.folders(), stop_event=stop, debounce=DEBOUNCE_MS, step=STEP_MS,
                                    raise_interrupt=False):
            changed = {_real(path) for _, path in changes}
            for fid, state in list(self.files.items()):
                if state.watched & changed:
                    try:
                        fresh = await asyncio.to_thread(self.reload, fid)
                    except Exception:  # a bug must not stop the watching of every file
                        log.exception("checking %s failed", state.path)
                        continue
                    self.publish(fresh)


def _real(path: str) -> str:
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return os.path.abspath(path)


def _watched(checked: Checked) -> frozenset[str]:
    """The flow file, the files it includes and its prompt files, as real paths."""
    found = {_real(checked.file)} | {_real(name) for name in checked.sources}
    if checked.flow is not None:
        base = Path(checked.file).parent
        found |= {_real(str(base / value)) for value in view.prompt_files(checked.flow)}
    return frozenset(found)
