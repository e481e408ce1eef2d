"""How the machine's effects become mediaservice commands, and back.

The platform's documents leave some details UNKNOWN (PLATFORMS.md §3). Each
assumption is one constant here, with why, so it can be changed in one place;
the README lists them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ...compiler import ir
from ...compiler.machine import (
    Call,
    Collect,
    Effect,
    End,
    Event,
    Keys,
    Outcome,
    Play,
    Ring,
    Silence,
    TransferReason,
    handler_transfer,
)

#: ivrflow's own headers, not the platform's: a callback that carries
#: TRACE_HEADER (as the emulator's do) is answered with the steps of the call's
#: path since the previous answer (PATH_HEADER, JSON) and the menu a command
#: that collects keys belongs to (WAITING_HEADER).
TRACE_HEADER = "X-Ivrflow-Trace"
PATH_HEADER = "X-Ivrflow-Path"
WAITING_HEADER = "X-Ivrflow-Waiting"
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
#: Polly's SynthesizeSpeech requires `OutputFormat` and `VoiceId` (PLATFORMS.md
#: §7); "pcm" is what the independent client `pumpagubben/ivr-test` sends.
TTS_OUTPUT_FORMAT = "pcm"
#: Amazon Polly's standard-engine voices by language code, from the Amazon
#: Polly Developer Guide, "Standard voices" (60 voices in 29 languages):
#: https://docs.aws.amazon.com/polly/latest/dg/standard-voices.html
#: SynthesizeSpeech uses the standard engine unless told otherwise, so a
#: neural-only voice would fail. The first voice of a language is its default;
#: an environment's `voice` picks another. Aditi speaks en-IN and hi-IN.
POLLY_VOICES: dict[str, tuple[str, ...]] = {
    "arb": ("Zeina",),
    "cmn-CN": ("Zhiyu",),
    "cy-GB": ("Gwyneth",),
    "da-DK": ("Naja", "Mads"),
    "de-DE": ("Marlene", "Vicki", "Hans"),
    "en-AU": ("Nicole", "Russell"),
    "en-GB": ("Amy", "Emma", "Brian"),
    "en-GB-WLS": ("Geraint",),
    "en-IN": ("Aditi", "Raveena"),
    "en-US": ("Joanna", "Ivy", "Kendra", "Kimberly", "Salli", "Joey", "Kevin"),
    "es-ES": ("Conchita", "Lucia", "Enrique"),
    "es-MX": ("Mia",),
    "es-US": ("Lupe", "Penelope", "Miguel"),
    "fr-CA": ("Chantal",),
    "fr-FR": ("Celine", "Lea", "Mathieu"),
    "hi-IN": ("Aditi",),
    "is-IS": ("Dora", "Karl"),
    "it-IT": ("Carla", "Bianca", "Giorgio"),
    "ja-JP": ("Mizuki", "Takumi"),
    "ko-KR": ("Seoyeon",),
    "nb-NO": ("Liv",),
    "nl-NL": ("Lotte", "Ruben"),
    "pl-PL": ("Ewa", "Maja", "Jacek", "Jan"),
    "pt-BR": ("Camila", "Vitoria", "Ricardo"),
    "pt-PT": ("Ines", "Cristiano"),
    "ro-RO": ("Carmen",),
    "ru-RU": ("Tatyana", "Maxim"),
    "sv-SE": ("Astrid",),
    "tr-TR": ("Filiz",),
}
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
#: `dtmfParams.reason` when a termination key ended the entry (the one value
#: documented, PLATFORMS.md §3). ASSUMPTION: whatever the reason, a request
#: without keys is silence (a timeout), and keys reported are keys pressed.
TERMINATION_REASON = "terminationKey"
#: A transfer with `else` goes out as a `call` with `maxRingTime` (seed 002:
#: "Decimal number of seconds to wait for destination to answer the calls").
#: ASSUMPTION: a transfer that does not connect is reported by a callEvent
#: `calledPartyFailure` (seed 002: "errorDescr … what has caused the call
#: setup failure"; its `sipResponseCode` is "the SIP status code that was
#: received"), or by a `calledPartyDrop` carrying a failure status (seed 002's
#: own callEvent sample: calledPartyDrop with sipResponseCode 486). The
#: documents do not say which event the end of maxRingTime gives.
TRANSFER_FAILURE_EVENTS = ("calledPartyFailure", "calledPartyDrop")
#: Why a transfer failed, from the SIP status (RFC 3261 §21): 486 Busy Here,
#: 600 Busy Everywhere; 408 Request Timeout, 480 Temporarily Unavailable and
#: 487 Request Terminated (the INVITE cancelled when maxRingTime ran out) are
#: no answer; any other status, or none, is a failure.
BUSY_STATUSES = frozenset({486, 600})
NO_ANSWER_STATUSES = frozenset({408, 480, 487})
#: ASSUMPTION: a callEvent answered with the newCall action that starts the
#: IVR (NEWCALL_IVR_ACTION) puts the remaining participant, the caller, back
#: into the IVR, and getIvrCommand requests follow for the same session (the
#: callEvent's four actions are collapsed in the documents, like newCall's).
CALLEVENT_IVR_ACTION = NEWCALL_IVR_ACTION
#: Keys a caller can press on a phone (DTMF 0-9, *, #, A-D).
DTMF_KEYS = re.compile(r"[0-9*#A-Da-d]*")
#: Uploaded prompt files are named `ivrflow-FLOW-STEM-HASH.EXT`: ivrflow's
#: marker and the flow (so they never collide with a person's files or another
#: flow's), the file's name (for people) and its content's sha256.
FILE_PREFIX = "ivrflow"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


#: The environment's keys Settings.from_env reads (ivrflow.toml; `serve`
#: passes them to the runtime).
ENV_KEYS = ("domain", "sip_domain", "voicemail_uri", "language", "voice", "base_url", "site_base_urls")


@dataclass(frozen=True)
class Settings:
    """What the protocol needs from the environment."""

    domain: str = "localhost"
    sip_domain: str = "localhost"
    voicemail_uri: str = VOICEMAIL_URI
    language: str = "en-US"
    voice: str | None = None  # the environment's Polly voice, else the language's default
    base_url: str | None = None  # the platform's API
    site_base_urls: tuple[str, ...] = ()  # more API origins a callback's siteBaseUrl may name
    files: Mapping[str, str] = field(default_factory=dict)  # prompt → its name on the platform

    @classmethod
    def from_env(cls, values: Mapping[str, Any]) -> Settings:
        """From the environment's values: `domain`, `sip_domain`,
        `voicemail_uri`, `language`, `voice`, `base_url` and `site_base_urls`
        (a URL or a list of URLs)."""
        domain = str(values.get("domain") or "localhost")
        sites = values.get("site_base_urls") or ()
        return cls(domain=domain, sip_domain=str(values.get("sip_domain") or domain),
                   voicemail_uri=str(values.get("voicemail_uri") or VOICEMAIL_URI),
                   language=str(values.get("language") or "en-US"),
                   voice=str(values["voice"]) if values.get("voice") else None,
                   base_url=str(values["base_url"]) if values.get("base_url") else None,
                   site_base_urls=_urls(sites))


def _urls(value: Any) -> tuple[str, ...]:
    """`site_base_urls`: a URL or a list of them (anything else counts as none;
    the target reports it as IVR301)."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)):
        return tuple(item for item in value if isinstance(item, str))
    return ()


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


