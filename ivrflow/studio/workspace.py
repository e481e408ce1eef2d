"""The files a studio shows, each checked and drawn again whenever it, one
of its includes or one of its prompt files changes on disk."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
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
#: A file whose diagram took this long the last time is published twice on a
#: change: checked (new diagnostics, the last diagram), then drawn.
SLOW_DRAWING_SECONDS = 0.5
#: Events a slow page may fall behind by before it misses some (it can fetch the file again).
QUEUE_EVENTS = 64


@dataclass(frozen=True, slots=True)
class FileState:
    """One file as the studio shows it now. `drawing` is the last diagram
    drawn, kept while later versions have errors (`stale`) and while the
    version's own is being drawn (`drawing_next`)."""

    id: str
    path: str
    version: int
    checked: Checked | None
    drawing: view.Drawing | None
    stale: bool
    problem: str | None  # the file could not be read, or Graphviz failed
    watched: Mapping[str, Stamp]  # the real paths whose change reloads it, with their stamps when read
    drawing_next: bool = False  # checked, and its diagram is on its way (a later version brings it)

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "stale": self.stale, "drawing": self.drawing_next}


class Workspace:
    """The files given to `ivrflow studio`, by id (`f0`, `f1`, …), and the pages listening for changes."""

    def __init__(self, paths: Iterable[Path | str], editor_url: str | None = None):
        self.editor_url = editor_url
        self.files: dict[str, FileState] = {}
        self._listeners: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self._reloading = asyncio.Lock()
        self._drawing_seconds: dict[str, float] = {}  # how long each file's last diagram took
        for index, path in enumerate(paths):
            fid = f"f{index}"
            self.files[fid] = FileState(fid, str(path), 0, None, None, False, None, {_real(str(path)): None})
            self.reload(fid)

    # --- checking ---------------------------------------------------------------------

    def reload(self, fid: str) -> FileState:
        """Check and draw the file again, as one new version (blocking: Graphviz may take seconds)."""
        checked = self._check(self.files[fid])
        self.files[fid] = self._draw(checked, new_version=False) if checked.drawing_next else checked
        return self.files[fid]

    async def _reload_publishing(self, fid: str) -> None:
        """Check the file again and publish it; a diagram that takes long
        (SLOW_DRAWING_SECONDS, the last time) comes as a second version, so
        that the page has the diagnostics at once."""
        checked = await asyncio.to_thread(self._check, self.files[fid])
        if checked.drawing_next and self._drawing_seconds.get(fid, 0.0) >= SLOW_DRAWING_SECONDS:
            self.files[fid] = checked
            self.publish(checked)
            self.files[fid] = await asyncio.to_thread(self._draw, checked, new_version=True)
        elif checked.drawing_next:
            self.files[fid] = await asyncio.to_thread(self._draw, checked, new_version=False)
        else:
            self.files[fid] = checked
        self.publish(self.files[fid])

    def _check(self, state: FileState) -> FileState:
        """The next version, read and checked; the diagram is still the last one
        (`drawing_next`: draw this version's with `_draw`)."""
        version = state.version + 1
        own = _stamp(_real(state.path))  # before reading: a change while it is read is seen again
        try:
            checked = load(state.path)
        except LoadError as error:  # gone for a moment while an editor saves: keep what was shown
            return dataclasses.replace(state, version=version, stale=True, problem=str(error),
                                       watched={**state.watched, _real(state.path): own}, drawing_next=False)
        watched = {path: _stamp(path) for path in _watched(checked)} | {_real(state.path): own}
        good = view.callable_flow(checked)  # a recording not made yet does not hold the diagram back
        draw = checked.flow is not None and (good or state.drawing is None)
        return FileState(state.id, state.path, version, checked, state.drawing, not good, None, watched, draw)

    def _draw(self, state: FileState, *, new_version: bool) -> FileState:
        """The state with its own diagram (a version of its own when `new_version`)."""
        assert state.checked is not None
        began = time.perf_counter()
        drawing: view.Drawing | None = state.drawing
        problem = None
        try:
            drawing = view.draw(state.checked, self.editor_url, state.drawing)
        except view.RenderError as error:
            problem = str(error)
        if drawing is not None and (state.drawing is None or drawing.svg is not state.drawing.svg):
            self._drawing_seconds[state.id] = time.perf_counter() - began  # Graphviz ran (no SVG reused)
        return dataclasses.replace(state, version=state.version + new_version, drawing=drawing, problem=problem,
                                   drawing_next=False)

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
            "stale": state.stale, "drawing": state.drawing_next, "problem": state.problem,
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
        """The folders to watch (not their subfolders): those of every watched
        file, or, for one that does not exist yet (a prompt still to record), the
        nearest folder above it that does: creating its folder changes this list."""
        return sorted({_nearest_folder(path) for state in self.files.values() for path in state.watched})

    async def watch(self, stop: asyncio.Event) -> None:
        """Check again and publish each file whose own, included or prompt files
        changed, until `stop`. When what to watch changes (a new include, a new
        prompt folder), the watcher starts again on the new folders; then any
        file that changed while none watched is caught up by its stamps."""
        from watchfiles import awatch

        while not stop.is_set():
            folders = self.folders()
            catch_up = asyncio.create_task(self._catch_up(CATCH_UP_SECONDS))
            try:
                async for changes in awatch(*folders, recursive=False, stop_event=stop, debounce=DEBOUNCE_MS,
                                            step=STEP_MS):
                    await self._reload_where(_touched({_real(path) for _, path in changes}))
                    if self.folders() != folders:
                        break
            finally:
                catch_up.cancel()

    async def _catch_up(self, after: float) -> None:
        """Reload the files whose watched files changed since they were read
        (while the watcher was starting, it saw nothing)."""
        await asyncio.sleep(after)
        await self._reload_where(lambda state: any(_stamp(path) != stamp for path, stamp in state.watched.items()))

    async def _reload_where(self, changed: Callable[[FileState], bool]) -> None:
        async with self._reloading:  # the catch-up and the watcher never check one file at once
            await self._reload_each(changed)

    async def _reload_each(self, changed: Callable[[FileState], bool]) -> None:
        for fid, state in list(self.files.items()):
            if changed(state):
                try:
                    await self._reload_publishing(fid)
                except Exception:  # a bug must not stop the watching of every file
                    log.exception("checking %s failed", state.path)


def _touched(changed: set[str]) -> Callable[[FileState], bool]:
    """Whether a file watches one of the paths that changed."""
    return lambda state: bool(state.watched.keys() & changed)


#: How long after the watcher (re)starts the files are compared with their stamps.
CATCH_UP_SECONDS = 0.3

#: A file's modification time and size, or None when it is not there.
Stamp = tuple[int, int] | None


def _stamp(path: str) -> Stamp:
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return info.st_mtime_ns, info.st_size


def _nearest_folder(path: str) -> str:
    folder = os.path.dirname(path)
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    return folder


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
