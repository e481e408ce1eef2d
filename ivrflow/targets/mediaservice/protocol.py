"""How the machine's effects become mediaservice commands, and back.

The platform's documents leave some details UNKNOWN (PLATFORMS.md §3). Each
assumption is one constant here, with why, so it can be changed in one place;
the README lists them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ...compiler import ir
from ...compiler.machine import Collect, Effect, End, Outcome, Play

#: ASSUMPTION: the newCall `action` that sends the call into the IVR (the
#: documents collapse the list of four values; "ivr" is PLATFORMS.md's guess).
NEWCALL_IVR_ACTION = "ivr"
#: ASSUMPTION: dtmf `firstTimeout`/`betweenTimeout` are seconds (the example
#: has 30 and 3; units are not stated). Durations are sent as decimal seconds.
TIMEOUT_UNIT_MS = 1000
#: ASSUMPTION: phrase `format` for an uploaded prompt file (only "awstts" is
#: documented); the file is named by `fileName`.
FILE_FORMAT = "file"
#: The documented text-to-speech format; its parameters follow Amazon Polly's
#: SynthesizeSpeech names (ASSUMPTION: the field layout is not documented).
TTS_FORMAT = "awstts"
TTS_REGION = "eu-west-1"
#: `bargeIn` for prompts a caller may interrupt (the one documented value).
BARGE_IN = "current"
#: ASSUMPTION: how a caller in the IVR is transferred: the runtime calls
#: /splitconnection (with the connectionId from callAnswered, else the
#: sessionId), the platform sends a callEvent per participant, and the
#: caller's is answered with `call` to the destination (PLATFORMS.md §3).
TRANSFER_BY = "splitconnection"
#: Seconds to wait silently in the IVR while the split happens.
SPLIT_WAIT_S = 10
#: ASSUMPTION: destinations as SIP URIs: numbers and extensions at the
#: environment's `sip_domain`; voicemail boxes by this template.
DESTINATION_URI = "sip:{destination}@{sip_domain}"
VOICEMAIL_URI = "sip:voicemail-{box}@{sip_domain}"


@dataclass(frozen=True)
class Settings:
    """What the protocol needs from the environment."""

    domain: str = "localhost"
    sip_domain: str = "localhost"
    voicemail_uri: str = VOICEMAIL_URI
    language: str = "en-US"

    @classmethod
    def from_env(cls, values: Mapping[str, Any]) -> Settings:
        domain = str(values.get("domain") or "localhost")
        return cls(domain=domain, sip_domain=str(values.get("sip_domain") or domain),
                   voicemail_uri=str(values.get("voicemail_uri") or VOICEMAIL_URI),
                   language=str(values.get("language") or "en-US"))


def destination_uri(outcome: Outcome, settings: Settings) -> str:
    """Where a transfer or voicemail goes, as the `destAddr` of a `call`."""
    if outcome.action == "voicemail":
        return settings.voicemail_uri.format(box=outcome.target or "default", sip_domain=settings.sip_domain)
    target = outcome.target or ""
    if target.startswith(("sip:", "sips:")):
        return target
    return DESTINATION_URI.format(destination=target, sip_domain=settings.sip_domain)


def outcome_of_uri(uri: str, settings: Settings) -> Outcome:
    """The inverse of destination_uri: what a `destAddr` means (emulator, --via)."""
    prefix, _, suffix = settings.voicemail_uri.partition("{box}")
    prefix = prefix.format(sip_domain=settings.sip_domain)
    suffix = suffix.format(sip_domain=settings.sip_domain)
    if uri.startswith(prefix) and uri.endswith(suffix):
        return Outcome("voicemail", uri[len(prefix):len(uri) - len(suffix)] or None)
    plain = DESTINATION_URI.format(destination="", sip_domain=settings.sip_domain)
    head, tail = plain.split("@", 1)
    if uri.startswith(head) and uri.endswith("@" + tail):
        return Outcome("transfer", uri[len(head):-len(tail) - 1])
    return Outcome("transfer", uri)


def phrase(flow: ir.Flow, name: str, settings: Settings) -> dict[str, Any]:
    prompt = flow.prompt(name)
    if prompt is None or prompt.kind == "file":
        file_name = prompt.value.rsplit("/", 1)[-1] if prompt else name
        return {"format": FILE_FORMAT, "fileName": file_name}
    language = prompt.language or flow.language or settings.language
    return {"format": TTS_FORMAT, "region": TTS_REGION, "cacheTimeToLive": "WEEK",
            "awsTTSParameters": {"Text": prompt.value, "LanguageCode": language, "TextType": "text"}}


def dtmf(menu: ir.Menu) -> dict[str, Any]:
    return {
        "flush": True,
        "maxDigits": menu.digits,
        "firstTimeout": menu.timeout_ms / TIMEOUT_UNIT_MS,
        "betweenTimeout": menu.inter_digit_ms / TIMEOUT_UNIT_MS,
    }


@dataclass
class Plan:
    """What to send after a machine step: commands in order, and how it ends."""

    commands: list[dict[str, Any]]
    end: Outcome | None  # a transfer, voicemail or hangup; None while in a menu


def commands(flow: ir.Flow, effects: Iterable[Effect], settings: Settings) -> Plan:
    """Group the prompts into getIvrCommand responses: prompts the caller must
    hear to the end (`fully`) go without `bargeIn` and without collecting
    keys, so keys pressed meanwhile are ignored; the last group collects the
    menu's keys, or hangs up."""
    groups: list[tuple[bool, list[dict[str, Any]]]] = []
    end: Outcome | None = None
    collect: ir.Menu | None = None
    for effect in effects:
        if isinstance(effect, Play):
            interruptible = not effect.fully
            if not groups or groups[-1][0] != interruptible:
                groups.append((interruptible, []))
            groups[-1][1].append(phrase(flow, effect.prompt, settings))
        elif isinstance(effect, Collect):
            menu = flow.node(effect.menu)
            assert isinstance(menu, ir.Menu)
            collect = menu
        elif isinstance(effect, End):
            end = effect.outcome
    out: list[dict[str, Any]] = []
    for interruptible, phrases in groups:
        command: dict[str, Any] = {"phrases": phrases}
        if interruptible:
            command["bargeIn"] = BARGE_IN
        out.append(command)
    if collect is not None:
        if not out or "bargeIn" not in out[-1]:
            out.append({"phrases": []})  # collect after prompts that could not be interrupted
        out[-1]["dtmf"] = dtmf(collect)
    elif end is not None and end.action == "hangup":
        if not out:
            out.append({"phrases": []})
        out[-1]["hangup"] = True
    for command in out:
        if "dtmf" not in command and not command.get("hangup"):
            command["getIVRCommandAfter"] = 0  # ask for the next command as soon as these are heard
    return Plan(out, end)
