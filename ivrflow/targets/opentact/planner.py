"""What to send Opentact: the outbound voice profile (created or updated by
name), the SIP control app (by name, linked to the profile), its call-flow
XML (uploaded when its digest differs), and the app's number leases (added
and removed). Only the profile and app named `ivrflow:FLOW` are ever
changed; nothing is deleted but leases on ivrflow's own app (and, by
`ivrflow destroy`, the app and the profile themselves)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...deploy.plan import Change, Plan, field_changes, resolve, resolve_path
from .client import Live, OpentactApi, lease_app
from .compile import Desired

PROFILE = "/profile/outbound_voice"
APP = "/sip/app"
#: The call-flow file's name in the multipart upload.
XML_FILE = "call-flow.xml"


class NumberProblem(Exception):
    """A number of the environment the account cannot attach: `number` says which."""

    def __init__(self, number: str, message: str):
        super().__init__(message)
        self.number = number


def profile_body(desired: Desired) -> dict[str, Any]:
    return {"name": desired.profile_name, **desired.profile}


#: How Opentact requests a served flow's call_flow_url: POST carries the call object with its `uuid` (PLATFORMS.md §5).
CALL_FLOW_METHOD = "POST"


def app_body(desired: Desired, profile: Any, live: dict[str, Any] | None = None) -> dict[str, Any]:
    """The app's fields: a flow served from the start sets `call_flow_url`;
    a static one clears one a served version of it set."""
    body = {"name": desired.app_name, "product": desired.product, "is_active": True,
            "outbound_voice_profile": profile}
    if desired.call_flow_url is not None:
        body.update(call_flow_url=desired.call_flow_url, call_flow_method=CALL_FLOW_METHOD)
    elif live is not None and live.get("call_flow_url"):
        body["call_flow_url"] = None
    return body


def make_plan(desired: Desired, live: Live | None) -> Plan:
    """The calls that make `live` (None: nothing exists) into `desired`."""
    plan = Plan("opentact", notes=[f"placeholder: <{name}> (give an environment to fill it in)"
                                   for name in desired.placeholders])
    plan.notes.append(f"{desired.how} ({desired.dialect} dialect)")
    if desired.call_flow_url is not None:
        plan.notes.append("the flow is served by `ivrflow serve` from the start (the app's call_flow_url, POST): "
                          "run it with this version of the flow, or changes do not reach callers")
    elif b"<Callback" in desired.xml or b" url=" in desired.xml:
        plan.notes.append("parts of the flow are answered by `ivrflow serve` (<Callback>s): run it with this "
                          "version of the flow, or changes there do not reach callers")
    known = live is not None
    live = live or Live()
    if live.profiles:
        profile = live.profiles[0]
        diff = field_changes(profile, profile_body(desired))
        if diff:
            plan.changes.append(Change("update", "profile", f"profile:{desired.profile_name}", "PATCH",
                                       f"/rest{PROFILE}/{profile['uuid']}", profile_body(desired),
                                       source=desired.source, diff=diff))
        profile_ref: Any = profile["uuid"]
    else:
        plan.changes.append(Change("create", "profile", f"profile:{desired.profile_name}", "POST", f"/rest{PROFILE}",
                                   profile_body(desired), ref="profile", source=desired.source))
        profile_ref = {"$ref": "profile"}
    if live.apps:
        app = live.apps[0]
        linked = app.get("outbound_voice_profile")
        current = dict(app, outbound_voice_profile=linked.get("uuid") if isinstance(linked, dict) else linked)
        body = app_body(desired, profile_ref, app)
        diff = field_changes(current, body)
        if diff:
            plan.changes.append(Change("update", "app", f"app:{desired.app_name}", "PATCH", f"/rest{APP}/{app['uuid']}",
                                       body, source=desired.source, diff=diff))
        app_path = str(app["uuid"])
    else:
        plan.changes.append(Change("create", "app", f"app:{desired.app_name}", "POST", f"/rest{APP}",
                                   app_body(desired, profile_ref), ref="app", source=desired.source))
        app_path = "{app}"
    if not desired.xml and live.xml:  # served from the start: the static XML would only mislead
        plan.changes.append(Change("delete", "call-flow", f"call-flow:{desired.dialect}", "DELETE",
                                   f"/rest{APP}/call/flow/{app_path}", source=desired.source))
    elif desired.xml and live.xml != desired.xml:
        plan.changes.append(Change("update" if live.xml else "create", "call-flow", f"call-flow:{desired.dialect}",
                                   "POST", f"/rest{APP}/call/flow/{app_path}", None, source=desired.source,
                                   upload=XML_FILE,
                                   detail=[f"XML {desired.digest} ({len(desired.xml)} bytes)"]))
    add, remove = lease_changes(desired, live, None if not live.apps else str(live.apps[0]["uuid"]), known)
    if add or remove:
        plan.changes.append(Change("update", "numbers", "numbers", "POST", f"/rest{APP}/{app_path}/tnlease",
                                   {"add": add, "remove": remove}, source=desired.source,
                                   detail=[f"attach {n}" for n in _numbers(live, add)]
                                   + [f"detach {n}" for n in _numbers(live, remove)]))
    return plan


def lease_changes(desired: Desired, live: Live, app: str | None, known: bool) -> tuple[list[str], list[str]]:
    """The leases to attach to the app and to take off it. Unknown (compile):
    placeholders for what the lease search will find."""
    if not known:
        return [f"<lease of {n}>" for n in desired.numbers], []
    add = []
    for number in desired.numbers:
        lease = live.leases.get(number)
        if lease is None:
            raise NumberProblem(number, f"the account has no lease of {number}: Opentact can only attach numbers "
                                        "the account owns")
        owner = lease_app(lease)
        if owner is not None and owner != app:
            raise NumberProblem(number, f"{number} is attached to another SIP control app ({owner}), which ivrflow "
                                        "did not make; it is left alone")
        if owner is None:
            add.append(str(lease["uuid"]))
    remove = [str(lease["uuid"]) for number, lease in sorted(live.leases.items())
              if app is not None and lease_app(lease) == app and number not in desired.numbers]
    return add, remove


def _numbers(live: Live, uuids: list[str]) -> list[str]:
    by_uuid = {str(lease.get("uuid")): number for number, lease in live.leases.items()}
    return [by_uuid.get(u, u) for u in uuids]


def apply_change(api: OpentactApi, change: Change, ids: dict[str, Any], xml: Callable[[], bytes]) -> None:
    path = resolve_path(change.path, ids).removeprefix("/rest")
    if change.upload:
        api.request("POST", path, files={"file": (XML_FILE, xml(), "application/xml")})
        return
    body = resolve(change.body, ids)
    lookup = None
    if change.op == "create" and change.ref is not None:
        collection, name = path, body.get("name")

        def lookup() -> Any:
            found = [item for item in api.get(collection) or [] if item.get("name") == name]
            return found[0] if found else None
    if change.op == "delete":
        api.request("DELETE", path)
        return
    result = api.request(change.method, path, json=body, lookup=lookup)
    if change.ref is not None:
        ids[change.ref] = result["uuid"] if isinstance(result, dict) else result


def destroy_plan(desired: Desired, live: Live) -> Plan:
    """The calls that remove what ivrflow made for the flow: its SIP control
    app (Opentact takes the call flow and the leases off with it; the leases
    stay the account's) and then its outbound voice profile. Only objects
    named `ivrflow:FLOW` are in it."""
    plan = Plan("opentact")
    for app in live.apps:
        plan.changes.append(Change("delete", "app", f"app:{desired.app_name}", "DELETE", f"/rest{APP}/{app['uuid']}",
                                   source=desired.source))
    for profile in live.profiles:
        plan.changes.append(Change("delete", "profile", f"profile:{desired.profile_name}", "DELETE",
                                   f"/rest{PROFILE}/{profile['uuid']}", source=desired.source))
    return plan