# --- prompt files ----------------------------------------------------------------------

def platform_file_name(flow: str, path: str, data: bytes) -> str:
    """The name a prompt file is uploaded under and played by: the one
    mapping from a flow's file to the platform's, for deploy and runtime."""
    stem, suffix = Path(path).stem, Path(path).suffix.lower()
    digest = hashlib.sha256(data).hexdigest()[:16]
    return f"{FILE_PREFIX}-{_safe(flow)}-{_safe(stem)}-{digest}{_UNSAFE.sub('', suffix)}"


def _safe(part: str) -> str:
    """A part of a file name that needs no quoting in a URL path."""
    return _UNSAFE.sub("-", part[:40]).strip("-.") or "x"


def read_prompt(base: Path, path: str) -> bytes | None:
    """A prompt file's bytes, read only where ivrflow.prompt_files allows
    (None otherwise: its diagnostic says why)."""
    from ...prompt_files import PromptFileError, read

    try:
        return read(base, path)
    except PromptFileError:
        return None


def file_forms(flow: ir.Flow) -> Iterable[ir.Variant | ir.Prompt]:
    """Every recording a call may play: each `file` prompt, and each `file`
    variant of a prompt with a variant per language."""
    for prompt in flow.prompts:
        yield from (form for form in prompt.forms if form.kind == "file")


