"""Every Comm100 name and assumption the target uses, in one place.

When the real schema is known, this is the file that changes. Each constant
says where it comes from:

- VERIFIED (seed 000): Comm100's own API document (/work/shared/seeds/000_…,
  PLATFORMS.md §4): the voicebot, channel instance, Twilio and SIP
  configuration objects, their paths, enums and ranges.
- VERIFIED (docs): developer.comm100.com pages PLATFORMS.md §4 cites (smart
  trigger paths and fields, the action's top-level fields and type enum,
  API-key auth with `siteId`, the rate limit).
- UNOFFICIAL: the design notes by Comm100 staff (repo
  saurabhkuumar2904/APIDesign @ 22abcdad…, PLATFORMS.md §4): the per-action
  sub-object fields, camelCase assumed.
- ASSUMED: nothing documents it; ivrflow's guess, kept here so that one file
  changes when it is known.
"""

from __future__ import annotations

# --- the API ------------------------------------------------------------------------------

#: VERIFIED (PLATFORMS.md §4): `https://apiNN.comm100.io/v4/`, NN the Control Panel host.
API_BASE = "https://api{host}.comm100.io/v4"
#: VERIFIED (PLATFORMS.md §4 lists dash11/12/13/15/17; the issue names api11…api17).
HOSTS = (11, 12, 13, 14, 15, 16, 17)
#: VERIFIED (docs, server-api-authentication): API-key auth is HTTP Basic
#: `email:API_KEY` plus this query parameter on every call.
SITE_ID_PARAMETER = "siteId"
#: VERIFIED (docs, dash11 KB): 300 calls per 5 minutes per IP.
RATE_LIMIT_CALLS = 300
RATE_LIMIT_WINDOW_S = 300.0
#: ASSUMED: no documented 429 body or Retry-After; the client honours Retry-After
#: when present and otherwise waits for the bucket to refill.
RETRY_AFTER_HEADER = "Retry-After"
#: ASSUMED: the shape of an error answer (nothing documents it): {"code", "message"}.
ERROR_FIELDS = ("code", "message")

# --- paths (VERIFIED seed 000 unless marked) -----------------------------------------------------

VOICEBOTS = "/voicebot/voicebots"
CHANNEL_INSTANCES = "/voicebot/voicebotChannelInstances"
SIP_CONFIGURATIONS = "/voicebot/voicebotChannelSIPConfigurations"
TWILIO_CONFIGURATIONS = "/voicebot/voicebotChannelTwilioConfigurations"
#: VERIFIED (docs, server-api-bot-voicebot-smart-trigger); the per-bot list too.
SMART_TRIGGERS = "/voicebot/voicebotSmartTriggers"
BOT_SMART_TRIGGERS = "/voicebot/voicebots/{bot}/voicebotSmartTriggers"
#: VERIFIED (docs, PLATFORMS.md §4): responses CRUD.
RESPONSES = "/voicebot/voicebotResponses"
#: VERIFIED (docs, server-api-bot-voicebot-action).
ACTIONS = "/voicebot/voicebotActions"
#: ASSUMED: that responses and actions can be listed per voicebot / response by a
#: query parameter (the docs show the per-bot list only for smart triggers).
RESPONSE_FILTER = "voicebotId"
ACTION_FILTER = "voicebotResponseId"

# --- the voicebot (VERIFIED seed 000) -------------------------------------------------------------

LANGUAGES = ("en", "zh-CN", "zh-TW")
#: `timeIntervalToRepeatLastMessageWhenNoInput`: seconds, 1-60, default 20.
REPEAT_INTERVAL_FIELD = "timeIntervalToRepeatLastMessageWhenNoInput"
REPEAT_INTERVAL_RANGE = (1, 60)
#: `timeToHangUpCallWhenNoInput`: seconds, 1-600, default 90.
HANG_UP_FIELD = "timeToHangUpCallWhenNoInput"
HANG_UP_RANGE = (1, 600)
HANG_UP_MESSAGE_FIELD = "messageBeforeHangUpCallWhenNoInput"
#: ASSUMED: the voicebot's `description` is kept as sent; ivrflow marks its bots there.
MARKER = "ivrflow"
#: ASSUMED: an action keeps a top-level `description` as sent (nothing documents
#: one): ivrflow marks the actions it makes there (`ivrflow:FLOW`), so that an
#: action someone adds by hand to ivrflow's response is told apart and left alone.
ACTION_MARKER_FIELD = "description"

# --- the channel (VERIFIED seed 000) -------------------------------------------------------------

