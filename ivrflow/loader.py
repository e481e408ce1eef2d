"""Reading flow files from disk: the I/O around the pure compiler core."""

from __future__ import annotations

from pathlib import Path

from .compiler import Checked, check_source
from .compiler.checks.base import Env
from .compiler.diagnostics import RULES
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


def load(path: str, *, check_files: bool = True) -> Checked:
    """Check one flow file; prompt files are looked up beside it (see prompt_files)."""
    source = read_source(path)
    if isinstance(source, tuple):
        message, span = source
        diagnostic = RULES["IVR001"].at(span, message, hint="save the file as UTF-8")
        return Checked(path, "", None, None, (diagnostic,))
    env = Env(prompt_file=checker(path) if check_files else None)
    return check_source(source, path, env)
