"""What PortSIP carries of the constructs it declares carried only in part
(target.CAPABILITIES: `variables`, `conditions`), each use it cannot carry
an IVR205 error at the use, with the reason.

The rest of the second edition is all or nothing: capabilities.unsupported
refuses each use of a construct declared "no", with its note as the reason.

The facts these rest on (PLATFORMS.md §2, docs/platforms/portsip.md): a
receptionist plays a recording uploaded when deploying; an action URL is
told the caller, the receptionist's own number and the keys of one entry
(`from`, `to`, `input`) and can only transfer, hang up or repeat.
"""

from __future__ import annotations

from ...compiler import ir
from ...compiler.diagnostics import RULES, Diagnostic
from ...compiler.features import uses
from ...compiler.values import TEMPLATE

#: Why a prompt with `{name}` cannot play.
DYNAMIC_PROMPT = ("PortSIP plays recordings uploaded when deploying, and an action URL can only transfer, hang up "
                  "or repeat: there is no way to play a dynamic prompt")
#: Why nothing can read a variable a flow sets.
NO_VARIABLES = ("a receptionist keeps no variables, and an action URL is told only the caller, the receptionist's "
                "own number and the keys of one entry (`from`, `to`, `input`)")
#: Why `called` cannot be asked.
NO_CALLED = ("PortSIP tells an action URL the receptionist's own number (`to`), never the number the caller dialled")
#: The variables the runtime server knows when a route's CALLER action URL asks:
#: the caller (`from`) and the language (the action URL's, `lang`).
ROUTE_KNOWS = ("caller", "language")


def refusals(flow: ir.Flow) -> list[Diagnostic]:
    """IVR205 at each use of a variable or a condition PortSIP cannot carry, in source order."""
    transfers = {action.span: (handler, action) for handler in flow.handlers
                 for action in ir.with_answers(handler.actions.items) if isinstance(action, ir.Transfer)}
    prompts = {form.value_span for prompt in flow.prompts for form in prompt.forms}
    sets = {action.span: action for handler in flow.handlers
            for action in handler.actions.items if isinstance(action, ir.SetVariable)}
    conditions = {branch.condition.span: branch.condition for route in flow.routes
                  for branch in route.branches if isinstance(branch, ir.When)}
    found = []
    for use in uses(flow):
        reason = None
        if use.construct == "variables":
            if use.span in sets:
                name = sets[use.span].name
                reason = f"{NO_VARIABLES}: nothing could read `{name}` later"
            elif use.span in transfers:
                reason = _transfer_problem(*transfers[use.span])
            elif use.span in prompts:
                reason = DYNAMIC_PROMPT
            else:
                reason = NO_VARIABLES
        elif use.construct == "conditions" and use.span in conditions:
            reason = _condition_problem(conditions[use.span])
        if reason is not None:
            found.append(RULES["IVR205"].at(use.span, f"{use.description} cannot be deployed to portsip: {reason}",
                                            hint="`ivrflow targets` lists what each target carries; "
                                                 "`ivrflow simulate` and `ivrflow test` run the flow today"))
    return found


def _transfer_problem(handler: ir.Handler, transfer: ir.Transfer) -> str | None:
    """None when the number's only variable is `{key}` in a key's handler:
    the runtime server fills it from the entry (`input`), or the compiler
    from the key itself."""
    written = [(match.group(1), match.group(2)) for match in TEMPLATE.finditer(transfer.destination)]
    if all(name == "key" and not style for name, style in written) and handler.event.startswith("press "):
        return None
    return (f"{NO_VARIABLES}: only `{{key}}` in the transfer of a `press` can be filled in (from the entry), "
            "not " + ", ".join(f"`{{{name}{':' + style if style else ''}}}`" for name, style in written
                              if name != "key" or style or not handler.event.startswith("press ")))


def _condition_problem(condition: ir.Condition) -> str | None:
    for part in ir.walk_condition(condition):
        if isinstance(part, ir.CalledIs) or (isinstance(part, (ir.Compare, ir.IsSet)) and part.name == "called"):
            return NO_CALLED
    for part in ir.walk_condition(condition):
        if isinstance(part, (ir.Compare, ir.IsSet)) and part.name not in ROUTE_KNOWS:
            return f"{NO_VARIABLES}: the runtime server cannot know `{part.name}` when the call reaches the route"
    return None