CHANNEL_TYPES = ("sip", "twilio")
TWILIO_COUNTRIES = ("BE", "CA", "DK", "FR", "AT", "FI", "US", "NL", "CL", "GB", "IL", "PR", "ZA", "AU")
#: The SIP configuration's fields; `password` is write-only as far as ivrflow is
#: concerned (ASSUMED: the API may not return it, so it is never compared).
SIP_FIELDS = ("sIPServer", "username", "password", "isAuthUsernameRequired", "authUsername",
              "isOutboundProxyRequired", "outboundProxy")
#: VERIFIED: `phoneNumber` cannot be changed after creation.
TWILIO_FIELDS = ("phoneNumber", "phoneNumberCountry")

# --- triggers, responses and actions -------------------------------------------------------------

#: VERIFIED (docs): the smart trigger enum; the greeting is the `callStarts` response.
TRIGGERS = ("callStarts", "notRecognized", "flowFinished")
CALL_STARTS = "callStarts"
#: ASSUMED: a response's own fields (docs give only the CRUD paths).
RESPONSE_FIELDS = ("voicebotId", "name")
#: VERIFIED (docs): the action's top-level fields and its `type` enum.
ACTION_FIELDS = ("type", "voicebotResponseId", "xPosition", "yPosition")
ACTION_TYPES = ("Start", "PlayText", "PlayAudio", "IVRMenu", "CallerAuthentication", "EndCall", "TransferCall",
                "Webhook", "CollectDTMFDigits", "CollectSpeechResponse", "GoToIntent", "Condition",
                "SetVariableValue", "ClearValue")


def sub_object(action_type: str) -> str:
    """VERIFIED naming (voicebotActionClearValue, voicebotActionCollectDTMFDigits
    in official examples): the sub-object is `voicebotAction` + the type."""
    return "voicebotAction" + action_type


#: UNOFFICIAL (design notes, camelCase assumed): each type's sub-object fields,
#: and which of them hold the id of another action (the links a deploy sets).
#: `Start` is ASSUMED to carry only `nextActionId`.
ACTION_SCHEMA: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Start": ((), ("nextActionId",)),
    "PlayText": (("message",), ("nextActionId",)),
    "PlayAudio": (("audioPath",), ("nextActionId",)),
    "IVRMenu": (("message", "invalidInputMessage", "invalidInputRepeatTime", "voicebotActionIVRMenuOptions"),
                ("actionIdWhenInvalidInput",)),
    "TransferCall": (("transferTo",), ("actionIdWhenTransferFailed",)),
    "EndCall": ((), ()),
    "CollectDTMFDigits": (("message", "variableName", "numberOfDigits", "stopGatherAfterPresskey"),
                          ("nextActionId",)),
    "Condition": (("cases",), ("otherCaseActionId",)),
    "SetVariableValue": (("variable", "value", "saveTo"), ("nextActionId",)),
    "Webhook": (("url", "additionalPostBody", "headers", "responseCodeToActions", "responseToVariables"),
                ("otherResponseToActionId",)),
}
#: UNOFFICIAL: the lists of a sub-object whose items link to an action, and the
#: item's link field: a Condition's cases (`goToActionId`), a Webhook's
#: `responseCodeToActions` (`nextActionId`), an IVRMenu's options.
LIST_LINKS: dict[str, tuple[str, str]] = {
    "Condition": ("cases", "goToActionId"),
    "Webhook": ("responseCodeToActions", "nextActionId"),
}
#: UNOFFICIAL: an IVRMenu option: {key (int), text, nextActionId, order}.
OPTIONS_FIELD = "voicebotActionIVRMenuOptions"
OPTION_LINK = "nextActionId"
#: UNOFFICIAL: `key` is an int, so `*` and `#` cannot be keys (UNKNOWN whether
#: they can; ivrflow refuses them) and ASSUMED: one digit per key (a phone menu).
MENU_KEYS = "0123456789"
#: ASSUMED: after `invalidInputRepeatTime` wrong keys the menu goes to
#: `actionIdWhenInvalidInput` (0: at the first wrong key); silence does not
#: count toward it (PLATFORMS.md §4: UNKNOWN); the bot-wide no-input timers
#: handle silence.
INVALID_COUNTS_SILENCE = False
#: ASSUMED: the bot-wide silence timer restarts when the caller presses any key.
SILENCE_RESETS_ON_KEY = True
#: ASSUMED: a chain of actions that ends without a next action ends the call.
END_WITHOUT_NEXT = "hangup"

# --- CollectDTMFDigits (UNOFFICIAL field names; verified: `message`, `variableName`) ----------