def prompt_files(flow: ir.Flow, base: Path | None = None) -> dict[str, tuple[str, bytes | None]]:
    """Each recording's platform name and bytes, by its path in the flow
    (every variant's; None when missing: the name is then the hash of
    nothing, which nothing was uploaded under)."""
    base = Path(flow.file).parent if base is None else base
    found: dict[str, tuple[str, bytes | None]] = {}
    for form in file_forms(flow):
        if form.value not in found:
            data = read_prompt(base, form.value)
            found[form.value] = (platform_file_name(flow.name, form.value, data or b""), data)
    return found


def is_uploaded_name(flow: str, name: str) -> bool:
    """Whether `name` has the shape of a file ivrflow uploads for `flow`."""
    prefix = re.escape(f"{FILE_PREFIX}-{_safe(flow)}-")
    return re.fullmatch(prefix + r".+-[0-9a-f]{16}(\.[A-Za-z0-9_-]*)?", name) is not None


# --- text to speech ---------------------------------------------------------------------

#: POLLY_VOICES' languages and voices by their lower-case spelling (every spoken phrase looks one up).
_POLLY_LANGUAGES = {language.lower(): language for language in POLLY_VOICES}
_POLLY_VOICE_NAMES = {voice.lower(): voice for voices in POLLY_VOICES.values() for voice in voices}


def polly_language(code: str) -> str | None:
    """Polly's spelling of a language code (`en-us` → `en-US`), None if Polly has no voice for it."""
    return _POLLY_LANGUAGES.get(code.lower())


def polly_voice(name: str) -> str | None:
    """Polly's spelling of a voice (`joanna` → `Joanna`), None if unknown."""
    return _POLLY_VOICE_NAMES.get(name.lower())


def voice_problem(language: str, voice: str | None) -> str | None:
    """Why Polly could not speak `language` with `voice` (None: it can)."""
    known = polly_language(language)
    if voice is not None and polly_voice(voice) is None:
        return f"Amazon Polly has no standard voice `{voice}`"
    if known is None:
        return f"Amazon Polly has no voice for language `{language}`"
    if voice is not None and polly_voice(voice) not in POLLY_VOICES[known]:
        return (f"Amazon Polly's voice `{polly_voice(voice)}` does not speak `{known}` "
                f"(its voices: {', '.join(POLLY_VOICES[known])})")
    return None


def tts_parameters(text: str, language: str, settings: Settings) -> dict[str, Any]:
    """Polly's SynthesizeSpeech parameters: the environment's voice where it
    speaks the language, else the language's default voice. A language Polly
    lacks (a diagnostic at check/deploy) is left to the voice's own."""
    known = polly_language(language)
    wanted = polly_voice(settings.voice) if settings.voice else None
    if known is not None:
        voice = wanted if wanted in POLLY_VOICES[known] else POLLY_VOICES[known][0]
    else:
        default = polly_language(settings.language)
        voice = wanted or (POLLY_VOICES[default][0] if default else POLLY_VOICES["en-US"][0])
    parameters = {"Text": text, "TextType": "text", "OutputFormat": TTS_OUTPUT_FORMAT, "VoiceId": voice}
    if known is not None:
        parameters["LanguageCode"] = known
    return parameters


