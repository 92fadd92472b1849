"""The API's error answers as the OpenAPI document shows them: ``{"detail": "what was wrong"}`` with its
status code, and FastAPI's 422 shape (``detail``: a list naming each field) for input out of range.

Every route lists the codes it can answer (:func:`errors`), so a client (and schemathesis in the tests)
knows each one's body.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from wisgate.api.guard import MAX_BODY_BYTES


class ErrorDetail(BaseModel):
    """Every refusal but input validation's: one line saying what was wrong."""

    model_config = ConfigDict(extra="forbid", title="Error")
    detail: str = Field(description="what was wrong, for people")


#: what each code means when a route does not say more
MEANINGS = {
    400: "the body is not JSON, or the request cannot be carried out as given",
    401: "missing or wrong bearer token (with WWW-Authenticate: Bearer)",
    403: "no token is configured: state-changing endpoints are off",
    404: "no such thing",
    409: "conflicts with what runs now",
    413: f"request body over {MAX_BODY_BYTES} bytes",
    502: "the device or engine behind it answered with an error",
    503: "a service it needs is not running, or the bus did not answer",
    504: "the device behind it did not answer in time",
}
#: what a state-changing request may be refused with before its route runs: the request guard's answers
#: from the request's head (before any body is read), then a body that is not JSON
TOKEN_REFUSALS = (400, 401, 403, 413)
#: a connection beyond ``[api] max_connections`` is answered this way whatever it asked (api/connections.py)
TOO_MANY_CONNECTIONS: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorDetail, "description": "too many connections at once (Retry-After: 1), or as the "
          "operation says"},
}


def errors(*codes: int, **said: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for the error codes a route answers; ``said`` (``e404="..."``) words one for it."""
    return {code: {"model": ErrorDetail, "description": said.get(f"e{code}", MEANINGS[code])} for code in codes}
