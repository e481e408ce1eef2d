"""`ivrflow init`: a starter project that checks and tests clean at once.

    DIR/NAME.ivr            a menu, its prompts and the tests that cover it
    DIR/prompts/greeting.wav  a placeholder recording (half a second of silence)
    DIR/ivrflow.toml        one environment per target, secrets as ${VAR}
"""

from __future__ import annotations

import io
import re
import wave
from dataclasses import dataclass
from pathlib import Path

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: The placeholder greeting: 16-bit mono PCM WAV at 16 kHz, which every
#: target plays (PortSIP refuses 8 kHz: IVR207).
GREETING_RATE = 16000
GREETING_SECONDS = 0.5


class Refused(Exception):
    """init would overwrite something, or was given a name it cannot use."""


@dataclass(frozen=True)
class Project:
    directory: Path
    name: str
    files: tuple[Path, ...]


def flow_name(directory: Path) -> str:
    """A flow name from a directory name: `Pizza Shop` → `pizza_shop`."""
    words = re.sub(r"[^A-Za-z0-9_]+", "_", directory.resolve().name).strip("_").lower()
    if not words:
        return "main"
    return words if not words[0].isdigit() else f"flow_{words}"


def create(directory: Path, name: str | None = None) -> Project:
    """Write the starter project into `directory`; nothing is written when
    any of its files exists. Raises Refused."""
    name = name or flow_name(directory)
    if not _NAME.fullmatch(name):
        raise Refused(f"`{name}` cannot name a flow: use letters, digits and _, starting with a letter")
    if directory.exists() and not directory.is_dir():
        raise Refused(f"{directory} is a file, not a directory")
    contents: dict[Path, bytes] = {
        directory / f"{name}.ivr": flow_text(name).encode(),
        directory / "prompts" / "greeting.wav": greeting(),
        directory / "ivrflow.toml": config_text(name).encode(),
    }
    existing = [path for path in contents if path.exists()]
    if existing:
        names = ", ".join(str(p) for p in existing)
        raise Refused(f"{names} already exist{'s' if len(existing) == 1 else ''}; init writes new files only "
                      "(give another directory)")
    try:
        for path, data in contents.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("xb") as handle:  # never replace a file that appeared meanwhile
                handle.write(data)
    except OSError as error:
        raise Refused(f"cannot write in {directory}: {error.strerror}") from None
    return Project(directory, name, tuple(contents))


def next_steps(project: Project) -> list[str]:
    """What to try next, as commands with a comment each."""
    flow = f"{project.name}.ivr"
    here = project.directory.resolve() == Path.cwd().resolve()
    steps = [(f"ivrflow check {flow}", "every problem, with file:line:col"),
             (f"ivrflow test {flow}", "the test blocks, and what they leave untested"),
             (f"ivrflow simulate {flow}", "be the caller: type keys"),
             (f"ivrflow render {flow} -o {project.name}.svg", "the diagram (-o .mmd without Graphviz)"),
             ("ivrflow targets", "what each platform can express"),
             (f"ivrflow plan {flow} --env telphin", "once ivrflow.toml's variables are exported")]
    width = max(len(command) for command, _ in steps)
    return ([] if here else [f"cd {project.directory}"]) + [f"{c:<{width}}  # {why}" for c, why in steps]


def greeting() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(GREETING_RATE)
        audio.writeframes(b"\0\0" * int(GREETING_RATE * GREETING_SECONDS))
    return buffer.getvalue()


def flow_text(name: str) -> str:
    return f'''# {name}: a starter flow made by `ivrflow init`. Change it, then run
#   ivrflow check {name}.ivr && ivrflow test {name}.ivr
flow {name} "{name}" {{
    language en-US
}}

prompt greeting file "prompts/greeting.wav"  # replace it with your recording
prompt options  say "For sales press 1. For support press 2."
prompt sorry    say "Sorry, that is not an option."

menu main "Main menu" {{
    play greeting
    play options
    timeout 5s
    retries 2
    press 1 -> transfer "101"
    press 2 -> transfer "102"
    on timeout -> repeat
    on invalid -> play sorry, repeat
    on exhausted -> transfer "100"  # after two repeats, a person takes over
}}

test "1 reaches sales" {{
    press 1
    expect transfer "101"
}}

test "2 reaches support" {{
    press 2
    expect transfer "102"
}}

test "a wrong key is explained, then the menu repeats" {{
    press 7
    expect play sorry
    expect goto main
}}

test "a caller who says nothing reaches a person" {{
    silence
    silence
    silence
    expect transfer "100"
}}
'''


