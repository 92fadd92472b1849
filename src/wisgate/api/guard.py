"""What every request must pass before the application reads it: the token for a state change, then the size.

FastAPI reads (and keeps) a whole request body before a route's dependencies run, so a token checked
there came after an unauthenticated client's 500 MB had been read into memory. This ASGI middleware,
outside FastAPI, checks first and reads at most ``max_body_bytes`` of any body: a refused request's
body is never read, and the connection is closed when an unread body would otherwise have to be
received and thrown away.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wisgate.api.auth import TokenCheck

#: the largest body is an app install with its settings (a few values of up to 4 KiB); the fan and
#: OLED bodies take a few hundred bytes
MAX_BODY_BYTES = 65_536
#: methods that only read; every other one changes state and needs the token
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class RequestGuard:
    def __init__(self, app: ASGIApp, tokens: TokenCheck, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.tokens = tokens
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = _content_length(headers.get("content-length"))
        too_long = length is not None and length > self.max_body_bytes
        if scope["method"] not in SAFE_METHODS:
            refusal = self.tokens.refusal(headers.get("authorization"))
            if refusal is not None:
                await _answer(scope, receive, send, refusal.status_code, refusal.detail,
                              {**(refusal.headers or {}), **_close_if(chunked or too_long)})
                return
        if too_long:
            await self._too_large(scope, receive, send)
            return
        if not chunked and not length:
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:  # at most max_body_bytes + one chunk is ever held
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await self._too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _answer(scope, receive, send, 413, f"request body over {self.max_body_bytes} bytes", _close_if(True))


def _content_length(value: str | None) -> int | None:
    # the HTTP layer (h11) has already refused a malformed Content-Length; this is for other servers
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _close_if(close: bool) -> dict[str, str]:
    return {"Connection": "close"} if close else {}


async def _answer(scope: Scope, receive: Receive, send: Send, status: int, detail: str,
                  headers: dict[str, str]) -> None:
    """FastAPI's error shape (``{"detail": ...}``), so clients see one format whoever refused."""
    await JSONResponse({"detail": detail}, status_code=status, headers=headers)(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed
