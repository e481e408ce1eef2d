"""What every callback endpoint shares: bounded JSON bodies, field checks,
credentials, and errors as JSON with a 4xx status (never a 500)."""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

#: Callbacks are small; anything larger is refused before it is read whole.
MAX_BODY_BYTES = 64 * 1024


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


async def read_json(request: Request, fields: Fields) -> dict[str, Any]:
    """The body as a JSON object whose `fields` ({name: ((types), required)})
    have the right types: 413, 400 or 422 otherwise."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        raise HTTPProblem(413, "body_too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise HTTPProblem(413, "body_too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise HTTPProblem(400, "invalid_json", f"the body is not JSON: {error}") from None
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


def text(value: Any) -> str | None:
    """A field that platforms send as a string or a number (callingParty)."""
    return None if value is None else str(value)


@dataclass(frozen=True)
class Credentials:
    """What an incoming callback must carry: the bearer token and/or a JWT
    signed by the platform's key (RS256). Neither: only with --insecure."""

    token: str | None = None
    public_key: str | None = None
    insecure: bool = False

    @property
    def configured(self) -> bool:
        return bool(self.token or self.public_key)

    def check(self, request: Request) -> None:
        if self.insecure and not self.configured:
            return
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value:
            raise HTTPProblem(401, "unauthorized", "a bearer credential is required")
        if self.token and hmac.compare_digest(value.encode(), self.token.encode()):
            return
        if self.public_key and value.count(".") == 2 and self._valid_jwt(value):
            return
        raise HTTPProblem(401, "unauthorized", "the credential is not valid")

    def _valid_jwt(self, value: str) -> bool:
        import jwt

        try:
            jwt.decode(value, self.public_key or "", algorithms=["RS256"], options={"verify_aud": False})
        except jwt.PyJWTError:
            return False
        return True