_ENVIRONMENTS = {
    "telphin": '''# Telphin, a cloud PBX: the flow becomes an IVR extension.
#   export TELPHIN_CLIENT_ID=… TELPHIN_CLIENT_SECRET=…
#   ivrflow plan {flow} --env telphin
# To try it on a local stand-in first:
#   ivrflow emulate telphin --port 8091 &
#   export TELPHIN_BASE_URL=http://127.0.0.1:8091 TELPHIN_CLIENT_ID=demo TELPHIN_CLIENT_SECRET=demo
# and set base_url = "${{TELPHIN_BASE_URL}}" below.
[env.telphin]
target = "telphin"
base_url = "https://apiproxy.telphin.ru"
client_id = "${{TELPHIN_CLIENT_ID}}"
client_secret = "${{TELPHIN_CLIENT_SECRET}}"
extension = "071"                        # the IVR extension callers reach
tts = "espeak"                           # `say` prompts are synthesized and uploaded
# runtime_url = "https://ivr.example.com"   # where `ivrflow serve` answers, for `ask` and routes
''',
    "portsip": '''# PortSIP PBX: the flow becomes virtual receptionists.
#   export PORTSIP_PASSWORD=… PORTSIP_IVR_PIN=…    (a PIN of 6 to 10 digits)
#   export IVRFLOW_CALLBACK_TOKEN=…               (signs the action URLs `ivrflow serve` answers)
#   ivrflow plan {flow} --env portsip
# A local stand-in: `ivrflow emulate portsip --port 8092` and base_url = "http://127.0.0.1:8092/api".
[env.portsip]
target = "portsip"
base_url = "https://pbx.example.com:8887/api"
username = "admin"
password = "${{PORTSIP_PASSWORD}}"
domain = "pbx.example.com"
pin = "${{PORTSIP_IVR_PIN}}"
extensions = "7000-7099"                 # numbers ivrflow may give its receptionists
tts = "espeak"                           # `say` prompts are synthesized and uploaded
# runtime_url = "https://ivr.example.com"   # where `ivrflow serve` answers the action URLs
''',
    "comm100": '''# Comm100 VoiceBot: the flow becomes a voicebot with its channel, a callStarts trigger and actions.
#   export VOICEBOT_API_KEY=… VOICEBOT_SIP_PASSWORD=…
#   ivrflow plan {flow} --env comm100
# A local stand-in: `ivrflow emulate comm100 --port 8093` and base_url = "http://127.0.0.1:8093/v4".
[env.comm100]
target = "comm100"
host = 11                                # api11.comm100.io: the number of your Control Panel's dash11
site_id = 10000
email = "admin@example.com"              # API-key auth: Basic email:API_KEY (or access_token for OAuth)
api_key = "${{VOICEBOT_API_KEY}}"
channel = "sip"                          # or "twilio" with phone_number and phone_country
sip_server = "sip.example.com"
sip_username = "voicebot"
sip_password = "${{VOICEBOT_SIP_PASSWORD}}"
transfer_to = "sip:{{ext}}@pbx.example.com"  # how an extension such as 101 is dialled
''',
    "opentact": '''# Opentact: the flow becomes a SIP control app with call-flow XML, and its numbers.
#   export OPENTACT_PASSWORD=…
#   ivrflow plan {flow} --env opentact
# A local stand-in: `ivrflow emulate opentact --port 8093` and base_url = "http://127.0.0.1:8093".
[env.opentact]
target = "opentact"
base_url = "production"                  # or "staging", or a URL
email = "ops@example.com"
password = "${{OPENTACT_PASSWORD}}"
product = 12                             # the SIP product id (GET /rest/sip/product)
numbers = ["+14155550100"]               # numbers the account leases, attached to the app
dialect = "current"                      # the call-flow XML of doc.opentact.org; "legacy": the older one
# tech_prefix = 482910                   # the outbound voice profile (100000-999999), see docs
# prompts_url = "https://media.example.com/ivr"   # where `file` prompts are served from
''',
    "mediaservice": '''# iotcomms mediaservice: prompt files are uploaded; `ivrflow serve` answers the calls.
#   export MEDIASERVICE_API_KEY="$(cat private-key.pem)"
#   ivrflow plan {flow} --env mediaservice
#   IVRFLOW_CALLBACK_TOKEN=… ivrflow serve {flow} --env mediaservice
[env.mediaservice]
target = "mediaservice"
base_url = "https://mediaservice.example.com/mediaservice"
domain = "example.com"
api_private_key = "${{MEDIASERVICE_API_KEY}}"
''',
}


def config_text(name: str) -> str:
    """ivrflow.toml: an environment for each registered target."""
    from .targets import all_targets

    parts = ['''# Environments: where `ivrflow plan` and `ivrflow deploy --env NAME` send this flow.
# Secrets are never written here: "${VAR}" is read from the environment when a
# command needs it. `ivrflow targets` compares what each platform can express.
''']
    for target in all_targets():
        template = _ENVIRONMENTS.get(target.name)
        if template is None:  # a target added since this file was written
            keys = "\n".join(f'# {key} = "…"' for key in target.env_keys)
            template = f'[env.{target.name}]\ntarget = "{target.name}"\n{keys}\n'
        parts.append(template.format(flow=f"{name}.ivr"))
    return "\n".join(parts)
