"""What to send Telphin: the difference between the desired objects and the
live ones, in an order the API accepts (sounds, the extension and contexts
before the rules that refer to them; deletions last), and applying it."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...deploy.plan import Change, FieldChange, Plan, Unmanaged, field_changes, resolve, resolve_path
from .client import Live, LiveContext, TelphinApi, find_extension
from .compile import BUILT_IN, Context, Desired, Rule, describe

EXTENSION = "/client/@me/extension/"
SOUNDS = "/client/@me/sound/"
IVR = "/extension/{extension}/ivr/"
CONTEXTS = "/extension/{extension}/ivr/context/"


def _context(key: str) -> str:
    return CONTEXTS + "{context:" + key + "}"


def _digits(digits: str) -> str:
    """An option in a path: `#` would start the URL's fragment."""
    return urllib.parse.quote(digits, safe="*")


def make_plan(desired: Desired, live: Live | None, *, adopt: bool = False) -> Plan:
    """The calls that make `live` (None: nothing exists) into `desired`.
    What ivrflow did not make (options and rules someone added to its
    contexts, an extension whose voice menu is someone else's) is left alone
    and listed as unmanaged, unless `adopt`."""
    live = live or Live({}, None, None, {})
    plan = Plan("telphin", notes=[f"placeholder: <{name}> (give an environment to fill it in)"
                                  for name in desired.placeholders])
    ids: dict[str, Any] = {}  # what already exists, by ref name
    add = plan.changes.append
    last: list[Change] = []  # descriptions that shrink, once the rules and options they name are gone

    if live.extension is not None:
        ids["extension"] = live.extension["id"]
    for sound in desired.sounds:
        found = live.sounds.get(sound.title, [])
        if found:
            ids[f"sound:{sound.name}"] = found[0]["id"]
        else:
            add(Change("create", "sound", f"sound:{sound.name}", "POST", SOUNDS, {"title": sound.title},
                       ref=f"sound:{sound.name}", source=sound.source, upload=sound.path or f"tts:{sound.name}"))
    if live.extension is None:
        add(Change("create", "extension", "extension", "POST", EXTENSION,
                   {"status": "active", "name": desired.extension, "label": desired.label, "type": "ivr"},
                   ref="extension"))

    owned: dict[str, _Owned] = {}
    for context in desired.contexts:
        copies = live.contexts.get(context.key, [])
        existing = copies[0] if copies else None
        mine = _Owned.of(context, existing, adopt)
        owned[context.key] = mine
        for digits in mine.left_alone:
            plan.unmanaged.append(Unmanaged("option", f"option:{context.key}/{digits}", mine.left_alone[digits]))
        for digits, rule in mine.foreign_rules:
            plan.unmanaged.append(Unmanaged("rule", f"rule:{context.key}/{digits} id {rule['id']}",
                                            "a rule someone else added"))
        first = describe(desired.flow, context.key, mine.manifest(context, growing=True))
        body = {**context.fields(), "description": first}
        if existing is None:
            add(Change("create", "context", f"context:{context.key}", "POST", CONTEXTS, body,
                       ref=f"context:{context.key}", source=context.source))
            continue
        ids[f"context:{context.key}"] = existing.id
        changed = field_changes(existing.fields, context.fields())
        if existing.fields.get("description") != first:  # the rules ivrflow made in it
            changed.append(FieldChange("description", existing.fields.get("description"), first))
        if changed:
            add(Change("update", "context", f"context:{context.key}", "PUT", _context(context.key), body,
                       source=context.source, diff=changed))
        final = describe(desired.flow, context.key, mine.manifest(context, growing=False))
        if final != first:
            last.append(Change("update", "context", f"context:{context.key}", "PUT", _context(context.key),
                               {**context.fields(), "description": final}, source=context.source,
                               diff=[FieldChange("description", first, final)],
                               detail=["description: what ivrflow made in it, after removing rules"]))

    for context in desired.contexts:  # custom options (the built-in ones always exist)
        existing = live.contexts.get(context.key, [None])[0]
        for digits in context.options:
            if digits not in BUILT_IN and (existing is None or digits not in existing.options):
                add(Change("create", "option", f"option:{context.key}/{digits}", "POST",
                           _context(context.key) + "/options/", {"digits": digits}, source=context.source))

    for context in desired.contexts:
        existing = live.contexts.get(context.key, [None])[0]
        mine = owned[context.key]
        emptied: dict[str, list[Rule]] = {digits: [] for digits in mine.rules
                                          if digits in BUILT_IN and digits not in context.options}
        for digits, rules in {**context.options, **emptied}.items():  # built-in options the flow leaves empty too
            if digits in mine.left_alone:
                continue
            current = existing.options.get(digits, []) if existing is not None else []
            _rules(plan, context.key, digits, rules, current[:mine.rules.get(digits, 0)], ids)

    ivr = dict(desired.ivr, entry_context={"$ref": f"context:{desired.entry}"})
    current_ivr = live.ivr or {}
    entry = ids.get(f"context:{desired.entry}", f"(the new context {desired.entry})")
    wanted = resolve(ivr, {**ids, f"context:{desired.entry}": entry})
    changed = field_changes(current_ivr, wanted)
    theirs = _someone_elses_menu(live, adopt)
    if changed and theirs:
        plan.unmanaged.append(Unmanaged("ivr", "ivr", theirs))
        plan.notes.append(f"extension {desired.extension} answers with someone else's voice menu: callers do not "
                          "reach this flow until it is adopted (`--adopt`)")
    elif changed:
        add(Change("update", "ivr", "ivr", "PUT", IVR, ivr, diff=changed))

    desired_keys = {c.key for c in desired.contexts}
    for context in desired.contexts:  # options no longer wanted, in contexts we keep
        existing = live.contexts.get(context.key, [None])[0]
        if existing is not None:
            for digits in existing.options:
                if digits not in BUILT_IN and digits not in context.options and digits in owned[context.key].rules:
                    add(Change("delete", "option", f"option:{context.key}/{digits}", "DELETE",
                               f"{_context(context.key)}/options/{_digits(digits)}", source=context.source))
    plan.changes.extend(last)  # what ivrflow made, once its rules and options are gone
    for key, copies in sorted(live.contexts.items()):
        for index, existing in enumerate(copies):
            if key in desired_keys and index == 0:
                continue
            foreign = _Owned.of(None, existing, adopt)
            if foreign.left_alone or foreign.foreign_rules:
                plan.unmanaged.append(Unmanaged("context", f"context:{key} id {existing.id}",
                                                "no longer in the flow, but holds options or rules someone else "
                                                "added"))
                continue
            what = f"context:{key}" if index == 0 else f"context:{key} (duplicate {existing.id})"
            add(Change("delete", "context", what, "DELETE", CONTEXTS + str(existing.id)))
    wanted_titles = {s.title for s in desired.sounds}
    for title, found in sorted(live.sounds.items()):
        for index, live_sound in enumerate(found):
            if title in wanted_titles and index == 0:
                continue
            name = title.split(":")[2] + ("" if index == 0 else f" (duplicate {live_sound['id']})")
            add(Change("delete", "sound", f"sound:{name}", "DELETE", f"{SOUNDS}{live_sound['id']}"))
    if plan.unmanaged and not adopt:
        plan.notes.append(f"{len(plan.unmanaged)} object(s) ivrflow did not make: unmanaged, left alone "
                          "(`--adopt` changes or deletes them to match the flow)")
    for change in plan.changes:  # ids that already exist go straight into paths and bodies
        change.path = resolve_path(change.path, ids)
        change.body = resolve(change.body, ids, partial=True)
    return plan


