"""Reading a flow's prompt files from disk, and nothing else.

A `file` prompt names a recording by a path relative to the flow file. ivrflow
opens it only if, once symbolic links are followed, it is a regular file inside
the flow file's folder (or a folder below it) and no larger than
MAX_PROMPT_BYTES. `/proc/self/environ`, `/etc/passwd`, `../../secret.key`, a
link pointing out of the folder or `/dev/zero` are refused with a diagnostic
(IVR112, IVR124 to IVR126) and never read, uploaded or joined into a prompt.

ivrflow.toml has no prompts folder of its own, so the flow file's folder is
the only place prompts come from.

Every command and target reads prompt files through `read`; `problem` (what
the IVR112 check runs through `Env.prompt_file`) answers the same questions
without reading.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path

from .compiler import ir
from .compiler.checks import Env, sources
from .compiler.checks.base import FileProblem
from .compiler.diagnostics import Diagnostic

#: The largest prompt file ivrflow reads. A minute of 16 kHz 16-bit mono WAV
#: is about 1.9 MB, so 20 MiB is over ten minutes of speech, far more than any
#: greeting, while a wrong path (a video, a disk image) is refused before it
#: is read into memory and uploaded.
MAX_PROMPT_BYTES = 20 * 1024 * 1024

_HINT_INSIDE = ("prompt files must be in the flow file's folder or a folder below it (also where a symbolic "
                "link points); copy the recording there")


class PromptFileError(Exception):
    """A prompt's audio file that ivrflow will not read; `problem` says why."""

    def __init__(self, value: str, problem: FileProblem):
        super().__init__(problem.message)
        self.value = value
        self.problem = problem

    def at(self, flow: ir.Flow) -> list[Diagnostic]:
        """The diagnostic on every `file` prompt that names this path."""
        from .compiler.diagnostics import RULES

        rule = RULES[self.problem.code]
        return [rule.at(p.value_span, self.problem.message, self.problem.hint)
                for p in flow.prompts if p.kind == "file" and p.value == self.value]


def _not_found(value: str) -> FileProblem:
    return FileProblem("IVR112", f"audio file `{value}` not found", "paths are relative to the flow file")


def _unreadable(value: str, error: OSError | ValueError) -> FileProblem:
    if isinstance(error, ValueError):  # a NUL character in the path
        reason = "the path holds a NUL character"
    elif error.errno == errno.ENAMETOOLONG:
        reason = "the name is longer than the system allows"
    else:
        reason = (error.strerror or type(error).__name__).lower()
    return FileProblem("IVR126", f"audio file `{value}` cannot be read: {reason}",
                       "paths are relative to the flow file")


def _kind(mode: int) -> str | None:
    """What a file that is not a regular file is, in words."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _check_stat(value: str, info: os.stat_result) -> None:
    kind = _kind(info.st_mode)
    if kind is not None:
        raise PromptFileError(value, FileProblem("IVR125", f"audio file `{value}` is {kind}, not a regular file",
                                                 "name a recording, such as `prompts/welcome.wav`"))
    if info.st_size > MAX_PROMPT_BYTES:
        raise PromptFileError(value, _too_large(value, info.st_size))


def _too_large(value: str, size: int) -> FileProblem:
    return FileProblem("IVR126", f"audio file `{value}` is too large to read: {size / 2**20:.1f} MiB, and prompt "
                                 f"files may be at most {MAX_PROMPT_BYTES // 2**20} MiB",
                       "a prompt is seconds of speech: trim the recording or save it as 16-bit mono WAV")


def _outside(value: str) -> PromptFileError:
    return PromptFileError(value, FileProblem("IVR124", f"audio file `{value}` is outside the flow's folder",
                                              _HINT_INSIDE))


def resolve(base: Path, value: str) -> Path:
    """The real path of the prompt file `value` of a flow in folder `base`,
    once it is known to be a regular file inside that folder's tree and not
    too large; PromptFileError otherwise."""
    try:
        root = os.path.realpath(base)
        path = os.path.realpath(base / value)
    except (OSError, ValueError) as error:
        raise PromptFileError(value, _unreadable(value, error)) from None
    if os.path.commonpath([root, path]) != root:
        raise _outside(value)
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise PromptFileError(value, _not_found(value)) from None
    except OSError as error:
        raise PromptFileError(value, _unreadable(value, error)) from None
    _check_stat(value, info)
    return Path(path)


def read(base: Path, value: str) -> bytes:
    """The bytes of the prompt file `value` of a flow in folder `base`, read
    only after `resolve` allowed it; PromptFileError otherwise."""
    path = resolve(base, value)
    # The path is resolved: a link swapped in for its last part since then is
    # refused (O_NOFOLLOW), a pipe swapped in does not block (O_NONBLOCK), and
    # what was opened is checked again before at most the limit is read.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        raise PromptFileError(value, _unreadable(value, error)) from None
    with os.fdopen(descriptor, "rb") as handle:
        _check_stat(value, os.fstat(descriptor))
        opened = f"/proc/self/fd/{descriptor}"  # where the file opened really is (Linux), in case a folder
        if os.path.islink(opened):              # on the way was swapped for a link since `resolve`
            root = os.path.realpath(base)
            if os.path.commonpath([root, os.readlink(opened)]) != root:
                raise _outside(value)
        data = handle.read(MAX_PROMPT_BYTES + 1)
    if len(data) > MAX_PROMPT_BYTES:
        raise PromptFileError(value, _too_large(value, len(data)))
    return data


def problem(base: Path, value: str) -> FileProblem | None:
    """What is wrong with the prompt file `value` of a flow in folder `base`, if anything."""
    try:
        resolve(base, value)
    except PromptFileError as error:
        return error.problem
    return None


def checker(flow_path: str) -> Callable[[str], FileProblem | None]:
    """`Env.prompt_file` for a flow file at `flow_path`."""
    base = Path(flow_path).parent
    return lambda value: problem(base, value)


def diagnostics(flow: ir.Flow, flow_path: str) -> list[Diagnostic]:
    """The IVR112 and IVR124 to IVR126 diagnostics of the flow's prompt files."""
    return list(sources.check_audio_files(flow, None, Env(prompt_file=checker(flow_path))))
