"""The flow's nodes and handlers as Comm100 actions, keyed by where they
come from (`main/press 1/transfer`), links by key: what compile.py builds a
voicebot's response from. Every Comm100 field name is in schema.py.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...compiler import ir, machine
from ...compiler.diagnostics import RULES, Diagnostic
from ...compiler.values import TEMPLATE, template_names
from . import conditions, schema

#: The key of the action that heads the start response.
START = "start"


@dataclass
class Action:
    """One voicebot action. `links` name other actions by key (None: no
    link); `options` are an IVRMenu's keys with the key of the action each
    goes to."""

    key: str
    type: str
    fields: dict[str, Any]
    links: dict[str, str | None]
    source: ir.Span | None
    x: int
    y: int
    options: list[tuple[int, str]] = field(default_factory=list)  # (key, action key)
    menu: str | None = None  # the menu an IVRMenu asks for
    #: A Condition's cases or a Webhook's responseCodeToActions: (item, action key).
    items: list[tuple[dict[str, Any], str]] = field(default_factory=list)

    def targets(self) -> list[str]:
        return ([k for k in self.links.values() if k is not None] + [k for _, k in self.options]
                + [k for _, k in self.items])

    def live_links(self, sub: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(action key, live id) for each link a live sub-object of this
        action sets: by field, an option by its key, a list item by its place."""
        found = [(target, str(sub[slot])) for slot, target in self.links.items()
                 if target is not None and sub.get(slot) is not None]
        options = {o.get("key"): o.get(schema.OPTION_LINK) for o in sub.get(schema.OPTIONS_FIELD) or []
                   if isinstance(o, dict)}
        found += [(target, str(options[key])) for key, target in self.options if options.get(key) is not None]
        if self.type in schema.LIST_LINKS:
            name, link = schema.LIST_LINKS[self.type]
            live = [item for item in sub.get(name) or [] if isinstance(item, dict)]
            found += [(target, str(item[link])) for (_, target), item in zip(self.items, live, strict=False)
                      if item.get(link) is not None]
        return found

    def body(self, ids: Mapping[str, Any], *, linked: bool = True) -> dict[str, Any]:
        """The action as the API takes it; links as `ids` give them (a
        `{"$ref"}` for an action the plan creates), None when not `linked`."""
        sub: dict[str, Any] = dict(self.fields)
        for name, target in self.links.items():
            sub[name] = ids.get(target) if linked and target is not None else None
        if self.type == "IVRMenu":
            sub[schema.OPTIONS_FIELD] = [
                {"key": key, "text": str(key), "order": order,
                 schema.OPTION_LINK: ids.get(target) if linked else None}
                for order, (key, target) in enumerate(self.options)]
        if self.type in schema.LIST_LINKS:
            name, link = schema.LIST_LINKS[self.type]
            sub[name] = [{**item, link: ids.get(target) if linked else None} for item, target in self.items]
        return {"type": self.type, "xPosition": self.x, "yPosition": self.y, schema.sub_object(self.type): sub}


@dataclass(frozen=True, slots=True)
class Handler:
    """Where a handler's actions go: its node, the prefix of their keys,
    where `repeat` goes (None: the node's own entry) and what `{key}` is."""

    owner: str
    base: str
    again: str | None = None
    key: str | None = None


#: Why `ask` is refused.
ASK_REFUSED = ("`ask` cannot be deployed to comm100: its service answers with the next action itself, and "
               "`ivrflow serve` answers the asks of Telphin, PortSIP and mediaservice in their own protocols, none "
               "in the shape of a Comm100 Webhook (variables from a JSON answer, the next action by HTTP status)")


def uses_key(flow: ir.Flow, actions: ir.Actions) -> bool:
    """Whether a handler inserts `{key}` (in a prompt it plays, a value it sets or a number it dials)."""
    texts: list[str] = []
    for action in ir.with_answers(actions.items):
        if isinstance(action, ir.PlayThen) and (prompt := flow.prompt(action.prompt)) is not None:
            texts += [form.value for form in prompt.forms]
        elif isinstance(action, ir.SetVariable):
            texts.append(action.value)
        elif isinstance(action, ir.Transfer):
            texts.append(action.destination)
    return any("key" in template_names(text) for text in texts)


