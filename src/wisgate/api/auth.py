"""Bearer-token check for the state-changing endpoints; no token configured means they are off."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from wisgate.config import ApiSection

TOKEN_ENV = "WISGATE_API_TOKEN"
DISABLED = (
    "state-changing endpoints are off: no API token is configured; set [api] token in the configuration "
    f"file or {TOKEN_ENV} in the daemon's environment"
)

_bearer = HTTPBearer(auto_error=False, description="The token from [api] token or WISGATE_API_TOKEN")


def resolve_token(settings: ApiSection, environ: Mapping[str, str] = os.environ) -> str | None:
    """The environment's token wins over the file's (so the file need not hold it); empty means none."""
    token = environ.get(TOKEN_ENV) or (settings.token.get_secret_value() if settings.token else "")
    return token or None


def token_guard(token: str | None) -> Callable[[HTTPAuthorizationCredentials | None], None]:
    expected = token.encode() if token is not None else None

    def check(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
        if expected is None:
            raise HTTPException(status.HTTP_403_FORBIDDEN, DISABLED)
        # constant time: how much of a guess matched must not show in the response time
        if credentials is None or not secrets.compare_digest(credentials.credentials.encode(), expected):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong bearer token",
                                headers={"WWW-Authenticate": "Bearer"})

    return check
