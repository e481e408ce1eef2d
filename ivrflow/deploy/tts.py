"""Speech for `say` prompts on platforms that only play recordings, with
Debian's espeak-ng (`tts = "espeak"` in the environment, or --tts espeak)."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..compiler import ir
from ..compiler.diagnostics import RULES, Diagnostic

DEFAULT_LANGUAGE = "en-US"


class TTSUnavailable(Exception):
    """espeak-ng is not installed, or it could not speak a text."""


def _binary() -> str | None:
    return shutil.which("espeak-ng") or shutil.which("espeak")


@functools.cache
def languages() -> frozenset[str] | None:
    """The languages espeak-ng has a voice for, lower case (`en-us`, `ru`,
    and the `(zh 5)` other languages); None when it cannot be asked. Asked
    once per process."""
    binary = _binary()
    if binary is None:
        return None
    try:
        listing = subprocess.run([binary, "--voices"], check=True, capture_output=True, text=True, timeout=30,
                                 stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found: set[str] = set()
    for line in listing.splitlines()[1:]:  # "Pty Language Age/Gender VoiceName File Other Languages"
        fields = line.split()
        if len(fields) >= 2:
            found.add(fields[1].lower())
        found.update(other.lower() for other in re.findall(r"\(([^\s()]+) \d+\)", line))
    return frozenset(found)


def voice(language: str) -> str | None:
    """espeak-ng's voice for a BCP 47 tag: en-US → en-us, ru-RU → ru, fr → fr;
    None when espeak-ng has no voice for the language."""
    tag = language.lower()
    primary = tag.split("-")[0]
    known = languages()
    if known is None:  # cannot tell: the best guess, as espeak-ng matches tags loosely
        return tag if tag in ("en-us", "en-gb", "pt-br", "es-419") else primary
    if tag in known:
        return tag
    if primary in known:
        return primary
    return next((name for name in sorted(known) if name.startswith(primary + "-")), None)


def speech_diagnostics(flow: ir.Flow) -> list[Diagnostic]:
    """IVR208 for each language of the flow's `say` prompts that espeak-ng
    has no voice for, on the line that gives the language: run when `say`
    prompts will be synthesized."""
    if languages() is None:
        return []  # not installed: synthesize says so when it is needed
    found: list[Diagnostic] = []
    reported: set[str] = set()
    for prompt in flow.prompts:
        language = prompt.language or flow.language or DEFAULT_LANGUAGE
        if prompt.kind != "say" or voice(language) is not None:
            continue
        setting = flow.header.get("language") if flow.header is not None else None
        if prompt.language is None and setting is not None:
            where, key, whose = setting.value_span or setting.span, "", ""
        else:
            where, key, whose = prompt.span, prompt.name, f" of prompt `{prompt.name}`"
        if key not in reported:
            reported.add(key)
            found.append(RULES["IVR208"].at(
                where, f"espeak-ng has no voice for the language `{language}`{whose}",
                hint="use a language espeak-ng speaks (`espeak-ng --voices` lists them), such as en-US, de or ru"))
    return found


@functools.lru_cache(maxsize=256)
def synthesize(text: str, language: str) -> bytes:
    """A WAV of `text` spoken in `language` (16-bit mono, espeak-ng's 22.05 kHz)."""
    binary = _binary()
    if binary is None:
        raise TTSUnavailable("speech needs espeak-ng: `sudo apt-get install espeak-ng`")
    name = voice(language)
    if name is None:
        raise TTSUnavailable(f"espeak-ng has no voice for the language `{language}`")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "speech.wav"
        # The text goes after `--`, so one that starts with `-` (`-f/etc/hostname`,
        # `-w/x`) is spoken, never taken for an option; a NUL cannot be an argument.
        command = [binary, "-v", name, "-w", str(out), "--", text.replace("\0", " ")]
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        except subprocess.CalledProcessError as error:
            reason = error.stderr.decode(errors="replace").strip() or f"exit status {error.returncode}"
            raise TTSUnavailable(f"espeak-ng could not speak a `say` prompt: {reason}") from None
        except subprocess.TimeoutExpired:
            raise TTSUnavailable("espeak-ng took more than 60 s to speak a `say` prompt") from None
        return out.read_bytes()
