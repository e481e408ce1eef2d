"""Desired voicebot vs what is live → a Plan, in Comm100's deploy order
(PLATFORMS.md §4): channel configuration → channel instance → voicebot →
response → actions → smart trigger `callStarts`.

Actions have no name on Comm100: ivrflow marks the ones it makes
(schema.ACTION_MARKER_FIELD = `ivrflow:FLOW`) and recognises each of its
own by walking the live graph from the response's Start action alongside
the flow's (`align`). An action without the marker (added by hand in
Comm100's canvas), another response or smart trigger someone added to the
voicebot, is unmanaged: left alone and listed, unless `adopt`.
Actions are created targets first, so most links are known when an
action is created; a link to an action not made yet (a loop back to a menu)
is set by an update once it exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...deploy.plan import Change, FieldChange, Plan, Unmanaged, field_changes, resolve, resolve_path
from . import schema
from .client import Comm100Api, Live
from .compile import START, Action, Desired, marker

NAME = "comm100"
CONFIG, INSTANCE, BOT, RESPONSE, TRIGGER = "channel-config", "channel-instance", "voicebot", "response", "trigger"


def action_ref(key: str) -> str:
    return f"action:{key}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": name}


def make_plan(wanted: Desired, live: Live | None, *, adopt: bool = False) -> Plan:
    """The calls that take the site from `live` (None: nothing there) to
    `wanted`. What ivrflow did not make (a voicebot of the flow's name, an
    action, response or smart trigger someone added to ivrflow's voicebot)
    is left alone and listed as unmanaged, unless `adopt`: then it is
    changed to match the flow (marked as ivrflow's) or deleted."""
    live = live or Live()
    plan = Plan(NAME)
    add = plan.changes.append
    if live.foreign is not None and live.bot is None:
        plan.unmanaged.append(_foreign(wanted, live.foreign))
        return plan
    ids: dict[str, Any] = {}
    source = wanted.actions[0].source if wanted.actions else None
    config_path = schema.SIP_CONFIGURATIONS if wanted.channel == "sip" else schema.TWILIO_CONFIGURATIONS
    config = live.config
    if config is None:
        add(Change("create", "channel configuration", f"config:{wanted.channel}", "POST", config_path,
                   wanted.channel_fields, ref=CONFIG, source=source))
        ids[CONFIG] = _ref(CONFIG)
    else:
        ids[CONFIG] = config["id"]
        keys = [k for k in wanted.channel_fields if k not in ("password", "phoneNumber")]
        diff = field_changes(config, wanted.channel_fields, keys)
        if diff and live.bot is not None:  # a configuration found by its line is reused as it is
            add(Change("update", "channel configuration", f"config:{wanted.channel}", "PUT",
                       f"{config_path}/{config['id']}", wanted.channel_fields, source=source, diff=diff))
    instance_body = {"channelType": wanted.channel, "infoId": ids[CONFIG]}
    if live.instance is None:
        add(Change("create", "channel instance", "channel", "POST", schema.CHANNEL_INSTANCES, instance_body,
                   ref=INSTANCE, source=source))
        ids[INSTANCE] = _ref(INSTANCE)
    else:
        ids[INSTANCE] = live.instance["id"]
        diff = field_changes(live.instance, instance_body)
        if diff:
            add(Change("update", "channel instance", "channel", "PUT",
                       f"{schema.CHANNEL_INSTANCES}/{live.instance['id']}", instance_body, source=source, diff=diff))
    bot_body = {**wanted.bot, "channelId": ids[INSTANCE],
                "channel": {"id": ids[INSTANCE], "infoId": ids[CONFIG], "channelType": wanted.channel}}
    if live.bot is None:
        add(Change("create", "voicebot", f"voicebot:{wanted.flow}", "POST", schema.VOICEBOTS, bot_body, ref=BOT,
                   source=source))
        ids[BOT] = _ref(BOT)
    else:
        ids[BOT] = live.bot["id"]
        diff = field_changes(live.bot, bot_body, [k for k in bot_body if k != "channel"])
        if diff:
            add(Change("update", "voicebot", f"voicebot:{wanted.flow}", "PUT", f"{schema.VOICEBOTS}/{live.bot['id']}",
                       bot_body, source=source, diff=diff))
    response_body = {"voicebotId": ids[BOT], **wanted.response}
    if live.response is None:
        add(Change("create", "response", "response:start", "POST", schema.RESPONSES, response_body, ref=RESPONSE,
                   source=source))
        ids[RESPONSE] = _ref(RESPONSE)
    else:
        ids[RESPONSE] = live.response["id"]
    _actions(wanted, live, ids, plan, adopt)
    trigger_body = {"voicebotId": ids[BOT], "trigger": schema.CALL_STARTS, "voicebotResponseId": ids[RESPONSE]}
    trigger = _call_starts(live)
    if trigger is None:
        add(Change("create", "smart trigger", "trigger:callStarts", "POST", schema.SMART_TRIGGERS, trigger_body,
                   ref=TRIGGER, source=source))
    else:
        diff = field_changes(trigger, trigger_body)
        if diff:
            add(Change("update", "smart trigger", "trigger:callStarts", "PUT",
                       f"{schema.SMART_TRIGGERS}/{trigger['id']}", trigger_body, source=source, diff=diff))
    for kind, found in _someone_elses(live, trigger):
        if adopt:
            add(_delete(kind, found))
        else:
            plan.unmanaged.append(_unmanaged(kind, found, live))
    if plan.unmanaged and live.bot is not None and not adopt:
        plan.notes.append(f"{len(plan.unmanaged)} object(s) in voicebot `{wanted.flow}` that ivrflow did not make: "
                          "unmanaged, left alone (`--adopt` deletes them)")
    return plan


def _call_starts(live: Live) -> dict[str, Any] | None:
    """ivrflow's smart trigger: the `callStarts` one, that of its response first."""
    starts = [t for t in live.triggers if t.get("trigger") == schema.CALL_STARTS]
    mine = live.response.get("id") if live.response is not None else None
    return next((t for t in starts if t.get("voicebotResponseId") == mine), starts[0] if starts else None)


def ours(action: dict[str, Any], flow: str) -> bool:
    """Whether ivrflow made a live action: it carries the flow's marker."""
    return action.get(schema.ACTION_MARKER_FIELD) == marker(flow)


def _someone_elses(live: Live, trigger: dict[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    """The smart triggers and responses of ivrflow's voicebot that are not
    ivrflow's, triggers first (they point at responses), in a stable order."""
    triggers = [("smart trigger", t) for t in live.triggers if t is not trigger]
    responses = [("response", r) for r in sorted(live.responses, key=lambda r: str(r.get("id")))]
    return triggers + responses


def _unmanaged(kind: str, found: dict[str, Any], live: Live) -> Unmanaged:
    if kind == "action":
        where = (live.response or {}).get("name")
        return Unmanaged(kind, f"action:{found.get('id')}",
                         f"a {found.get('type')} action someone else added to response `{where}`")
    what = f"`{found.get('trigger')}`" if kind == "smart trigger" else f"`{found.get('name')}`"
    return Unmanaged(kind, f"{kind.split()[-1]}:{found.get('id')}",
                     f"{kind} {what} someone else added to the voicebot")


def _delete(kind: str, found: dict[str, Any]) -> Change:
    if kind == "action":
        return Change("delete", "action", f"action:{found.get('type')}@{found.get('xPosition')},"
                                          f"{found.get('yPosition')}", "DELETE", f"{schema.ACTIONS}/{found['id']}")
    path = schema.SMART_TRIGGERS if kind == "smart trigger" else schema.RESPONSES
    name = found.get("trigger") if kind == "smart trigger" else found.get("name")
    return Change("delete", kind, f"{kind.split()[-1]}:{name} ({found.get('id')})", "DELETE",
                  f"{path}/{found['id']}")


def _foreign(wanted: Desired, bot: dict[str, Any]) -> Unmanaged:
    reason = (f"voicebot `{wanted.flow}` (id {bot.get('id')}) was not made by ivrflow: it is left alone "
              "(`--adopt` takes it over)")
    wanted.held_by = reason
    return Unmanaged("voicebot", f"voicebot:{bot.get('id')}", reason)


def _actions(wanted: Desired, live: Live, ids: dict[str, Any], plan: Plan, adopt: bool) -> None:
    """Creates (targets first), updates, then deletes of ivrflow's actions
    no longer wanted; the others are unmanaged (deleted when `adopt`)."""
    add = plan.changes.append
    mine = {str(a.get("id")) for a in live.actions if adopt or ours(a, wanted.flow)}
    matched = align(wanted.actions, live.actions, mine)
    for key, found in matched.items():
        ids[action_ref(key)] = found["id"]
    keyed = {a.key: a for a in wanted.actions}
    links: list[Action] = []
    for action in _targets_first(wanted.actions):
        if action.key in matched:
            continue
        missing = [t for t in action.targets() if action_ref(t) not in ids]
        known = {t: ids[action_ref(t)] for t in action.targets() if action_ref(t) in ids}
        body = _action_body(wanted, action, known, ids[RESPONSE], linked=not missing)
        add(Change("create", "action", f"action:{action.key}", "POST", schema.ACTIONS, body,
                   ref=action_ref(action.key), source=action.source))
        ids[action_ref(action.key)] = _ref(action_ref(action.key))
        if missing:
            links.append(action)
    every = {key: ids[action_ref(key)] for key in keyed}
    for action in links:
        body = _action_body(wanted, action, every, ids[RESPONSE])
        add(Change("update", "action", f"action:{action.key}", "PUT", f"{schema.ACTIONS}/{{{action_ref(action.key)}}}",
                   body, source=action.source, detail=["links to the actions made before"]))
    for key, found in matched.items():
        action = keyed[key]
        body = _action_body(wanted, action, every, ids[RESPONSE])
        diff = _action_diff(found, body)
        if diff:
            add(Change("update", "action", f"action:{key}", "PUT", f"{schema.ACTIONS}/{found['id']}", body,
                       source=action.source, diff=diff))
    wanted_ids = {str(m["id"]) for m in matched.values()}
    held = _held(live.actions, mine, wanted_ids)
    for found in _on_canvas(live.actions):
        live_id = str(found.get("id"))
        if live_id in wanted_ids:
            continue
        if live_id not in mine:
            plan.unmanaged.append(_unmanaged("action", found, live))
        elif live_id in held:  # deleting it would break the action that goes to it
            plan.unmanaged.append(Unmanaged("action", f"action:{live_id}",
                                            f"ivrflow's {found.get('type')} action, no longer in the flow, but the "
                                            f"action {held[live_id]} someone else added leads to it"))
        else:
            add(_delete("action", found))


def _held(actions: list[dict[str, Any]], mine: set[str], kept: set[str]) -> dict[str, str]:
    """ivrflow's actions outside `kept` that someone else's actions lead to
    (directly, or through others of ivrflow's), with the id of theirs."""
    by_id = {str(a.get("id")): a for a in actions}
    held: dict[str, str] = {}
    for theirs in (a for a in actions if str(a.get("id")) not in mine):
        queue = [link for link in _links_of(theirs) if link in mine and link not in kept]
        while queue:
            link = queue.pop()
            if link in held:
                continue
            held[link] = str(theirs.get("id"))
            queue += [n for n in _links_of(by_id[link]) if n in mine and n not in kept]
    return held


def _action_body(wanted: Desired, action: Action, ids: dict[str, Any], response: Any, *,
                 linked: bool = True) -> dict[str, Any]:
    """An action as sent: in the response, marked as ivrflow's."""
    return {**action.body(ids, linked=linked), "voicebotResponseId": response,
            schema.ACTION_MARKER_FIELD: marker(wanted.flow)}


def _links_of(action: dict[str, Any]) -> set[str]:
    """The strings an action's sub-object holds: among them the ids of the
    actions it links to, whatever its type's fields are called."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):  # ids are GUIDs (PLATFORMS.md §4), never a key or a count
            found.add(value)
    walk(action.get(schema.sub_object(str(action.get("type")))))
    return found


def _on_canvas(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Live actions in a stable order: by place on the canvas, then id."""
    return sorted(actions, key=lambda a: (a.get("xPosition") or 0, a.get("yPosition") or 0, str(a.get("id"))))


def align(wanted: list[Action], live: list[dict[str, Any]], mine: set[str] | None = None
          ) -> dict[str, dict[str, Any]]:
    """Which live action is which of the flow's: actions have no name, so
    the two graphs are walked together from their `Start` actions, slot by
    slot (next action, invalid-input action, each option by its key, a list
    item by its place: Action.live_links); an action of ivrflow's (`mine`,
    by id; None: all of `live`) of the same type reached by the same path
    is the same one. An action of someone else's on the way (put between
    two of ivrflow's in the canvas) is looked past when it goes on to one
    action. ivrflow's actions the walk does not reach (left by an
    interrupted deploy, or no longer in the flow) stay unmatched and are
    deleted."""
    keyed = {a.key: a for a in wanted}
    by_id = {str(a.get("id")): a for a in live}
    ids = set(by_id) if mine is None else mine
    starts = [a for a in live if a.get("type") == "Start" and str(a.get("id")) in ids]
    if START not in keyed or not starts:
        return {}
    head = keyed[START]
    start = next((a for a in starts if (a.get("xPosition"), a.get("yPosition")) == (head.x, head.y)), starts[0])
    matched: dict[str, dict[str, Any]] = {}
    used: set[str] = set()
    passed: set[tuple[str, str]] = set()
    queue = [(START, str(start["id"]))]
    while queue:
        key, live_id = queue.pop(0)
        action, found = keyed[key], by_id.get(live_id)
        if found is not None and live_id not in ids and (key, live_id) not in passed:
            passed.add((key, live_id))
            onward = sorted(link for link in _links_of(found) if link in by_id)
            if len(onward) == 1:
                queue.append((key, onward[0]))
            continue
        if key in matched or live_id in used or found is None or found.get("type") != action.type \
                or live_id not in ids:
            continue
        matched[key] = found
        used.add(live_id)
        queue += action.live_links(found.get(schema.sub_object(action.type)) or {})
    return matched


def _targets_first(actions: list[Action]) -> list[Action]:
    """Post-order from the Start action: an action after those it links to,
    where the graph allows (a loop leaves one link for the second pass)."""
    keyed = {a.key: a for a in actions}
    order: list[Action] = []
    seen: set[str] = set()

    def visit(key: str) -> None:
        stack: list[tuple[str, int]] = [(key, 0)]
        seen.add(key)
        while stack:
            current, index = stack.pop()
            targets = keyed[current].targets()
            if index < len(targets):
                stack.append((current, index + 1))
                following = targets[index]
                if following in keyed and following not in seen:
                    seen.add(following)
                    stack.append((following, 0))
            else:
                order.append(keyed[current])
    for root in [START, *keyed]:
        if root in keyed and root not in seen:
            visit(root)
    return order


def _action_diff(live: dict[str, Any], body: dict[str, Any]) -> list[FieldChange]:
    diff: list[FieldChange] = []
    for key, value in body.items():
        if isinstance(value, dict) and not set(value) <= {"$ref"}:
            have = live.get(key) or {}
            diff += [FieldChange(f"{key}.{k}", have.get(k), v) for k, v in value.items() if have.get(k) != v]
        elif live.get(key) != value:
            diff.append(FieldChange(key, live.get(key), value))
    return diff


def apply_change(api: Comm100Api, change: Change, ids: dict[str, Any]) -> None:
    """Send one change; a create records the id it made under its `ref`."""
    path = resolve_path(change.path, ids)
    body = _with_secrets(resolve(change.body, ids), api.secrets) if change.body is not None else None
    if change.op == "delete":
        api.request("DELETE", path)
        return
    if change.op == "update":
        api.request("PUT", path, json=body)
        return
    known = {v for v in ids.values() if isinstance(v, str)}
    result = api.request("POST", path, json=body, lookup=_lookup(api, change, body, known))
    if change.ref is not None:
        ids[change.ref] = result["id"]


def _with_secrets(body: Any, secrets: dict[str, str]) -> Any:
    if isinstance(body, dict):
        if set(body) == {"$secret"}:
            return secrets.get(body["$secret"], "")
        return {k: _with_secrets(v, secrets) for k, v in body.items()}
    if isinstance(body, list):
        return [_with_secrets(v, secrets) for v in body]
    return body


def _lookup(api: Comm100Api, change: Change, body: Any, known: set[str]) -> Callable[[], Any]:
    """How to tell whether a create that failed ambiguously happened after
    all (`known`: ids the deploy already holds, which are not it)."""
    def find() -> Any:
        if change.kind == "voicebot":
            return next((b for b in api.get(schema.VOICEBOTS) or [] if b.get("name") == body["name"]
                         and b.get("description") == body.get("description")), None)
        if change.kind == "response":
            return next((r for r in api.get(schema.RESPONSES, **{schema.RESPONSE_FILTER: body["voicebotId"]}) or []
                         if r.get("name") == body["name"]), None)
        if change.kind == "action":
            place = ("type", "xPosition", "yPosition", schema.ACTION_MARKER_FIELD)
            return next((a for a in api.get(schema.ACTIONS, **{schema.ACTION_FILTER: body["voicebotResponseId"]})
                         or [] if a.get("id") not in known and all(a.get(k) == body.get(k) for k in place)), None)
        if change.kind == "channel instance":
            used = {_instance_of(b) for b in api.get(schema.VOICEBOTS) or []} | known
            return next((i for i in api.get(schema.CHANNEL_INSTANCES) or [] if i.get("id") not in used
                         and (i.get("channelType"), i.get("infoId")) == (body["channelType"], body["infoId"])), None)
        if change.kind == "smart trigger":
            return next((t for t in api.get(schema.BOT_SMART_TRIGGERS.format(bot=body["voicebotId"])) or []
                         if t.get("trigger") == body["trigger"]), None)
        if change.kind == "channel configuration" and "phoneNumber" in body:
            return next((c for c in api.get(schema.TWILIO_CONFIGURATIONS) or []
                         if c.get("phoneNumber") == body["phoneNumber"]), None)
        if change.kind == "channel configuration":
            return next((c for c in api.get(schema.SIP_CONFIGURATIONS) or []
                         if c.get("sIPServer") == body["sIPServer"] and c.get("username") == body["username"]), None)
        return None
    return find


def destroy_plan(live: Live, bots: list[dict[str, Any]], flow: str) -> Plan:
    """The calls that remove what ivrflow made for a flow: the smart trigger,
    actions and response of its voicebot, the voicebot, then its channel
    instance and configuration unless another voicebot (`bots`: all of the
    site's) uses them. What someone else added is left alone and listed as
    unmanaged, with what holds it (as a deploy leaves it): an action in
    ivrflow's response keeps the response (whole: the action may go to
    ivrflow's) and its trigger; a response or trigger of their own keeps
    the voicebot and its channel. A voicebot of the flow's name that
    ivrflow did not make is left alone."""
    plan = Plan(NAME)
    add = plan.changes.append
    if live.bot is None:
        if live.foreign is not None:
            plan.unmanaged.append(Unmanaged("voicebot", f"voicebot:{live.foreign.get('id')}",
                                            f"voicebot `{live.foreign.get('name')}` was not made by ivrflow"))
        return plan
    name = live.bot.get("name")
    trigger = _call_starts(live)
    theirs = [a for a in _on_canvas(live.actions) if not ours(a, flow)]
    plan.unmanaged += [_unmanaged("action", a, live) for a in theirs]
    plan.unmanaged += [_unmanaged(kind, found, live) for kind, found in _someone_elses(live, trigger)]
    if not theirs:
        if trigger is not None:
            add(Change("delete", "smart trigger", "trigger:callStarts", "DELETE",
                       f"{schema.SMART_TRIGGERS}/{trigger['id']}"))
        for action in _on_canvas(live.actions):
            add(_delete("action", action))
        if live.response is not None:
            add(Change("delete", "response", "response:start", "DELETE", f"{schema.RESPONSES}/{live.response['id']}"))
    if plan.unmanaged:
        kept = "its response `" + str((live.response or {}).get("name")) + "`, " if theirs else ""
        plan.notes.append(f"{len(plan.unmanaged)} object(s) someone else added to voicebot `{name}`: left alone, "
                          f"with {kept}the voicebot and its channel (`deploy --adopt` deletes them, then destroy "
                          "removes the rest)")
        return plan
    add(Change("delete", "voicebot", f"voicebot:{name}", "DELETE", f"{schema.VOICEBOTS}/{live.bot['id']}"))
    others = [b for b in bots if b.get("id") != live.bot["id"]]
    instance = live.instance
    if instance is not None and not any(_instance_of(b) == instance["id"] for b in others):
        add(Change("delete", "channel instance", "channel", "DELETE", f"{schema.CHANNEL_INSTANCES}/{instance['id']}"))
        config = live.config
        if config is not None and config.get("id") == instance.get("infoId"):
            path = schema.SIP_CONFIGURATIONS if instance.get("channelType") == "sip" else schema.TWILIO_CONFIGURATIONS
            add(Change("delete", "channel configuration", f"config:{instance.get('channelType')}", "DELETE",
                       f"{path}/{config['id']}"))
    return plan


def _instance_of(bot: dict[str, Any]) -> Any:
    return (bot.get("channel") or {}).get("id") or bot.get("channelId")
