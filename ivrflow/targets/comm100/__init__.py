"""Comm100's VoiceBot (seed 000, PLATFORMS.md §4): a voicebot with its
channel, a `callStarts` smart trigger, and a response whose actions
(IVRMenu, PlayText, TransferCall, EndCall…) chain by `nextActionId`."""

from .target import TARGET

__all__ = ["TARGET"]