class ActionBuilder:
    """Turns a flow's nodes and handlers into actions (`actions`), with the
    diagnostics of what Comm100 cannot carry or only approximates."""

    def __init__(self, flow: ir.Flow, env: Mapping[str, Any]):
        self.flow = flow
        self.env = env
        self.diagnostics: list[Diagnostic] = []
        self.placeholders: list[str] = []
        self.actions: dict[str, Action] = {}
        self.columns: dict[str, int] = {}
        self.rows: dict[int, int] = {}  # actions in each block (0: the Start action, then one per menu)
        self.blocks: dict[str, tuple[int, int]] = {}  # action → (block, row in it)
        self.entries: dict[str, str] = {}  # node → the key of its first action (a goto goes there)
        self.approximated: set[str] = set()
        self.unpublished: set[str] = set()  # recordings reported without audio_base_url

    def placeholder(self, name: str) -> str:
        if name not in self.placeholders:
            self.placeholders.append(name)
            self.placeholders.sort()
        return "<" + name + ">"

    def report(self, code: str, span: ir.Span, message: str, hint: str | None = None) -> None:
        self.diagnostics.append(RULES[code].at(span, message, hint))

    def add(self, key: str, kind: str, column: int, fields: dict[str, Any], links: dict[str, str | None],
            source: ir.Span | None, **extra: Any) -> Action:
        row = self.rows.get(column, 0)
        self.rows[column] = row + 1
        action = Action(key, kind, fields, links, source, 0, 0, **extra)
        self.actions[key] = action
        self.blocks[key] = (column, row)
        return action

    def said(self, name: str) -> str | None:
        """A `say` prompt's text in Comm100's words (variables inserted), None for a recording."""
        prompt = self.flow.prompt(name)
        if prompt is None or prompt.kind != "say":
            return None
        return self.words(prompt.value, prompt.value_span)

    def no_sets(self, handler: ir.OnEvent | None, why: str) -> None:
        """IVR205 at each `set` in a handler Comm100 runs by itself (it would be left out)."""
        for step in handler.actions.steps if handler is not None else ():
            if isinstance(step, ir.SetVariable):
                self.report("IVR205", step.span, f"`{ir.written(step)}` cannot be deployed to comm100 here: "
                                                 f"{why}, so it cannot run a `set` first")

    def text(self, name: str) -> str | None:
        prompt = self.flow.prompt(name)
        return prompt.value if prompt is not None and prompt.kind == "say" else None

    def entry_key(self, node: ir.Menu | ir.Collect | ir.Lookup | ir.Route) -> str:
        """The key of a node's first action (a `goto` goes there)."""
        if isinstance(node, ir.Route):
            return f"{node.name}/if 1" if isinstance(node.branches[0], ir.When) else f"{node.name}/otherwise"
        if isinstance(node, ir.Lookup):
            return node.name
        prefix = node.name
        files = [p for p in node.plays if self.text(p.prompt) is None]
        if files:
            return f"{prefix}/play/0"
        return prefix if isinstance(node, ir.Menu) else f"{prefix}/collect"

    def exhausted(self, node: ir.Menu | ir.Collect) -> str:
        handler = node.on("exhausted")
        if handler is None:
            key = f"{node.name}/exhausted/end"
            if key not in self.actions:
                self.add(key, "EndCall", self.columns[node.name], {}, {}, node.name_span)
            return key
        return self.chain(handler.actions, Handler(node.name, f"{node.name}/exhausted"))

    def audio(self, prompt: str) -> str:
        """A recording's audioPath: under the environment's `audio_base_url`
        (Comm100 fetches audio by URL; ivrflow does not upload it)."""
        found = self.flow.prompt(prompt)
        path = found.value if found is not None else prompt
        base = self.env.get("audio_base_url")
        if base:
            return urllib.parse.urljoin(str(base).rstrip("/") + "/", urllib.parse.quote(path))
        if found is not None and prompt not in self.unpublished:
            self.unpublished.add(prompt)
            self.report("IVR206", found.value_span,
                        f"Comm100 plays recordings from a URL and ivrflow does not upload them: `{path}` is sent "
                        "as it is", hint="publish the recordings and set `audio_base_url` in the environment")
        return path

    def collect(self, collect: ir.Collect) -> None:
        """A copy of the collect per retry its wrong entries may take: copy N's
        `on invalid -> repeat` goes to copy N+1, the last one's to `on
        exhausted` (Comm100 keeps no count of them)."""
        column = self.columns[collect.name]
        fewest, most = collect.digits_range
        end_key = collect.end_key
        if end_key is not None and end_key not in schema.STOP_KEYS:
            setting = collect.get("end-key")
            self.report("IVR205", setting.span if setting else collect.name_span,
                        f"Comm100 ends an entry only at {' or '.join(schema.STOP_KEYS)}: `end-key \"{end_key}\"` "
                        "cannot be its stop key")
        fixed = end_key is None and fewest == most and most <= schema.DIGITS_MOST
        if not fixed:
            setting = collect.get("digits")
            self.report("IVR206", setting.span if setting else collect.name_span,
                        f"Comm100 collects a variable number of keys until "
                        f"{'the end key' if end_key else 'the caller stops'}: an entry of more than {most} keys "
                        f"is invalid there, where `collect {collect.name}` would "
                        f"take the first {most}")
        pause = collect.get("inter-digit")
        if pause is not None:
            self.report("IVR206", pause.span, "CollectDTMFDigits has no inter-digit setting: Comm100 ends an entry "
                                              "after its own pause")
        done = collect.on("done")
        done_key = self.chain(done.actions, Handler(collect.name, f"{collect.name}/done",
                                                    key=schema.variable_text(collect.name))) \
            if done is not None else self.end_call(f"{collect.name}/done", column, collect.name_span)
        texts = [self.words(t, span) for t, span in self.play_texts(collect)]
        invalid = collect.on("invalid")
        repeats = invalid is None or isinstance(invalid.actions.terminal, ir.Repeat)
        wrong = collect.retry_limits[1] if repeats else 0  # a copy per retry only where `repeat` counts one
        copies = [collect.name if n == 0 else f"{collect.name}/try {n}" for n in range(wrong + 1)]
        pattern = f"^[0-9*#]{{{fewest},{most}}}$"
        for number, prefix in enumerate(copies):
            again = (self.entry_of_copy(collect, copies[number + 1]) if number + 1 < len(copies)
                     else self.exhausted(collect))
            bad = (self.chain(invalid.actions, Handler(collect.name, f"{prefix}/invalid", again=again))
                   if invalid is not None else again)
            keep = f"{prefix}/keep"
            self.add(keep, "SetVariableValue", column,
                     {"variable": collect.name, "value": schema.variable_text(schema.ENTRY_VARIABLE),
                      schema.SAVE_TO_FIELD: schema.SAVE_TO_VARIABLE}, {"nextActionId": done_key}, collect.span)
            check = self.add(f"{prefix}/check", "Condition", column, {}, {"otherCaseActionId": bad}, collect.span)
            check.items.append(({"order": 0, "conditionExpressionType": "all", "conditions": [
                {"fieldName": schema.variable_field(schema.ENTRY_VARIABLE), "operator": "regularExpression",
                 "value": pattern, "order": 0}]}, keep))
            fields: dict[str, Any] = {"message": " ".join(texts), "variableName": schema.ENTRY_VARIABLE,
                                      "numberOfDigits": str(most) if fixed else schema.VARIABLE_DIGITS}
            if not fixed:
                fields["stopGatherAfterPresskey"] = end_key if end_key in schema.STOP_KEYS else None
            self.add(f"{prefix}/collect", "CollectDTMFDigits", column, fields, {"nextActionId": f"{prefix}/check"},
                     collect.name_span)
            self.recordings(collect, prefix, f"{prefix}/collect")

    def entry_of_copy(self, collect: ir.Collect, prefix: str) -> str:
        files = [p for p in collect.plays if self.text(p.prompt) is None]
        return f"{prefix}/play/0" if files else f"{prefix}/collect"

    def recordings(self, node: ir.Menu | ir.Collect, prefix: str, following: str) -> None:
        """PlayAudio for a node's recordings, before the action that waits."""
        audio = [p for p in node.plays if self.text(p.prompt) is None]
        for index, play in enumerate(audio):
            after = f"{prefix}/play/{index + 1}" if index + 1 < len(audio) else following
            self.add(f"{prefix}/play/{index}", "PlayAudio", self.columns[node.name],
                     {"audioPath": self.audio(play.prompt)}, {"nextActionId": after}, play.span)

    def play_texts(self, node: ir.Menu | ir.Collect) -> list[tuple[str, ir.Span]]:
        found = []
        for play in node.plays:
            prompt = self.flow.prompt(play.prompt)
            if prompt is not None and prompt.kind == "say":
                found.append((prompt.value, prompt.value_span))
        return found

    def lookup(self, lookup: ir.Lookup) -> None:
        """A Webhook: what the runtime would POST, as its body; the answer's
        `variables` into the received names; 200 → `on done`, else `on error`."""
        column = self.columns[lookup.name]
        done, error = lookup.on("done"), lookup.on("error")
        done_key = (self.chain(done.actions, Handler(lookup.name, f"{lookup.name}/done")) if done is not None
                    else self.end_call(f"{lookup.name}/done", column, lookup.span))
        error_key = (self.chain(error.actions, Handler(lookup.name, f"{lookup.name}/error")) if error is not None
                     else self.end_call(f"{lookup.name}/error", column, lookup.span))
        sent = {name: schema.variable_text(name) for name in (*lookup.sent, "caller")}
        body = {"flow": self.flow.name, "node": lookup.name, "variables": sent}
        if "called" in lookup.sent:
            self.report("IVR205", lookup.span, f"lookup `{lookup.name}` sends `called`: {conditions.NO_CALLED}")
        required = [r.name for r in lookup.receive if not r.optional]
        if required:
            self.report("IVR206", lookup.name_span,
                        f"Comm100 maps what an answer has into variables and goes on: an answer without "
                        f"{', '.join(f'`{n}`' for n in required)} runs `on done` there, not `on error`")
        if lookup.get("timeout") is not None:
            setting = lookup.get("timeout")
            assert setting is not None
            self.report("IVR206", setting.span, "a Comm100 Webhook has no timeout setting: it waits as long as "
                                                "Comm100 does")
        webhook = self.add(lookup.name, "Webhook", column, {
            "url": lookup.url, "additionalPostBody": json.dumps(body, ensure_ascii=False), "headers": [],
            "responseToVariables": [{"responseKey": schema.RESPONSE_KEY.format(name=r.name), "variableName": r.name,
                                     "order": order} for order, r in enumerate(lookup.receive)],
        }, {"otherResponseToActionId": error_key}, lookup.name_span)
        webhook.items.append(({"responseCode": schema.WEBHOOK_DONE_STATUS, "order": 0}, done_key))

    def route(self, route: ir.Route) -> None:
        """A Condition action per `when`, its other case the next `when` (or `otherwise`)."""
        following: str | None = None
        for index in reversed(range(len(route.branches))):
            branch = route.branches[index]
            event = ir.branch_event(branch)
            target = self.chain(branch.actions, Handler(route.name, f"{route.name}/{event}"))
            if isinstance(branch, ir.Otherwise):
                following = target
                continue
            why = conditions.problem(branch.condition)
            if why is not None:
                self.report("IVR205", branch.condition.span, f"`when {ir.condition_text(branch.condition)}` "
                                                             f"cannot be deployed to comm100: {why}")
            otherwise = following or self.end_call(f"{route.name}/none", self.columns[route.name], route.span)
            following = self.decide(branch.condition, target, otherwise, route, f"{route.name}/if {index + 1}")

    def decide(self, condition: ir.Condition, yes: str, no: str, route: ir.Route, key: str) -> str:
        """The key of the Condition action (or tree) that goes to `yes` when
        `condition` holds, else to `no`; `key` names the first of them."""
        if isinstance(condition, ir.Compare) and condition.name == "language":
            holds = machine.compare(condition, self.flow.language)  # one language: known now
            return yes if holds else no
        if isinstance(condition, ir.Not):
            return self.decide(condition.inner, no, yes, route, key)
        single = conditions.case(condition)
        if single is not None or not isinstance(condition, (ir.AllOf, ir.AnyOf)):
            kind, items = single or ("all", [])
            action = self.add(key, "Condition", self.columns[route.name], {}, {"otherCaseActionId": no},
                              condition.span)
            action.items.append(({"order": 0, "conditionExpressionType": kind, "conditions": items}, yes))
            return key
        # `and` / `or` of parts that are not all comparisons: one decision per part, last first.
        parts = condition.items
        following = yes if isinstance(condition, ir.AllOf) else no
        for index in reversed(range(len(parts))):
            part_key = key if index == 0 else f"{key}.{index}"
            if isinstance(condition, ir.AllOf):
                following = self.decide(parts[index], following, no, route, part_key)
            else:
                following = self.decide(parts[index], yes, following, route, part_key)
        return following

    def chain(self, actions: ir.Actions, handler: Handler) -> str:
        """The actions of a handler; the key of the first (or of the action a
        lone `goto` or `repeat` goes to)."""
        column = self.columns[handler.owner]
        base = handler.base
        terminal = actions.terminal
        following = self.terminal(terminal, handler, column) if terminal is not None else None
        steps = list(actions.steps)
        for index in reversed(range(len(steps))):
            step = steps[index]
            key = f"{base}/step/{index}" if not isinstance(step, ir.PlayThen) else f"{base}/play/{index}"
            if isinstance(step, ir.SetVariable):
                self.add(key, "SetVariableValue", column,
                         {"variable": step.name, "value": self.words(step.value, step.span, handler.key),
                          schema.SAVE_TO_FIELD: schema.SAVE_TO_VARIABLE}, {"nextActionId": following}, step.span)
            elif isinstance(step, ir.SetLanguage):
                continue  # refused: `set-language` is "no" (one languageId per voicebot)
            elif (prompt := self.flow.prompt(step.prompt)) is not None and prompt.kind == "say":
                self.add(key, "PlayText", column, {"message": self.words(prompt.value, prompt.value_span,
                                                                         handler.key)},
                         {"nextActionId": following}, step.span)
            else:
                self.add(key, "PlayAudio", column, {"audioPath": self.audio(step.prompt)},
                         {"nextActionId": following}, step.span)
            following = key
        return following if following is not None else self.end_call(base, column, actions.span)

    def end_call(self, base: str, column: int, span: ir.Span) -> str:
        key = f"{base}/end"
        if key not in self.actions:
            self.add(key, "EndCall", column, {}, {}, span)
        return key

    def terminal(self, terminal: ir.Action, handler: Handler, column: int) -> str | None:
        base = handler.base
        if isinstance(terminal, ir.Goto):
            if terminal.target in self.entries:
                return self.entries[terminal.target]
            return self.end_call(base, column, terminal.span)  # not a node: the checks report it
        if isinstance(terminal, (ir.Repeat, ir.Replay)):
            if handler.again is not None:
                return handler.again
            if not base.endswith(("/invalid", "/timeout")):
                self.report("IVR206", terminal.span, f"`repeat` goes back to menu `{handler.owner}` on Comm100 "
                                                     "without counting a retry")
            return self.entries.get(handler.owner, handler.owner)
        if isinstance(terminal, (ir.Transfer, ir.Voicemail)):
            key = f"{base}/transfer" if isinstance(terminal, ir.Transfer) else f"{base}/voicemail"
            number = (self.dialable(self.words(terminal.destination, terminal.span, handler.key))
                      if isinstance(terminal, ir.Transfer) else self.voicemail(terminal))
            failed = None
            if isinstance(terminal, ir.Transfer) and terminal.fallback is not None:
                if terminal.ring is not None:
                    self.report("IVR206", terminal.ring.span, "Comm100 has no ring time for a transfer: it gives up "
                                                              "after its own wait, then runs the `else`")
                failed = self.terminal(terminal.fallback, Handler(handler.owner, f"{base} else", handler.again,
                                                                  handler.key), column)
            self.add(key, "TransferCall", column, {"transferTo": number}, {"actionIdWhenTransferFailed": failed},
                     terminal.span)
            return key
        if isinstance(terminal, ir.Ask):
            self.report("IVR205", terminal.span, ASK_REFUSED)
            return self.end_call(base, column, terminal.span)
        return self.end_call(base, column, terminal.span)  # hangup

    def words(self, text: str, span: ir.Span, key: str | None = None) -> str:
        """A text with its `{name}`s in Comm100's variable syntax; `{key}` is
        `key` (a menu option's own key, or the variable a collect fills)."""
        if "{" not in text:
            return text

        def variable(match: re.Match[str]) -> str:
            name, digits = match.group(1), match.group(2)
            if digits:
                self.report("IVR206", span, f"Comm100 reads `{{{name}:digits}}` as it reads the value, not digit "
                                            "by digit")
            if name == "key":
                if key is None:
                    self.report("IVR205", span, f"`{{key}}` cannot be deployed to comm100 here: {conditions.NO_KEY}")
                    return ""
                return key
            if name == "called":
                self.report("IVR205", span, f"`{{called}}` cannot be deployed to comm100: {conditions.NO_CALLED}")
                return ""
            if name == "language":
                return self.flow.language or ""
            return schema.variable_text(name)
        return TEMPLATE.sub(variable, text)

    def dialable(self, destination: str) -> str:
        """A number as Comm100 transfers to it: the environment's `transfer_to`
        template ("sip:{ext}@pbx.example.com") around internal numbers; numbers
        starting with + and SIP URIs as written."""
        if destination.startswith(("+", "sip:")):
            return destination
        template = str(self.env.get("transfer_to") or "{ext}")
        return template.replace("{ext}", destination)

    def voicemail(self, voicemail: ir.Voicemail) -> str:
        box = voicemail.box or "default"
        boxes = self.env.get("voicemail") or {}
        if box in boxes:
            return self.dialable(str(boxes[box]))
        if not self.env:
            return self.placeholder(f"voicemail.{box}")
        self.report("IVR203", voicemail.span, f"voicemail box `{box}` has no number in this environment "
                                              "(Comm100 has no voicemail: ivrflow transfers to the box's number)",
                    hint=f'add `voicemail = {{ {box} = "NUMBER" }}` to the environment in ivrflow.toml')
        return "<voicemail." + box + ">"
