"""A bank's balance service for examples/bank.ivr's `lookup find_balance`:
answers by account number, and records what it was sent (GET /requests).
Tests run it in a thread (`BankService().app()`) or as its own process
(`python -m uvicorn tests.bank_service:app`), so that a load test's calls
do not share the interpreter with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route


def balance_of(account: str) -> dict[str, Any] | str | None:
    """What the service answers for an account: the answer's variables,
    a text that is not JSON, or None for an HTTP 500. Any other account has
    a balance derived from its number, so each caller's is their own."""
    special: dict[str, dict[str, Any] | str | None] = {
        "12345678": {"balance": "42.10", "status": "ok"},
        "1234567890": {"balance": "1250.00", "status": "vip"},
        "55555555": {"balance": "-12.50", "status": "ok"},
        "87654321": {"balance": "0.00", "status": "blocked"},
        "44444444": {"balance": "1.00"},  # leaves out `status`: on error
        "33333333": "not json",
        "99999999": None,
    }
    if account in special:
        return special[account]
    digits = account if account.isdigit() else "0"
    return {"balance": f"{int(digits) % 100000}.{digits[-2:].rjust(2, '0')}", "status": "ok"}


@dataclass
class BankService:
    """Answers the bank's lookups by account number, recording each request."""

    requests: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def balance(request: Request) -> Response:
            body = await request.json()
            self.requests.append(body)
            answer = balance_of(str(body.get("variables", {}).get("account", "0")))
            if answer is None:
                return JSONResponse({"error": "down"}, status_code=500)
            if isinstance(answer, str):
                return PlainTextResponse(answer)
            return JSONResponse({"variables": answer})

        async def requests(request: Request) -> Response:
            return JSONResponse(self.requests)

        return Starlette(routes=[Route("/balance", balance, methods=["POST"]),
                                 Route("/requests", requests, methods=["GET"])])


app = BankService().app()
