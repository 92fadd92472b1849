"""The HTTP API's serving path over real loopback sockets: latency on kept-alive connections, limits."""

from __future__ import annotations

import asyncio
import http.client
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from lora_rig import free_port
from pydantic import SecretStr

from wisgate.api.service import _listen, api_service
from wisgate.config import ApiSection
from wisgate.runtime import open_target
from wisgate.services.monitor import monitor_service
from wisgate.services.supervisor import Supervisor

TOKEN = "correct horse battery staple"


class Served:
    """``api_service`` under a real supervisor, its event loop in a thread, until ``stop``."""

    def __init__(self, **api: Any) -> None:
        self.port = free_port()
        self.target = open_target("sim")
        self.supervisor = Supervisor(self.target)
        self.supervisor.add("monitor", monitor_service(0.05))
        self.supervisor.add("api", api_service(ApiSection(port=self.port, **api), self.supervisor.services))
        self.loop = asyncio.new_event_loop()
        self.stopping = asyncio.Event()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._run(),), daemon=True)
        self.thread.start()
        self._wait_until_up()

    async def _run(self) -> None:
        await self.supervisor.run(self.stopping)

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the API never listened")

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(10)
        self.loop.close()
        self.target.close()


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    server = Served(token=SecretStr(TOKEN))
    yield server
    server.stop()


def test_kept_alive_requests_are_not_held_by_delayed_acks(served: Served) -> None:
    """Ten sequential requests on one connection: 440 ms when each response's body waited for the
    client's delayed ACK of its headers (Nagle's algorithm on), a few ms without."""
    connection = served.connection()
    for path in ("/api/status", "/metrics", "/api/health"):
        connection.request("GET", path)  # warm up: first-request imports and route compilation
        connection.getresponse().read()
        start = time.perf_counter()
        for _ in range(10):
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            assert response.status == 200
        elapsed = time.perf_counter() - start
        assert elapsed < 0.1, f"10 kept-alive GET {path} took {elapsed * 1000:.0f} ms"
    connection.close()


def test_accepted_connections_have_nagle_off() -> None:
    """The listening socket's protocol is TCP, so asyncio sets TCP_NODELAY on every accepted socket."""
    seen: list[int] = []

    async def main() -> None:
        sock = _listen("127.0.0.1", 0)
        accepted = asyncio.Event()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                seen.append(transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                accepted.set()

        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        await asyncio.wait_for(accepted.wait(), 5)
        writer.close()
        server.close()

    asyncio.run(main())
    assert seen and seen[0] != 0