@dataclass
class _Owned:
    """What of a live context is ivrflow's: rules per option (the first N of
    each), options someone else made (by digits, with why they are left
    alone), and the rules someone else added after ivrflow's."""

    rules: dict[str, int] = field(default_factory=dict)
    left_alone: dict[str, str] = field(default_factory=dict)
    foreign_rules: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (option, rule)

    @classmethod
    def of(cls, context: Context | None, existing: LiveContext | None, adopt: bool) -> _Owned:
        owned = cls()
        if existing is None:
            return owned
        manifest = existing.manifest
        for digits, rules in existing.options.items():
            mine = adopt or manifest is None or digits in BUILT_IN or digits in manifest
            if not mine:
                owned.left_alone[digits] = "an option someone else added"
                continue
            count = len(rules) if adopt or manifest is None else min(manifest.get(digits, 0), len(rules))
            owned.rules[digits] = count
            extra = rules[count:]
            wanted = len(context.options.get(digits, [])) if context is not None else 0
            if extra and wanted > count:  # new rules would land after someone else's
                owned.left_alone[digits] = (f"someone else added {len(extra)} rule(s) after ivrflow's, and the "
                                            "flow needs more: left as it is")
            owned.foreign_rules.extend((digits, rule) for rule in extra)
        return owned

    def manifest(self, context: Context, *, growing: bool) -> dict[str, int]:
        """The rules ivrflow makes per option: before the rules are changed (the
        most of then and now, so a run cut short leaves none of its own
        unclaimed), or after."""
        made: dict[str, int] = {}
        for digits, rules in context.options.items():
            if digits in self.left_alone:
                if digits in self.rules:
                    made[digits] = self.rules[digits]
                continue
            made[digits] = max(len(rules), self.rules.get(digits, 0)) if growing else len(rules)
        if growing:  # options about to be deleted stay claimed until they are
            made.update({digits: count for digits, count in self.rules.items()
                         if digits not in made and digits not in BUILT_IN})
        return made


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
                                    diff=field_changes(live_rule, resolve(body, ids, partial=True)))
                    plan.changes.append(change)
            else:
                plan.changes.append(Change("create", "rule", key, "POST", path, body, source=rules[index].source))
        else:
            plan.changes.append(Change("delete", "rule", key, "DELETE", f"{path}{current[index]['id']}"))


