"""What every callback endpoint shares: bounded JSON bodies, field checks,
credentials, and errors as JSON with a 4xx status (never a 500)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import math
import re
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping
from dataclasses import dataclass
from types import CoroutineType
from typing import Any, Generic, TypeVar, cast

import orjson
from starlette import responses
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request

T = TypeVar("T")
#: Callbacks are small; anything larger is refused before it is read whole.
MAX_BODY_BYTES = 64 * 1024
#: How long a client may take to send its body: a client that trickles it
#: (slowloris) is answered 408 instead of holding the connection open.
BODY_READ_TIMEOUT_S = 10.0
#: Callbacks are flat objects; deeper JSON is refused before it is parsed
#: (Python's parser recurses and would raise RecursionError at ~1,000).
MAX_JSON_DEPTH = 32
#: Longest number a callback carries (a phone number sent as a number);
#: Python refuses to convert integers of more than 4,300 digits.
MAX_NUMBER_CHARS = 40
#: Fields of a form callback (Telphin's call_interactive POST sends about ten).
MAX_FORM_FIELDS = 100

#: Strings (possibly unterminated) and brackets, each matched without backtracking.
_TOKENS = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\Z)|[\[{]|[\]}]', re.DOTALL)
#: Where a number of 20 characters or more may be (or a string with such a run).
_NUMBER_RUN = re.compile(rb"[-+.eE0-9]{20}")
#: A JSON escape of a UTF-16 surrogate: the only way a lone one gets into a parsed string.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def ascii_json(value: Any) -> str:
    """`value` as compact JSON in ASCII (non-ASCII characters escaped), as
    json.dumps(value, separators=(",", ":")) writes it: so any string, a lone
    surrogate too, can be stored or sent in a header. orjson writes it when
    the result is ASCII (several times faster); otherwise, and for what orjson
    refuses (lone surrogates, integers beyond 64 bits), the standard library."""
    try:
        data = orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is one
        data = b""
    if data and data.isascii():
        return data.decode("ascii")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True)


class JSONResponse(responses.JSONResponse):
    """Starlette's JSONResponse rendered by orjson (the same compact UTF-8
    JSON, several times faster); what orjson refuses is rendered as
    Starlette does. A callback's answer (a JSON body, no background task, no
    length or type given) is made directly: Starlette's checks for the other
    kinds of response were most of its cost."""

    def __init__(self, content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None,
                 media_type: str | None = None, background: BackgroundTask | None = None):
        raw = []
        given = False  # a length or type: Starlette's way keeps it
        for name, value in (headers or {}).items():
            key = name.lower().encode("latin-1")
            raw.append((key, value.encode("latin-1")))
            given = given or key == b"content-length" or key == b"content-type"
        if given or media_type is not None or background is not None or status_code < 200 or \
                status_code in (204, 304):
            super().__init__(content, status_code, headers, media_type, background)
            return
        self.status_code = status_code
        self.background = None
        self.body = self.render(content)
        raw += ((b"content-length", b"%d" % len(self.body)), (b"content-type", b"application/json"))
        self.raw_headers = raw

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:
            return super().render(content)


class HTTPProblem(Exception):
    """An error the client caused: a status and a JSON body saying what."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> JSONResponse:
        return JSONResponse({"error": {"code": self.code, "message": self.message}}, status_code=self.status)


Fields = Mapping[str, tuple[tuple[type, ...], bool]]


#: Where `read_body` keeps a request's body (an ASGI scope may carry extension
#: keys): a callback handled again (`sessions.retried`) reads it from there.
BODY_SCOPE_KEY = "ivrflow.body"


def header(request: Request, name: bytes) -> str | None:
    """The request's first `name` header (in lower case, as ASGI servers give
    names), as `request.headers.get` reads it, without building a Headers:
    that was a twentieth of a callback's time."""
    for key, value in request.scope["headers"]:
        if key == name:
            return cast(str, value.decode("latin-1"))
    return None