def phrase(flow: ir.Flow, play: Play, settings: Settings) -> dict[str, Any]:
    """What the platform plays for the machine's `play`: the words it
    filled in (`{account}`, `{account:digits}` digit by digit) in the Polly
    voice of the variant's language, or the variant's uploaded recording."""
    if play.text is not None:
        language = play.language or flow.language or settings.language
        return {"format": TTS_FORMAT, "region": TTS_REGION, "cacheTimeToLive": "WEEK",
                "awsTTSParameters": tts_parameters(play.text, language, settings)}
    path = play.file or play.prompt  # a prompt the flow does not define: a file by its name
    file_name = settings.files.get(path)
    if file_name is None:  # not read at startup: name it from the file as it is now
        data = read_prompt(Path(flow.file).parent, path) if play.file else None
        file_name = platform_file_name(flow.name, path, data or b"")
    return {"format": FILE_FORMAT, "fileName": file_name}


# --- callbacks --------------------------------------------------------------------------

def keys_pressed(buffer: Any, params: Any, end_key: str | None = None) -> str:
    """The entry a getIvrCommand request reports, as the machine takes it
    (`Keys`; "" when none: silence).

    `dtmfBuffer` holds the keys, but seed 002's own sample has it null and
    the keys in `dtmfParams.dtmfMatch` (PLATFORMS.md §7). When the waiting
    node's `end_key` (the dtmf block's `terminationKey`) ended the entry, the
    entry ends with it, so the machine sees an entry ended early (`1234#`:
    no inter-digit wait, fewer keys than a collect's minimum are invalid,
    `#` alone is an empty entry). Another termination key ended the entry
    and is not one of its keys (alone, it is what was pressed).
    ValueError if they are not keys."""
    params = params if isinstance(params, Mapping) else {}
    raw = buffer if buffer not in (None, "") else params.get("dtmfMatch")
    if raw is not None and (isinstance(raw, bool) or not isinstance(raw, (str, int))):
        raise ValueError("`dtmfBuffer` and `dtmfParams.dtmfMatch` must be strings of keys")
    keys = "" if raw is None else str(raw)
    if not DTMF_KEYS.fullmatch(keys):
        raise ValueError("the keys must be DTMF digits (0-9, *, #, A-D)")
    terminator = params.get("matchedTerminationKey")
    if params.get("reason") != TERMINATION_REASON or not isinstance(terminator, str) or not terminator:
        return keys
    if keys.endswith(terminator) and (keys != terminator or terminator == end_key):
        keys = keys[:-len(terminator)]
    if terminator == end_key:
        return keys + terminator
    return keys or terminator  # only the termination key: a key press, not silence


def entry(buffer: Any, params: Any, node: ir.Menu | ir.Collect | None) -> Event:
    """The machine's event for what a getIvrCommand request reports while
    the call waits in `node`: Keys, or Silence when nothing was pressed."""
    keys = keys_pressed(buffer, params, node.end_key if node is not None else None)
    return Keys(keys) if keys else Silence()


def transfer_failure(event: str, status: Any) -> TransferReason | None:
    """Why a ringing transfer failed, from a callEvent (TRANSFER_FAILURE_EVENTS),
    or None when the event does not report a failure (a `calledPartyDrop`
    without a failure status: the callee hung up after talking)."""
    code = status if isinstance(status, int) and not isinstance(status, bool) else None
    if isinstance(status, str) and status.strip().isdigit():
        code = int(status)
    if event not in TRANSFER_FAILURE_EVENTS or (event == "calledPartyDrop" and (code is None or code < 300)):
        return None
    if code in BUSY_STATUSES:
        return "busy"
    if code in NO_ANSWER_STATUSES:
        return "no-answer"
    return "failed"


def ring_seconds(flow: ir.Flow, call: Call) -> float | None:
    """`maxRingTime` for the transfer a ringing call is in (its `ring`), else None."""
    if call.status != "ringing" or call.node is None or call.transfer is None:
        return None
    transfer = handler_transfer(flow, call.node, call.transfer)
    return transfer.ring_ms / TIMEOUT_UNIT_MS if transfer is not None else None


