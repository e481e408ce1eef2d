"""What to send Telphin: the difference between the desired objects and the
live ones, in an order the API accepts (sounds, the extension and contexts
before the rules that refer to them; deletions last), and applying it."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

from ...deploy.plan import Change, Plan, resolve, resolve_path
from .client import Live, TelphinApi, find_extension
from .compile import BUILT_IN, Desired, Rule, marker

EXTENSION = "/client/@me/extension/"
SOUNDS = "/client/@me/sound/"
IVR = "/extension/{extension}/ivr/"
CONTEXTS = "/extension/{extension}/ivr/context/"


def _context(key: str) -> str:
    return CONTEXTS + "{context:" + key + "}"


def _digits(digits: str) -> str:
    """An option in a path: `#` would start the URL's fragment."""
    return urllib.parse.quote(digits, safe="*")


def make_plan(desired: Desired, live: Live | None) -> Plan:
    """The calls that make `live` (None: nothing exists) into `desired`."""
    live = live or Live({}, None, None, {})
    plan = Plan("telphin", notes=[f"placeholder: <{name}> (give an environment to fill it in)"
                                  for name in desired.placeholders])
    ids: dict[str, Any] = {}  # what already exists, by ref name
    add = plan.changes.append

    if live.extension is not None:
        ids["extension"] = live.extension["id"]
    for sound in desired.sounds:
        found = live.sounds.get(sound.title)
        if found is not None:
            ids[f"sound:{sound.name}"] = found["id"]
        else:
            add(Change("create", "sound", f"sound:{sound.name}", "POST", SOUNDS, {"title": sound.title},
                       ref=f"sound:{sound.name}", source=sound.source, upload=sound.path or f"tts:{sound.name}"))
    if live.extension is None:
        add(Change("create", "extension", "extension", "POST", EXTENSION,
                   {"status": "active", "name": desired.extension, "label": desired.label, "type": "ivr"},
                   ref="extension"))

    for context in desired.contexts:
        body = {**context.fields(), "description": marker(desired.flow, f"context:{context.key}")}
        existing = live.contexts.get(context.key)
        if existing is None:
            add(Change("create", "context", f"context:{context.key}", "POST", CONTEXTS, body,
                       ref=f"context:{context.key}", source=context.source))
            continue
        ids[f"context:{context.key}"] = existing.id
        changed = [f"{k}: {existing.fields.get(k)!r} → {v!r}" for k, v in context.fields().items()
                   if existing.fields.get(k) != v]
        if changed:
            add(Change("update", "context", f"context:{context.key}", "PUT", _context(context.key), body,
                       source=context.source, detail=changed))

    for context in desired.contexts:  # custom options (the built-in ones always exist)
        existing = live.contexts.get(context.key)
        for digits in context.options:
            if digits not in BUILT_IN and (existing is None or digits not in existing.options):
                add(Change("create", "option", f"option:{context.key}/{digits}", "POST",
                           _context(context.key) + "/options/", {"digits": digits}, source=context.source))

    for context in desired.contexts:
        existing = live.contexts.get(context.key)
        for digits, rules in context.options.items():
            current = existing.options.get(digits, []) if existing is not None else []
            _rules(plan, context.key, digits, rules, current, ids)

    ivr = dict(desired.ivr, entry_context={"$ref": f"context:{desired.entry}"})
    current_ivr = live.ivr or {}
    entry = ids.get(f"context:{desired.entry}", f"(the new context {desired.entry})")
    wanted = resolve(ivr, {**ids, f"context:{desired.entry}": entry})
    changed = [f"{k}: {current_ivr.get(k)!r} → {v!r}" for k, v in wanted.items() if current_ivr.get(k) != v]
    if changed:
        add(Change("update", "ivr", "ivr", "PUT", IVR, ivr, detail=changed))

    desired_keys = {c.key for c in desired.contexts}
    for context in desired.contexts:  # options no longer wanted, in contexts we keep
        existing = live.contexts.get(context.key)
        if existing is not None:
            for digits in existing.options:
                if digits not in BUILT_IN and digits not in context.options:
                    add(Change("delete", "option", f"option:{context.key}/{digits}", "DELETE",
                               f"{_context(context.key)}/options/{_digits(digits)}", source=context.source))
    for key, existing in sorted(live.contexts.items()):
        if key not in desired_keys:
            add(Change("delete", "context", f"context:{key}", "DELETE", CONTEXTS + str(existing.id)))
    wanted_titles = {s.title for s in desired.sounds}
    for title, live_sound in sorted(live.sounds.items()):
        if title not in wanted_titles:
            add(Change("delete", "sound", f"sound:{title.split(':')[2]}", "DELETE", f"{SOUNDS}{live_sound['id']}"))
    for change in plan.changes:  # ids that already exist go straight into paths and bodies
        change.path = resolve_path(change.path, ids)
        change.body = resolve(change.body, ids, partial=True)
    return plan


