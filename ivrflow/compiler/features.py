"""Which constructs of the language's second edition (DESIGN §2b) a flow
uses, and where.

The targets declare, construct by construct, what they carry
(targets/capabilities.py); a use of a construct a target does not carry is
an IVR205 error at the use, so no target ever drops one silently. `include`
is not among them: includes are resolved before a flow reaches a target,
and the included definitions are walked like the file's own (with their
own file's spans).
"""

from __future__ import annotations

from typing import NamedTuple

from . import ir
from .values import TEMPLATE, template_names


class Use(NamedTuple):
    """One use of a second-edition construct."""

    #: The construct's key in targets.capabilities.CONSTRUCTS (`collect`, `conditions`, …).
    construct: str
    span: ir.Span
    #: What is used, as the flow writes it: "`collect account`", "`{balance}` in prompt `balance`".
    description: str


#: Conditions a first-edition route could not have (`open`, `caller` it could).
_NEW_CONDITIONS = (ir.CalledIs, ir.Compare, ir.IsSet, ir.Not, ir.AllOf, ir.AnyOf)


def uses(flow: ir.Flow) -> list[Use]:
    """Every use of a second-edition construct in `flow`, in source order
    (file, line, column). Empty for a flow of the language's first edition.
    One pass over the definitions and one over the handlers."""
    found: list[Use] = []
    if flow.header is not None:
        setting = flow.header.get("languages")
        if setting is not None:
            found.append(Use("languages", setting.span, f"`languages {setting.text}`"))
    for definition in flow.definitions:
        if isinstance(definition, ir.Prompt):
            _prompt(definition, found)
        elif isinstance(definition, (ir.Menu, ir.Collect)):
            _waits(definition, found)
        elif isinstance(definition, ir.Lookup):
            found.append(Use("lookup", _head(definition.span, definition.name_span),
                             f"`lookup {definition.name}`"))
        elif isinstance(definition, ir.Route):
            _route(definition, found)
    for handler in flow.handlers:
        for action in handler.actions.items:
            _action(action, found)
    found.sort(key=lambda use: use.span)
    return found


def _prompt(prompt: ir.Prompt, found: list[Use]) -> None:
    if prompt.variants:
        languages = ", ".join(variant.language for variant in prompt.variants)
        found.append(Use("prompt-variants", _head(prompt.span, prompt.name_span),
                         f"prompt `{prompt.name}` with a variant per language ({languages})"))
    for form in prompt.forms:
        if "{" not in form.value:
            continue
        for written in dict.fromkeys(match.group(0) for match in TEMPLATE.finditer(form.value)):
            found.append(Use("variables", form.value_span, f"`{written}` in prompt `{prompt.name}`"))


def _waits(node: ir.Menu | ir.Collect, found: list[Use]) -> None:
    if isinstance(node, ir.Collect):
        found.append(Use("collect", _head(node.span, node.name_span), f"`collect {node.name}`"))
    for play in node.plays:
        if play.when != "always":
            found.append(Use("play-first-again", play.span, f"`play {play.prompt} {play.when}`"))
    for setting in node.settings:
        if setting.name == "end-key":
            found.append(Use("end-key", setting.span, f"`end-key {setting.text}` in `{node.name}`"))
        elif setting.name == "retries" and isinstance(setting.value, tuple):
            found.append(Use("split-retries", setting.span, f"`retries {setting.text}` in `{node.name}`"))
    for press in node.presses:
        if press.kind == "range":
            found.append(Use("key-ranges", press.key_span, f"the key range `press {press.key}` in `{node.name}`"))
        elif press.kind == "pattern":
            found.append(Use("key-patterns", press.key_span,
                             f'the key pattern `press "{press.key}"` in `{node.name}`'))


def _route(route: ir.Route, found: list[Use]) -> None:
    for branch in route.branches:
        if isinstance(branch, ir.When) and any(
                isinstance(part, _NEW_CONDITIONS) for part in ir.walk_condition(branch.condition)):
            found.append(Use("conditions", branch.condition.span,
                             f"the condition `when {ir.condition_text(branch.condition)}` in route `{route.name}`"))


def _action(action: ir.Action, found: list[Use]) -> None:
    """An action, and what an `ask` may answer or a `transfer … else` falls back to."""
    if isinstance(action, ir.Ask):
        for answer in action.answers:
            _action(answer, found)
    elif isinstance(action, ir.SetVariable):
        found.append(Use("variables", action.span, f"`{ir.written(action)}`"))
    elif isinstance(action, ir.SetLanguage):
        found.append(Use("set-language", action.span, f"`{ir.written(action)}`"))
    elif isinstance(action, ir.Replay):
        found.append(Use("replay", action.span, "`replay`"))
    elif isinstance(action, ir.Transfer):
        if template_names(action.destination):
            found.append(Use("variables", action.span, f'`transfer "{action.destination}"` (a variable in the number)'))
        if action.ring is not None or action.fallback is not None:
            found.append(Use("transfer-else", action.span, f"`{ir.written(action)}`"))
        if action.fallback is not None:
            _action(action.fallback, found)


def _head(span: ir.Span, name_span: ir.Span) -> ir.Span:
    """From a block's keyword to the end of its name (`collect account`):
    where to point without underlining the whole block."""
    return ir.Span(span.file, span.line, span.column, name_span.end_line, name_span.end_column)
