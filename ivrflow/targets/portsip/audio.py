"""Prompt audio for PortSIP: one WAV per receptionist, PCM 16-bit mono at
16, 32 or 48 kHz (PLATFORMS.md §2). A menu's prompts are joined with the
stdlib `wave` module; synthesized speech (espeak-ng writes 22.05 kHz) and
silences are brought to the recordings' rate first."""

from __future__ import annotations

import io
import wave
from array import array

#: The rates PortSIP plays.
RATES = (16000, 32000, 48000)
#: The rate of a prompt made only of speech and silence.
DEFAULT_RATE = 16000


class AudioError(ValueError):
    """A recording PortSIP cannot play, or that cannot be joined to the others."""


def describe(data: bytes) -> tuple[int, int, int]:
    """(channels, bytes per sample, rate) of a WAV file."""
    try:
        with wave.open(io.BytesIO(data)) as reader:
            return reader.getnchannels(), reader.getsampwidth(), reader.getframerate()
    except (wave.Error, EOFError) as error:
        raise AudioError(f"not a PCM WAV file ({error})") from None


def problem(data: bytes) -> str | None:
    """Why PortSIP could not play this recording, or None."""
    try:
        channels, width, rate = describe(data)
    except AudioError as error:
        return str(error)
    if channels != 1 or width != 2 or rate not in RATES:
        return (f"it is {channels}-channel, {8 * width}-bit, {rate} Hz; PortSIP plays 16-bit mono PCM at "
                "16, 32 or 48 kHz")
    return None


def samples(data: bytes) -> tuple[array, int]:
    """The 16-bit samples and the rate of a mono WAV."""
    with wave.open(io.BytesIO(data)) as reader:
        channels, width, rate = reader.getnchannels(), reader.getsampwidth(), reader.getframerate()
        frames = reader.readframes(reader.getnframes())
    if channels != 1 or width != 2:
        raise AudioError(f"{channels}-channel {8 * width}-bit audio cannot be joined; 16-bit mono is needed")
    values = array("h")
    values.frombytes(frames)
    return values, rate


def resample(values: array, source: int, rate: int) -> array:
    """Linear interpolation: enough for speech going to a phone line."""
    if source == rate or not values:
        return values
    count = max(1, len(values) * rate // source)
    step = source / rate
    last = len(values) - 1
    out = array("h", bytes(2 * count))
    for index in range(count):
        position = index * step
        left = int(position)
        right = min(left + 1, last)
        fraction = position - left
        out[index] = int(values[left] + (values[right] - values[left]) * fraction)
    return out


def silence(ms: int, rate: int) -> array:
    return array("h", bytes(2 * (rate * ms // 1000)))


def join(parts: list[array], rate: int) -> bytes:
    """One WAV of the parts, in order (all already at `rate`)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        for part in parts:
            writer.writeframes(part.tobytes())
    return buffer.getvalue()
