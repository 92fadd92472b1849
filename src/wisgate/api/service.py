"""``wisgate run``'s HTTP API service: uvicorn's server on the daemon's own event loop.

The daemon owns SIGINT/SIGTERM, so uvicorn's signal capture is switched off; the supervisor stops the
service by cancelling it, which asks the server to finish its connections and close the socket. The
socket is bound here rather than by uvicorn, whose bind failure is ``sys.exit`` (it would end the
whole daemon): a busy port is an ``OSError`` the supervisor logs and retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

from wisgate.api.connections import CappedListener, ConnectionSlots
from wisgate.config import ApiSection
from wisgate.services.supervisor import Context, ServiceFn

log = logging.getLogger("wisgate.api")

#: open connections get this long to finish when the daemon stops
GRACEFUL_S = 2
#: an idle kept-alive connection is closed after this (uvicorn's default; browsers reconnect freely)
KEEP_ALIVE_S = 5
#: connections the kernel holds before we accept them (capped by net.core.somaxconn): hundreds of clients
#: connecting at once must not overflow it, or their SYNs are dropped and retried a second later
BACKLOG = 1024


def _listen(host: str, port: int, slots: ConnectionSlots | None = None) -> CappedListener:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: an accepted socket inherits it, and asyncio only switches Nagle's algorithm off
    # (TCP_NODELAY) on sockets whose proto is IPPROTO_TCP. With proto 0, a response written as headers
    # then body waited for the client's delayed ACK: 40+ ms per request on a kept-alive connection.
    sock = CappedListener(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.slots = slots
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"HTTP API cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def api_service(settings: ApiSection, *, stale_after_s: float = 15.0) -> ServiceFn:
    async def run(context: Context) -> None:
        import uvicorn

        from wisgate.api.auth import resolve_token
        from wisgate.api.connections import bounded_protocol, connection_cap, raise_open_file_limit
        from wisgate.api.http import close_streams, create_app

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield  # the daemon's handlers stay in place

        app = create_app(context, settings, stale_after_s=stale_after_s)
        slots = ConnectionSlots(connection_cap(settings.max_connections, raise_open_file_limit()))
        # httptools named, not "auto": the limits are built on its protocol class
        protocol = bounded_protocol(slots, settings.request_timeout_s)
        # ws="none": the API has no WebSocket routes (live data is SSE), and uvicorn's default would load the
        # websockets library for nothing
        config = uvicorn.Config(app, http=protocol, ws="none", lifespan="off", log_config=None, access_log=False,
                                backlog=BACKLOG, timeout_keep_alive=KEEP_ALIVE_S,
                                timeout_graceful_shutdown=GRACEFUL_S)
        server = Server(config)
        sock = _listen(settings.host, settings.port, slots)
        host, port = sock.getsockname()[:2]
        writes = "on" if resolve_token(settings) else "off (no token)"
        log.info("HTTP API on http://%s:%d (docs /docs, metrics /metrics); state-changing endpoints %s; "
                 "up to %d connections", host, port, writes, slots.cap)

        async def serve() -> None:
            try:
                await server.serve(sockets=[sock])
            except SystemExit as exc:  # uvicorn's start-up failure; raised in a task it would stop the loop
                raise RuntimeError(f"HTTP API server did not start (uvicorn exit status {exc.code})") from None

        serving = asyncio.create_task(serve(), name="api-uvicorn")
        try:
            await asyncio.shield(serving)
        except asyncio.CancelledError:
            close_streams(app)
            server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(serving, GRACEFUL_S + 1)
            raise
        finally:
            sock.close()

    return run
