"""Speech for `say` prompts on platforms that only play recordings, with
Debian's espeak-ng (`tts = "espeak"` in the environment, or --tts espeak)."""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path


class TTSUnavailable(Exception):
    """espeak-ng is not installed."""


def voice(language: str) -> str:
    """espeak-ng's voice for a BCP 47 tag: en-US → en-us, ru-RU → ru."""
    tag = language.lower()
    return tag if tag in ("en-us", "en-gb", "pt-br", "es-419") else tag.split("-")[0]


@functools.lru_cache(maxsize=256)
def synthesize(text: str, language: str) -> bytes:
    """A WAV of `text` spoken in `language` (16-bit mono, espeak-ng's 22.05 kHz)."""
    binary = shutil.which("espeak-ng") or shutil.which("espeak")
    if binary is None:
        raise TTSUnavailable("speech needs espeak-ng: `sudo apt-get install espeak-ng`")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "speech.wav"
        subprocess.run([binary, "-v", voice(language), "-w", str(out), text], check=True,
                       capture_output=True, timeout=60)
        return out.read_bytes()
