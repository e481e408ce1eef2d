"""Reading flow files from disk: the I/O around the pure compiler core."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from .compiler import Checked, check_source
from .compiler.checks.base import Env
from .compiler.diagnostics import RULES
from .compiler.includes import IncludeError
from .compiler.ir import Span
from .prompt_files import checker


class LoadError(Exception):
    """A file that cannot be read at all (missing, a directory, no permission)."""


def read_source(path: str) -> str | tuple[str, Span]:
    """The file's text, or (problem, where) when it is not UTF-8."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise LoadError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise LoadError(f"{path}: is a directory; give the .ivr files in it") from None
    except OSError as error:
        raise LoadError(f"{path}: cannot read it ({error.strerror})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        before = data[:error.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        return (f"the file is not UTF-8 text: byte 0x{data[error.start]:02x} cannot be read",
                Span(path, line, column, line, column + 1))


#: The largest flow file an `include` reads (a 10,000-menu flow is about 4 MB).
MAX_INCLUDE_BYTES = 16 * 1024 * 1024


def include_reader(root: str) -> Callable[[str, str], tuple[str, str]]:
    """Reads `include`d files for the flow at `root`: the path is relative to
    the including file and must stay inside the root flow's folder (or a folder
    below it), as prompt files must, and be a regular UTF-8 file of at most
    MAX_INCLUDE_BYTES. Each problem is an IncludeError (IVR007)."""
    base = Path(root).resolve().parent

    def read(including: str, written: str) -> tuple[str, str]:
        candidate = Path(including).parent / written
        try:
            real = candidate.resolve()
        except (OSError, RuntimeError, ValueError) as error:  # ValueError: a NUL in the path
            raise IncludeError(f"cannot be read ({error})") from None
        if not real.is_relative_to(base):
            raise IncludeError(f"is outside the flow's folder ({base}); included files must be in it or below it")
        try:
            info = real.stat()
        except FileNotFoundError:
            raise IncludeError(f"no such file ({candidate})") from None
        except OSError as error:
            raise IncludeError(f"cannot be read ({error.strerror})") from None
        if not stat.S_ISREG(info.st_mode):
            raise IncludeError("is not a regular file")
        if info.st_size > MAX_INCLUDE_BYTES:
            raise IncludeError(f"is larger than {MAX_INCLUDE_BYTES // (1024 * 1024)} MiB")
        try:
            text = real.read_bytes().decode("utf-8-sig")
        except OSError as error:
            raise IncludeError(f"cannot be read ({error.strerror})") from None
        except UnicodeDecodeError:
            raise IncludeError("is not UTF-8 text") from None
        return os.path.normpath(str(candidate)), text
    return read


def load(path: str, *, check_files: bool = True) -> Checked:
    """Check one flow file; prompt files are looked up beside it (see prompt_files)."""
    source = read_source(path)
    if isinstance(source, tuple):
        message, span = source
        diagnostic = RULES["IVR001"].at(span, message, hint="save the file as UTF-8")
        return Checked(path, "", None, None, (diagnostic,))
    env = Env(prompt_file=checker(path) if check_files else None, include=include_reader(path))
    return check_source(source, path, env)