def api_origin(url: str) -> str | None:
    """`scheme://host:port` of an http(s) URL without credentials in it, else None."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return None
    host = parts.hostname.lower()
    return f"{parts.scheme}://{f'[{host}]' if ':' in host else host}:{port}"


def is_loopback(url: str) -> bool:
    """A URL on this machine (`serve --insecure`, a local trial, follows those without the bearer)."""
    origin = api_origin(url)
    return origin is not None and origin.split("://", 1)[1].rsplit(":", 1)[0] in ("127.0.0.1", "localhost", "[::1]")


def trusted_api_base(url: str, settings: Settings) -> bool:
    """Whether a callback's `siteBaseUrl` may receive the server's API calls
    (with its bearer): only the origins of the environment's `base_url` and
    `site_base_urls`."""
    origin = api_origin(url)
    allowed = {api_origin(u) for u in (settings.base_url, *settings.site_base_urls) if u}
    return origin is not None and origin in allowed


def dtmf(node: ir.Menu | ir.Collect) -> dict[str, Any]:
    """The dtmf block that collects a menu's or a collect's entry: at most
    its digits (a collect's MAX), ended early by its end key, with its
    timeouts. A collect's MIN is the machine's to check."""
    block: dict[str, Any] = {
        "flush": True,
        "maxDigits": node.digits if isinstance(node, ir.Menu) else node.digits_range[1],
        "firstTimeout": node.timeout_ms / TIMEOUT_UNIT_MS,
        "betweenTimeout": node.inter_digit_ms / TIMEOUT_UNIT_MS,
    }
    if node.end_key is not None:
        block["terminationKey"] = node.end_key
    return block


@dataclass
class Plan:
    """What to send after a machine step: commands in order, and how it ends."""

    commands: list[dict[str, Any]]
    end: Outcome | None  # a transfer (ringing too), voicemail or hangup; None while waiting


def commands(flow: ir.Flow, effects: Iterable[Effect], settings: Settings) -> Plan:
    """Group the prompts into getIvrCommand responses: prompts the caller must
    hear to the end (`fully`) go without `bargeIn` and without collecting
    keys, so keys pressed meanwhile are ignored; the last group collects the
    menu's or collect's keys, or hangs up."""
    groups: list[tuple[bool, list[dict[str, Any]]]] = []
    end: Outcome | None = None
    collect: ir.Menu | ir.Collect | None = None
    for effect in effects:
        if isinstance(effect, Play):
            interruptible = not effect.fully
            if not groups or groups[-1][0] != interruptible:
                groups.append((interruptible, []))
            groups[-1][1].append(phrase(flow, effect, settings))
        elif isinstance(effect, Collect):
            node = flow.node(effect.menu)
            assert isinstance(node, (ir.Menu, ir.Collect))
            collect = node
        elif isinstance(effect, End):
            end = effect.outcome
        elif isinstance(effect, Ring):
            end = Outcome("transfer", effect.destination)
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


def runtime_settings(flow: ir.Flow, settings: Settings) -> tuple[Settings, list[str]]:
    """The settings a server uses for `flow`: with the names its prompt files
    (every variant's) were uploaded under. Also what it should warn about at
    startup: missing prompt files, and voices Polly lacks (check/compile/
    deploy report those as diagnostics)."""
    warnings = []
    files = prompt_files(flow)
    for path, (_, data) in files.items():
        if data is None:
            warnings.append(f"prompt file {path}: missing here, so its uploaded name is unknown")
    for prompt, _, language, problem in voice_problems(flow, settings):
        voice = tts_parameters("", language, settings)["VoiceId"]
        warnings.append(f"prompt {prompt.name}: {problem}; speaking it with {voice}")
    return replace(settings, files={path: file for path, (file, _) in files.items()}), warnings


def voice_problems(flow: ir.Flow, settings: Settings) -> Iterable[tuple[ir.Prompt, ir.Variant | ir.Prompt, str, str]]:
    """(prompt, its form, language, why) for each spoken form Polly cannot speak as the
    environment asks. A prompt in one language must be spoken by the
    environment's `voice`; in a prompt with a variant per language, the
    voice speaks the variants of its own language and every other variant
    gets its language's default voice (one `voice` cannot speak them all)."""
    for prompt in flow.prompts:
        for form in prompt.forms:
            if form.kind != "say":
                continue
            language = form.language or flow.language or settings.language
            voice = settings.voice
            if prompt.variants and voice is not None and polly_voice(voice) is not None:
                voice = None  # checked as the language's default voice
            problem = voice_problem(language, voice)
            if problem:
                yield prompt, form, language, problem