async def read_body(request: Request) -> bytes:
    """The body, at most MAX_BODY_BYTES (413 beyond) and read within
    BODY_READ_TIMEOUT_S (408 after), kept for a second read of the same
    request. A client that disconnects raises starlette's ClientDisconnect
    (the app logs it quietly)."""
    kept = request.scope.get(BODY_SCOPE_KEY)
    if kept is not None:
        return cast(bytes, kept)
    length = header(request, b"content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        raise HTTPProblem(413, "body_too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
    deadline: float | None = None

    def due() -> float:
        """The deadline, from the first wait for the body: the clock is read only when the body
        has not all arrived (under load, reading it was a quarter of the cost of reading the body)."""
        nonlocal deadline
        if deadline is None:
            deadline = asyncio.get_running_loop().time() + BODY_READ_TIMEOUT_S
        return deadline

    chunks: list[bytes] = []
    size = 0
    while True:  # what request.stream() does, without an async generator per request
        try:
            message = await _within(request.receive(), due)
        except TimeoutError:
            raise HTTPProblem(408, "body_timeout",
                              f"the body was not sent within {BODY_READ_TIMEOUT_S:g} s") from None
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        if message["type"] != "http.request":
            continue
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HTTPProblem(413, "body_too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            body = request.scope[BODY_SCOPE_KEY] = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            return body


async def _within(step: Awaitable[T], due: Callable[[], float]) -> T:
    """`await step`, cancelled when the loop's clock passes the deadline
    `due()` gives (TimeoutError). A coroutine that finishes without waiting
    (a receive() whose body has arrived, as it nearly always has) is run with
    no timer and no deadline: asyncio.timeout's timer was a tenth of the
    runtime's own cost per callback."""
    if not isinstance(step, CoroutineType):  # (an ABC's isinstance costs more than the rest)
        async with asyncio.timeout_at(due()):
            return await step
    try:
        waiting = step.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    async with asyncio.timeout_at(due()):
        return await _Resumed(step, waiting)


class _Resumed(Generic[T]):
    """A coroutine stepped once by hand, suspended on `waiting` (what it
    yielded): awaiting this runs the rest of it, as `await` would have."""

    def __init__(self, coroutine: Coroutine[Any, Any, T], waiting: Any):
        self.coroutine = coroutine
        self.waiting = waiting

    def __await__(self) -> Generator[Any, Any, T]:
        coroutine, waiting = self.coroutine, self.waiting
        while True:
            try:
                sent = yield waiting
            except BaseException as error:  # a cancellation (the deadline) goes on into the coroutine
                try:
                    waiting = coroutine.throw(error)
                except StopIteration as done:
                    return cast(T, done.value)
            else:
                try:
                    waiting = coroutine.send(sent)
                except StopIteration as done:
                    return cast(T, done.value)


def parse_json(body: bytes) -> Any:
    """The body as JSON, refusing (400) what would crash or mislead the
    server: nesting deeper than MAX_JSON_DEPTH, numbers longer than
    MAX_NUMBER_CHARS, NaN and infinities, and strings with lone surrogates
    (which cannot be encoded back into a response or a log)."""
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and _depth(body) > MAX_JSON_DEPTH:
        raise HTTPProblem(400, "too_deep", f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep")
    if not _NUMBER_RUN.search(body):
        # orjson parses what the standard library would parse into the same values, several times
        # faster, except for numbers of 20 characters or more (it makes large integers floats); it
        # refuses lone surrogates, NaN, infinities and bad UTF-8, which the way below then explains.
        with contextlib.suppress(orjson.JSONDecodeError):
            return orjson.loads(body)
    try:
        # Strict UTF-8: json.loads(bytes) would let UTF-8-encoded surrogates through ("surrogatepass").
        data = _DECODER.decode(body.decode("utf-8") if body else "null")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise HTTPProblem(400, "invalid_json", f"the body is not JSON: {error}") from None
    except RecursionError:  # not reached with MAX_JSON_DEPTH; kept so a change of it cannot make a 500
        raise HTTPProblem(400, "too_deep", "the JSON is nested too deeply") from None
    if _SURROGATE_ESCAPE.search(body) and _has_lone_surrogate(data):
        raise HTTPProblem(400, "invalid_string", "a string in the body has a lone UTF-16 surrogate (\\ud800-\\udfff)")
    return data


async def read_json(request: Request, fields: Fields) -> dict[str, Any]:
    """The body as a JSON object whose `fields` ({name: ((types), required)})
    have the right types: 413, 408, 400 or 422 otherwise."""
    data = parse_json(await read_body(request))
    if not isinstance(data, dict):
        raise HTTPProblem(422, "not_an_object", "the body must be a JSON object")
    for name, (types, required) in fields.items():
        if name not in data or data[name] is None:
            if required:
                raise HTTPProblem(422, "missing_field", f"`{name}` is required")
            continue
        if not isinstance(data[name], types) or (isinstance(data[name], bool) and bool not in types):
            wanted = " or ".join(t.__name__ for t in types)
            raise HTTPProblem(422, "wrong_type", f"`{name}` must be {wanted}")
    return data


async def read_form(request: Request) -> dict[str, str]:
    """A form body (urlencoded or multipart, without files), read as
    `read_body` reads any body; its text fields by name."""
    body = await read_body(request)

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(request.scope, replay).form(max_files=0, max_fields=MAX_FORM_FIELDS)
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _depth(body: bytes) -> int:
    """How deeply the brackets outside strings nest (stops past MAX_JSON_DEPTH)."""
    depth = deepest = 0
    for token in _TOKENS.finditer(body):
        first = token.group()[:1]
        if first in b"[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_JSON_DEPTH:
                break
        elif first in b"]}":
            depth -= 1
    return deepest


def _number_too_long(text: str) -> HTTPProblem:
    return HTTPProblem(400, "number_too_long", f"a number in the body is longer than {MAX_NUMBER_CHARS} characters")


def _integer(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _number_too_long(text)
    return int(text)


def _real(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise _number_too_long(text)
    value = float(text)
    if not math.isfinite(value):
        raise HTTPProblem(400, "number_out_of_range", f"the number {text} is out of range")
    return value


def _constant(name: str) -> Any:
    raise HTTPProblem(400, "invalid_json", f"the body is not JSON: `{name}` is not a JSON value")


_DECODER = json.JSONDecoder(parse_int=_integer, parse_float=_real, parse_constant=_constant)


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def text(value: Any) -> str | None:
    """A field that platforms send as a string or a number (callingParty)."""
    return None if value is None else str(value)


@dataclass(frozen=True)
class Credentials:
    """What an incoming callback must carry: the bearer token and/or a JWT
    signed by the platform's key (RS256) that expires (`exp`) and, where
    configured, names the expected issuer and audience. Neither: only with
    --insecure."""

    token: str | None = None
    public_key: str | None = None
    insecure: bool = False
    #: The JWT's `iss` and `aud` must be these when set (callback_jwt_issuer / callback_jwt_audience).
    issuer: str | None = None
    audience: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self.token or self.public_key)

    def check(self, request: Request) -> None:
        if self.insecure and not self.configured:
            return
        scheme, _, value = (header(request, b"authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not value:
            raise HTTPProblem(401, "unauthorized", "a bearer credential is required")
        if self.token and hmac.compare_digest(value.encode(), self.token.encode()):
            return
        if self.public_key and value.count(".") == 2:
            problem = self._jwt_problem(value)
            if problem is None:
                return
            raise HTTPProblem(401, "unauthorized", f"the credential is not valid: {problem}")
        raise HTTPProblem(401, "unauthorized", "the credential is not valid")

    def _jwt_problem(self, value: str) -> str | None:
        """Why the JWT is refused (never quoting it), or None when it is valid."""
        import jwt

        try:
            jwt.decode(value, self.public_key or "", algorithms=["RS256"], audience=self.audience,
                       issuer=self.issuer, options={"require": ["exp"], "verify_aud": self.audience is not None})
        except jwt.MissingRequiredClaimError as error:
            return f"the JWT has no `{error.claim}` claim"
        except jwt.ExpiredSignatureError:
            return "the JWT has expired"
        except jwt.InvalidAudienceError:
            return "the JWT is for another audience"
        except jwt.InvalidIssuerError:
            return "the JWT is from another issuer"
        except jwt.PyJWTError:
            return "the JWT's signature or claims do not check"
        return None