def _someone_elses_menu(live: Live, adopt: bool) -> str | None:
    """Why the extension's voice menu is not this flow's to change, or None:
    it is if it enters one of the flow's contexts or none at all."""
    if adopt or live.ivr is None:
        return None
    entry = live.ivr.get("entry_context")
    mine = {context.id for copies in live.contexts.values() for context in copies}
    if not entry or entry in mine:
        return None
    return f"the extension's voice menu enters context {entry}, which is not this flow's"


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
            return next((s for s in api.get_all(path) if s.get("title") == body["title"]), None)
        if change.kind == "extension":
            return find_extension(api.get_all(path), body["name"])
        if change.kind == "context":
            return next((c for c in api.get_all(path) if c.get("description") == body["description"]), None)
        if change.kind == "option":
            return next((o for o in api.get_all(path) if str(o.get("digits")) == body["digits"]), None)
        if change.kind == "rule":
            index = int(change.key.rsplit("#", 1)[1])
            rules = api.get_all(path)
            if len(rules) > index and all(rules[index].get(k) == v for k, v in body.items()):
                return rules[index]
            return None
        return None
    return find


#: The IVR settings of a voice menu nobody set up: what `destroy` puts back.
#: Source: the defaults of PLATFORMS.md §1's IVR table (entry_context 0 = no
#: menu; sleep_time, lifetime 0; lifetime_exp_action hangup).
IVR_DEFAULTS: dict[str, Any] = {"entry_context": 0, "sleep_time": 0, "lifetime": 0, "lifetime_exp_action": "hangup",
                                "lifetime_exp_transfer_dst": None}


def destroy_plan(live: Live) -> Plan:
    """The calls that remove what ivrflow made for a flow (`live` as read for
    it): the extension's voice menu is reset to IVR_DEFAULTS when it enters
    one of the flow's contexts (the extension itself stays: it is the number
    of ivrflow.toml, and ivrflow does not mark it), then the flow's contexts
    (their options and rules go with them) and its sounds. A context that
    holds options or rules someone else added is left alone, as a deploy
    leaves it, and listed as unmanaged."""
    plan = Plan("telphin")
    mine = {context.id for copies in live.contexts.values() for context in copies}
    if live.extension is not None and live.ivr is not None and live.ivr.get("entry_context") in mine:
        reset = field_changes(live.ivr, IVR_DEFAULTS)
        path = resolve_path(IVR, {"extension": live.extension["id"]})
        plan.changes.append(Change("update", "ivr", "ivr", "PUT", path, dict(IVR_DEFAULTS), diff=reset))
    elif live.ivr is not None and live.ivr.get("entry_context"):
        plan.notes.append("the extension's voice menu enters a context that is not this flow's: left as it is")
    base = resolve_path(CONTEXTS, {"extension": live.extension["id"]}) if live.extension is not None else CONTEXTS
    for key, copies in sorted(live.contexts.items()):
        for index, existing in enumerate(copies):
            foreign = _Owned.of(None, existing, False)
            if foreign.left_alone or foreign.foreign_rules:
                plan.unmanaged.append(Unmanaged("context", f"context:{key} id {existing.id}",
                                                "holds options or rules someone else added"))
                continue
            what = f"context:{key}" if index == 0 else f"context:{key} (duplicate {existing.id})"
            plan.changes.append(Change("delete", "context", what, "DELETE", base + str(existing.id)))
    for title, found in sorted(live.sounds.items()):
        for index, live_sound in enumerate(found):
            name = title.split(":")[2] + ("" if index == 0 else f" (duplicate {live_sound['id']})")
            plan.changes.append(Change("delete", "sound", f"sound:{name}", "DELETE", f"{SOUNDS}{live_sound['id']}"))
    if plan.unmanaged:
        plan.notes.append(f"{len(plan.unmanaged)} object(s) hold what someone else added: left alone")
    return plan
