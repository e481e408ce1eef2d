"""What to send PortSIP: extension numbers for the receptionists (kept from
what is live), then the difference between the desired objects and the live
ones in an order the API accepts: prompt files, receptionists, their action
URLs; receptionists no longer wanted, then the prompt files ivrflow uploaded
that nothing uses any more, last. Only what carries ivrflow's marker is
changed or deleted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...deploy.plan import Change, FieldChange, Plan, field_changes, resolve, resolve_path
from .client import Live, PortSipApi
from .compile import Desired

#: The PIN is a secret: plans carry this marker, the deploy puts the value in.
PIN = {"$secret": "pin"}


class RangeFull(Exception):
    """The extension range has too few free numbers: `needed` numbers for
    the receptionists that have none yet, of `size` in `extensions`, `taken`
    of them in use before; `key` is the first receptionist left without one."""

    def __init__(self, extensions: str, needed: int, size: int, taken: int, key: str):
        others = f", {taken} of them already in use" if taken else ""
        super().__init__(f"the range {extensions} has no free number left: the flow needs {needed} extension "
                         f"numbers for its receptionists and the range has {size}{others}")
        self.extensions, self.needed, self.size, self.taken, self.key = extensions, needed, size, taken, key


def parse_range(text: str) -> tuple[int, int, int]:
    """`7000-7099` → (7000, 7099, width)."""
    low, _, high = text.partition("-")
    high = high or low
    if not (low.strip().isdigit() and high.strip().isdigit()) or int(low) > int(high) or len(low.strip()) < 3:
        raise ValueError(f"`{text}` is not a range of extension numbers such as 7000-7099")
    return int(low), int(high), len(low.strip())


def assign_numbers(desired: Desired, live: Live, extensions: str) -> None:
    """Each receptionist keeps the number it has; new ones take the lowest
    free numbers of the range, in order (so the entry gets the first)."""
    low, high, width = parse_range(extensions)
    used = set(live.taken)
    numbers: dict[str, str] = {}
    for key, receptionist in desired.receptionists.items():
        existing = live.ivrs.get(receptionist.name)
        if existing is not None:
            numbers[key] = str(existing["extension_number"])
    live_numbers = dict(numbers)
    free = (str(n).zfill(width) for n in range(low, high + 1) if str(n).zfill(width) not in used)
    for key in desired.receptionists:
        if key not in numbers:
            number = next(free, None)
            if number is None:
                needed = sum(1 for k in desired.receptionists if k not in live_numbers)
                taken = sum(1 for u in used if u.isdigit() and low <= int(u) <= high and str(int(u)).zfill(width) == u)
                raise RangeFull(extensions, needed, high - low + 1, taken - len(numbers) + len(live_numbers), key)
            numbers[key] = number
            used.add(number)
    desired.numbers = numbers


def ivr_body(desired: Desired, key: str) -> dict[str, Any]:
    receptionist = desired.receptionists[key]
    body = desired.body(receptionist)
    body["prompt_file_id"] = {"$ref": f"file:{receptionist.prompt.name}"} if receptionist.prompt else ""
    body["pin"] = PIN
    return body


def make_plan(desired: Desired, live: Live | None, pin: str | None = None) -> Plan:
    """The calls that make `live` (None: nothing exists) into `desired`
    (whose numbers are assigned). With `pin`, a receptionist whose PIN
    differs is updated (the plan says so without showing either)."""
    live = live or Live()
    plan = Plan("portsip", notes=[f"placeholder: <{name}> (give an environment to fill it in)"
                                  for name in desired.placeholders])
    ids: dict[str, Any] = {}
    add = plan.changes.append
    wanted_files = {r.prompt.name: r.prompt for r in desired.receptionists.values() if r.prompt is not None}
    for name, audio in sorted(wanted_files.items()):
        found = live.files.get(name)
        if found is not None:
            ids[f"file:{name}"] = found["id"]
        else:
            add(Change("create", "file", f"file:{name}", "POST", f"/blobs/uploads?filename={name}", None,
                       ref=f"file:{name}", source=audio.source, upload=name))

    for key, receptionist in desired.receptionists.items():
        body = ivr_body(desired, key)
        existing = live.ivrs.get(receptionist.name)
        if existing is None:
            add(Change("create", "receptionist", f"ivr:{key}", "POST", "/ivrs", body, ref=f"ivr:{key}",
                       source=receptionist.source))
            continue
        ids[f"ivr:{key}"] = existing["id"]
        changed = _differences(body, existing, receptionist.prompt.name if receptionist.prompt else "")
        if pin is not None and str(existing.get("pin", pin)) != pin:
            changed.append(FieldChange("pin", None, None, secret=True))
        if changed:
            update = {k: v for k, v in body.items() if k != "extension_number"}
            add(Change("update", "receptionist", f"ivr:{key}", "POST", f"/ivrs/{{ivr:{key}}}", update,
                       source=receptionist.source, diff=changed))

    for key, receptionist in desired.receptionists.items():
        current = {str(u["name"]): u for u in live.urls.get(receptionist.name, [])}
        wanted = {}
        for url in receptionist.urls:
            body = desired.url_body(url)
            wanted[body["name"]] = body
            found = current.get(body["name"])
            what = f"url:{key}/{url.type.lower()}"
            if found is None:
                add(Change("create", "action URL", what, "POST", f"/ivrs/{{ivr:{key}}}/action_urls", body,
                           source=url.source))
            elif any(found.get(k) != v for k, v in body.items()):
                add(Change("update", "action URL", what, "POST", f"/ivrs/{{ivr:{key}}}/action_urls/{found['id']}",
                           body, source=url.source, diff=field_changes(found, body)))
        for name, found in sorted(current.items()):
            if name not in wanted:
                add(Change("delete", "action URL", f"url:{key}/{name.split(':')[-1]}", "POST",
                           f"/ivrs/{{ivr:{key}}}/action_urls/{found['id']}/destroy"))

    wanted_names = {r.name for r in desired.receptionists.values()}
    for name, existing in sorted(live.ivrs.items()):
        if name not in wanted_names:
            add(Change("delete", "receptionist", f"ivr:{name.split(':', 2)[2]}", "POST",
                       f"/ivrs/{existing['id']}/destroy"))
    for name in sorted(set(live.files) - set(wanted_files)):  # only ivrflow's own (is_prompt_file), last
        add(Change("delete", "file", f"file:{name}", "POST", f"/files/{live.files[name]['id']}/destroy"))
    for change in plan.changes:  # ids that already exist go straight into paths and bodies
        change.path = resolve_path(change.path, ids)
        change.body = resolve(change.body, ids, partial=True)
    return plan


def _differences(body: dict[str, Any], live: dict[str, Any], prompt: str) -> list[FieldChange]:
    changed = []
    for key, value in body.items():
        if key == "pin":
            continue  # compared by the deploy, which knows the value
        if key == "prompt_file_id":
            if str(live.get("prompt_file_name") or "") != prompt:
                changed.append(FieldChange("prompt", live.get("prompt_file_name"), prompt))
            continue
        if live.get(key) != value:
            changed.append(FieldChange(key, live.get(key), value))
    return changed


def apply_change(api: PortSipApi, change: Change, ids: dict[str, Any], pin: str,
                 read_audio: Callable[[str], bytes]) -> None:
    """Send one change; a create records the id it made under its `ref`."""
    path = resolve_path(change.path, ids)
    if change.kind == "file" and change.op == "create":
        name = change.upload or ""
        ids[change.ref or f"file:{name}"] = api.upload(name, read_audio(name))
        return
    body = _with_secrets(resolve(change.body, ids), pin)
    if change.op == "delete":
        api.request("POST", path, deleting=True)
        return
    if change.op == "update":
        api.request("POST", path, json=body)
        return
    lookup = _lookup(api, change, path, body)
    result = api.request("POST", path, json=body, lookup=lookup)
    if change.ref is not None:
        ids[change.ref] = result["id"]


def _with_secrets(body: Any, pin: str) -> Any:
    if isinstance(body, dict):
        if body == PIN:
            return pin
        return {k: _with_secrets(v, pin) for k, v in body.items()}
    return body


def _lookup(api: PortSipApi, change: Change, path: str, body: dict[str, Any]) -> Callable[[], Any]:
    """How to tell whether a create that failed ambiguously happened after all."""
    def find() -> Any:
        if change.kind == "receptionist":
            return next((i for i in api.items("/ivrs") if i.get("name") == body["name"]), None)
        if change.kind == "action URL":
            found = api.get(path) or {}
            items = found.get("items", []) if isinstance(found, dict) else found
            return next((u for u in items if u.get("name") == body["name"]), None)
        return None
    return find


def destroy_plan(live: Live) -> Plan:
    """The calls that remove what ivrflow made for a flow (`live` as read for
    it: only receptionists named `ivrflow:FLOW:…`, their action URLs named
    `ivrflow:…`, and prompt files ivrflow names for the flow): each
    receptionist's action URLs, the receptionist, then the prompt files."""
    plan = Plan("portsip")
    add = plan.changes.append
    for name, existing in sorted(live.ivrs.items()):
        key = name.split(":", 2)[2]
        for url in sorted(live.urls.get(name, []), key=lambda u: str(u["name"])):
            add(Change("delete", "action URL", f"url:{key}/{str(url['name']).split(':')[-1]}", "POST",
                       f"/ivrs/{existing['id']}/action_urls/{url['id']}/destroy"))
        add(Change("delete", "receptionist", f"ivr:{key}", "POST", f"/ivrs/{existing['id']}/destroy"))
    for name in sorted(live.files):
        add(Change("delete", "file", f"file:{name}", "POST", f"/files/{live.files[name]['id']}/destroy"))
    return plan