#: UNOFFICIAL: `numberOfDigits` is a string, "1" to "30", or "Variable" (the
#: entry ends at `stopGatherAfterPresskey`, `*` or `#`).
DIGITS_MOST = 30
VARIABLE_DIGITS = "Variable"
STOP_KEYS = ("*", "#")
#: ASSUMED: an entry of "Variable" length without a stop key, or of fewer keys
#: than `numberOfDigits`, ends when the caller stops pressing (Comm100's own
#: wait; there is no inter-digit field), with the keys pressed so far.
#: ivrflow collects into ENTRY_VARIABLE, checks the entry's length with a
#: Condition and only then copies it into the flow's variable, so an invalid
#: entry leaves the variable as it was (DESIGN §2b).
ENTRY_VARIABLE = "ivrflow_entry"

# --- variables (ASSUMED syntax) -------------------------------------------------------------------

#: ASSUMED: a message, a transfer number, a webhook body or a value inserts a
#: variable written like this (Comm100's UI inserts variables from a picker; the
#: text form is not documented).
VARIABLE_TEXT = "{{!Variable.{name}}}"
#: ASSUMED: the caller's number, in a text and as a Condition's fieldName
#: (the design notes' Visitor object has `callerID`).
CALLER_TEXT = "{!Visitor.CallerID}"
CALLER_FIELD = "Visitor.CallerID"
#: ASSUMED: a Condition asks a variable by this fieldName.
VARIABLE_FIELD = "Variable.{name}"
#: ASSUMED: SetVariableValue's save target (the notes: variable / custom variable / field).
SAVE_TO_FIELD = "saveTo"
SAVE_TO_VARIABLE = "variable"


def variable_text(name: str) -> str:
    return CALLER_TEXT if name == "caller" else VARIABLE_TEXT.format(name=name)


def variable_field(name: str) -> str:
    return VARIABLE_FIELD.format(name=name)


# --- Condition (UNOFFICIAL) ------------------------------------------------------------------

#: UNOFFICIAL: `cases[{order, conditionExpressionType, goToActionId,
#: conditions[{fieldName, operator, value, order}]}]`, then `otherCaseActionId`.
CONDITION_TYPES = ("all", "any", "logicalExpression")
CONDITION_OPERATORS = ("is", "isNot", "contains", "notContains", "isMoreThan", "isLessThan", "isNotLessThan",
                       "isNotMoreThan", "regularExpression", "isOneOf", "isNotIn", "before", "after",
                       "dateEqualTo", "dateNotEqualTo")
#: ASSUMED: `isLessThan` and its kin compare numbers and are false when a side
#: is not one; `is`/`isNot` compare text, a variable that is not set being
#: equal to no text; `regularExpression` searches .NET-style (ivrflow anchors
#: its patterns).
#: Why hours are refused: the operators `before`/`after`/`dateEqualTo` compare
#: dates, but no documented fieldName gives the time of the call, its weekday
#: or a time zone.
NO_HOURS = ("Comm100's Condition compares dates (before, after, dateEqualTo) but documents no field with the time "
            "of the call, its weekday or a time zone, so opening hours cannot be asked")

# --- Webhook (UNOFFICIAL) --------------------------------------------------------------------

#: UNOFFICIAL: `url, additionalPostBody, headers[{key, value, order}],
#: responseCodeToActions[{responseCode, nextActionId, order}],
#: responseToVariables[{responseKey, variableName, order}], otherResponseToActionId`.
#: ASSUMED: the webhook POSTs `additionalPostBody` (JSON, variables inserted)
#: as its body; `responseKey` is a dotted path into the JSON answer; a status
#: listed in responseCodeToActions goes on there, anything else (another
#: status, no answer in Comm100's own time) to otherResponseToActionId; a
#: key the answer leaves out leaves its variable as it was.
WEBHOOK_DONE_STATUS = 200
RESPONSE_KEY = "variables.{name}"

# --- the canvas -------------------------------------------------------------------------------

#: ASSUMED (canvas): `xPosition`/`yPosition` are pixels from the top left.
#: ivrflow scales the diagram's Graphviz layout (points) by PIXELS_PER_POINT
#: and keeps cards of one row CARD_WIDTH apart (canvas.py).
PIXELS_PER_POINT = 2
CARD_WIDTH = 260
#: Without Graphviz: a column per distance in gotos from the start.
COLUMN_WIDTH = 400
ROW_HEIGHT = 160


def linked_ids(action_type: str, sub: dict[str, object]) -> list[object]:
    """Every action id a sub-object links to: its link fields, an IVRMenu's
    options and the items of a Condition's or Webhook's lists."""
    links = [sub.get(name) for name in ACTION_SCHEMA.get(action_type, ((), ("nextActionId",)))[1]]
    lists = dict(LIST_LINKS, IVRMenu=(OPTIONS_FIELD, OPTION_LINK))
    if action_type in lists:
        field, link = lists[action_type]
        items = sub.get(field)
        links += [item.get(link) for item in items if isinstance(item, dict)] if isinstance(items, list) else []
    return links
