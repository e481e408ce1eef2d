"""Signed callback URLs: platforms that call a URL ivrflow configured (Telphin's
call_interactive, PortSIP's action URLs) send no credential of their own, so
the URL carries an HMAC of its query under the callback token."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from ..runtime.http import HTTPProblem


def signature(token: str, query: Mapping[str, str]) -> str:
    message = "&".join(f"{k}={query[k]}" for k in sorted(query) if k != "sig")
    return hmac.new(token.encode(), message.encode(), hashlib.sha256).hexdigest()[:32]


def check(query: Mapping[str, str], token: str | None, insecure: bool, what: str) -> None:
    """Refuse (401) a request whose URL this server did not sign. Only the
    fields ivrflow put in the URL (SIGNED) are signed: a platform may add its own."""
    if token:
        signed = {k: v for k, v in query.items() if k in SIGNED or k == "sig"}
        if not hmac.compare_digest(str(query.get("sig", "")), signature(token, signed)):
            raise HTTPProblem(401, "bad_signature", f"the {what} URL is not signed by this server")
    elif not insecure:
        raise HTTPProblem(401, "unauthorized", "no callback token is configured to check signatures")


#: The query fields ivrflow writes into callback URLs (the platform adds its own).
SIGNED = frozenset({"flow", "node", "kind", "copy", "event", "language", "repeat", "context"})