def _rules(plan: Plan, context: str, digits: str, rules: list[Rule], current: list[dict[str, Any]],
           ids: dict[str, Any]) -> None:
    """Rules by position: equal ones stay, different ones are updated in place
    (so the order holds without the order endpoint), extra ones are deleted."""
    path = f"{_context(context)}/options/{_digits(digits)}/rules/"
    for index in range(max(len(rules), len(current))):
        key = f"rule:{context}/{digits}#{index}"
        if index < len(rules):
            body = rules[index].body()
            if index < len(current):
                live_rule = current[index]
                try:
                    same = all(live_rule.get(k) == v for k, v in resolve(body, ids).items())
                except KeyError:  # it refers to something this plan creates
                    same = False
                if not same:
                    change = Change("update", "rule", key, "PUT", f"{path}{live_rule['id']}", body,
                                    source=rules[index].source,
                                    detail=[f"{live_rule.get('action')} → {body['action']}"])
                    plan.changes.append(change)
            else:
                plan.changes.append(Change("create", "rule", key, "POST", path, body, source=rules[index].source))
        else:
            plan.changes.append(Change("delete", "rule", key, "DELETE", f"{path}{current[index]['id']}"))


def apply_change(api: TelphinApi, change: Change, ids: dict[str, Any], flow: str,
                 read_file: Callable[[str], tuple[str, bytes]]) -> None:
    """Send one change; a create records the id it made under its `ref`."""
    path = resolve_path(change.path, ids)
    body = resolve(change.body, ids)
    if change.method != "POST":
        api.request(change.method, path, json=body if change.method == "PUT" else None)
        return
    lookup = _lookup(api, change, path, body)
    if change.kind == "sound":
        filename, data = read_file(change.upload or "")
        result = api.request("POST", path, lookup=lookup, data=body, files={"file": (filename, data, "audio/wav")})
    else:
        result = api.request("POST", path, lookup=lookup, json=body)
    if change.ref is not None:
        ids[change.ref] = result["id"]


def _lookup(api: TelphinApi, change: Change, path: str, body: dict[str, Any]) -> Callable[[], Any]:
    """How to tell whether a create that failed ambiguously happened after all."""
    def find() -> Any:
        if change.kind == "sound":
            return next((s for s in api.get(path) if s.get("title") == body["title"]), None)
        if change.kind == "extension":
            return find_extension(api.get(path), body["name"])
        if change.kind == "context":
            return next((c for c in api.get(path) if c.get("description") == body["description"]), None)
        if change.kind == "option":
            return next((o for o in api.get(path) if str(o.get("digits")) == body["digits"]), None)
        if change.kind == "rule":
            index = int(change.key.rsplit("#", 1)[1])
            rules = api.get(path)
            if len(rules) > index and all(rules[index].get(k) == v for k, v in body.items()):
                return rules[index]
            return None
        return None
    return find
