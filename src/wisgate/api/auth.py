"""Bearer-token check for the state-changing endpoints; no token configured means they are off."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from wisgate.config import ApiSection

TOKEN_ENV = "WISGATE_API_TOKEN"
DISABLED = (
    "state-changing endpoints are off: no API token is configured; set [api] token in the configuration "
    f"file or {TOKEN_ENV} in the daemon's environment"
)
#: longer credentials are refused without comparing them (a token is a few dozen characters)
MAX_TOKEN_CHARS = 1024

_bearer = HTTPBearer(auto_error=False, description="The token from [api] token or WISGATE_API_TOKEN")


def resolve_token(settings: ApiSection, environ: Mapping[str, str] = os.environ) -> str | None:
    """The environment's token wins over the file's (so the file need not hold it); empty means none."""
    token = environ.get(TOKEN_ENV) or (settings.token.get_secret_value() if settings.token else "")
    return token or None


class TokenCheck:
    """Whether an ``Authorization`` header value carries the token: RFC 6750's bearer scheme, whose
    name is case-insensitive (RFC 9110 §11.1)."""

    def __init__(self, token: str | None) -> None:
        self._expected = token.encode() if token is not None else None

    def refusal(self, authorization: str | None) -> HTTPException | None:
        """None if the request may change state, else the 403 (no token configured) or 401 to answer."""
        if self._expected is None:
            return HTTPException(status.HTTP_403_FORBIDDEN, DISABLED)
        scheme, _, credentials = (authorization or "").strip().partition(" ")
        credentials = credentials.strip()
        # header values arrive decoded as Latin-1: encoding them back gives the bytes the client sent.
        # compare_digest takes constant time: how much of a guess matched must not show in the response time.
        if (scheme.lower() != "bearer" or not credentials or len(credentials) > MAX_TOKEN_CHARS
                or not secrets.compare_digest(credentials.encode("latin-1", "replace"), self._expected)):
            return HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong bearer token",
                                 headers={"WWW-Authenticate": "Bearer"})
        return None


def token_guard(check: TokenCheck) -> Callable[[Request, HTTPAuthorizationCredentials | None], None]:
    """The routes' dependency: it documents the bearer scheme in the OpenAPI schema and checks again what
    the request guard (api/guard.py) checked before the body was read."""

    def guard(request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
        refusal = check.refusal(request.headers.get("authorization"))
        if refusal is not None:
            raise refusal

    return guard
