"""Bounded HTTP connections: a cap below the open-file limit, and a deadline for every request.

uvicorn keeps a connection that never sends a byte (or sends its request a byte a minute) open for
ever, and accepts until the process runs out of descriptors, after which nobody is served ("accept()
out of system resource"). Here, on top of uvicorn's httptools protocol (llhttp, a C parser: about a
third less CPU per request than h11, which is what lets one core serve 500 clients in time):

- a connection beyond the cap is answered 503 and closed as it is accepted (asyncio accepts a whole
  burst before any protocol sees its connection, so the count is kept by the listening socket), and
  open connections stay below the descriptor limit: the other services keep theirs;
- from its first byte (or from the connect) a request has ``request_timeout_s`` to arrive whole; then
  the connection is closed (with a 408 if part of a request came). The application's own time is not
  limited here. Between requests, uvicorn's keep-alive timeout closes an idle connection;
- a request line and headers over ``MAX_HEAD_BYTES`` are answered 431 and closed (llhttp, unlike h11,
  would buffer a header of any length).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import resource
import socket
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("wisgate.api")

#: a soft open-file limit is raised to the hard one, but no higher than this (enough for any cap)
OPEN_FILES_WANTED = 65_536
#: refused connections are logged at most this often
REFUSAL_LOG_EVERY_S = 60.0
#: a request line and headers longer than this are refused (431): every client sends well under 8 KiB
MAX_HEAD_BYTES = 65_536


def _closing_response(status: str, detail: str, extra_headers: str = "") -> bytes:
    """A whole response written straight to the transport (outside h11: the connection ends with it)."""
    body = json.dumps({"detail": detail}).encode()
    head = (f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\nconnection: close\r\n{extra_headers}"
            f"content-length: {len(body)}\r\n\r\n")
    return head.encode() + body


_TOO_MANY = _closing_response("503 Service Unavailable", "too many connections at once", "retry-after: 1\r\n")
_TIMED_OUT = _closing_response("408 Request Timeout", "the request took too long")
_HEAD_TOO_LARGE = _closing_response("431 Request Header Fields Too Large",
                                    f"request line and headers over {MAX_HEAD_BYTES} bytes")


class ConnectionSlots:
    """Connections open at once against the cap: taken at accept, given back when the connection is lost."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.open = 0
        self.refused = 0
        self._logged_at = -REFUSAL_LOG_EVERY_S

    def take(self) -> bool:
        if self.open >= self.cap:
            self.refused += 1
            now = time.monotonic()
            if now - self._logged_at >= REFUSAL_LOG_EVERY_S:
                self._logged_at = now
                log.warning("HTTP API: %d connection(s) refused so far: %d open at once is the cap "
                            "([api] max_connections, at most half the open-file limit)", self.refused, self.cap)
            return False
        self.open += 1
        return True

    def give_back(self) -> None:
        self.open -= 1


class CappedListener(socket.socket):
    """A listening socket whose ``accept`` turns away connections beyond ``slots``' cap (asyncio's
    selector loop accepts through this method)."""

    slots: ConnectionSlots | None = None

    def accept(self) -> tuple[socket.socket, Any]:
        while True:  # until one fits, or the queue is empty (BlockingIOError, which asyncio expects)
            conn, address = super().accept()
            if self.slots is None or self.slots.take():
                return conn, address
            _turn_away(conn)


def _turn_away(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.setblocking(False)
        # a request already here is read first: closing on unread data would reset the connection and
        # could destroy the 503 before the client reads it
        with contextlib.suppress(BlockingIOError):
            conn.recv(65536)
        conn.send(_TOO_MANY)
        conn.shutdown(socket.SHUT_WR)
    conn.close()


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE toward the hard limit (allowed without privileges); the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = OPEN_FILES_WANTED if hard == resource.RLIM_INFINITY else min(hard, OPEN_FILES_WANTED)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, wanted, exc)
            return soft
        log.info("open-file limit raised from %d to %d", soft, wanted)
        return wanted
    return soft if soft != resource.RLIM_INFINITY else OPEN_FILES_WANTED


def connection_cap(max_connections: int, open_files: int) -> int:
    """At most half the descriptors go to HTTP connections: the other services, the store and the bus
    keep the rest."""
    return max(1, min(max_connections, open_files // 2))


def bounded_protocol(slots: ConnectionSlots, request_timeout_s: float) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol class that gives back its slot, keeps the request deadline and limits
    a request's head (for ``uvicorn.Config(http=...)``)."""
    # imported here: uvicorn takes a while to import, and only the API service needs it
    from uvicorn.config import Config
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.server import ServerState

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                     _loop: asyncio.AbstractEventLoop | None = None) -> None:
            super().__init__(config, server_state, app_state, _loop)
            self._deadline: asyncio.TimerHandle | None = None
            #: "idle" (nothing since the connect or the last response), "receiving" (a request is arriving,
            #: against the deadline) or "handling" (the application's time is its own: an app install waits
            #: for image pulls; a client that does not read a big answer is bounded by the cap)
            self._phase = "idle"
            self._whole = True  # the latest request has arrived whole
            self._in_head = False
            self._head_bytes = 0

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)  # type: ignore[arg-type]
            self._arm()  # a connection that never sends a byte gets no longer than a slow request

        def data_received(self, data: bytes) -> None:
            if self._phase == "idle":
                self._phase = "receiving"
                self._arm()  # the first byte of a request; trickling more bytes does not extend it
            super().data_received(data)
            if self._in_head and not self.transport.is_closing():
                # llhttp has no limit of its own; counted by whole reads, which errs on the large side
                self._head_bytes += len(data)
                if self._head_bytes > MAX_HEAD_BYTES:
                    self.transport.write(_HEAD_TOO_LARGE)
                    self.transport.close()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_head, self._head_bytes, self._whole = True, 0, False

        def on_headers_complete(self) -> None:
            self._in_head = False
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._whole = True
            if self._phase != "idle":
                self._phase = "handling"
                self._disarm()

        def on_response_complete(self) -> None:
            self._disarm()
            super().on_response_complete()  # arms uvicorn's keep-alive timeout for an idle connection
            if not self.pipeline:
                self._phase = "idle"
            elif not self._whole:
                self._arm()  # a pipelined request that has not all arrived yet

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            slots.give_back()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(request_timeout_s, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            if self._phase == "idle":
                self.transport.abort()  # nothing sent since the connect
                return
            self.transport.write(_TIMED_OUT)  # no response has started: the request is not whole
            self.transport.close()
            # a client that does not read even that must not keep the descriptor
            self.loop.call_later(request_timeout_s, self.transport.abort)

    return BoundedHttpToolsProtocol
