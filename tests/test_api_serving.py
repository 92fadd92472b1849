"""The HTTP API's serving path over real loopback sockets: latency on kept-alive connections, limits."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lora_rig import free_port
from pydantic import SecretStr

from wisgate.api.connections import MAX_HEAD_BYTES, ConnectionSlots, bounded_protocol
from wisgate.api.guard import MAX_BODY_BYTES
from wisgate.api.service import _listen, api_service
from wisgate.config import ApiSection
from wisgate.services.monitor import monitor_service
from wisgate.services.supervisor import Supervisor
from wisgate.target import open_target

TOKEN = "correct horse battery staple"


class Served:
    """``api_service`` under a real supervisor, its event loop in a thread, until ``stop``."""

    def __init__(self, **api: Any) -> None:
        self.port = free_port()
        self.target = open_target("sim")
        self.supervisor = Supervisor(self.target)
        self.supervisor.add("monitor", monitor_service(0.05))
        self.supervisor.add("api", api_service(ApiSection(port=self.port, **api)))
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


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool  # the server closed the connection after answering


def exchange(sock: socket.socket, request: bytes, *, timeout: float = 2.0) -> Answer:
    """Send ``request`` (which may be only the start of one) and read one response."""
    sock.settimeout(timeout)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a response: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers.get("content-length", "0")):
        body += sock.recv(65536)
    sock.settimeout(0.3)  # a closing server's FIN follows its response at once
    try:
        closed = sock.recv(1) == b""
    except TimeoutError:
        closed = False
    except ConnectionResetError:
        closed = True
    return Answer(int(lines[0].split()[1]), headers, body, closed)


def post_head(path: str, length: int | None, *, token: str | None = None, chunked: bool = False) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def connect(served: Served) -> socket.socket:
    return socket.create_connection(("127.0.0.1", served.port), timeout=2)


def test_an_unauthenticated_post_is_refused_before_its_body_is_read(served: Served) -> None:
    """Only the head of a 500 MB POST is sent: the 401 must come without waiting for the body."""
    with connect(served) as sock:
        answer = exchange(sock, post_head("/api/fan", 500_000_000))
    assert answer.status == 401 and answer.headers["www-authenticate"] == "Bearer"
    assert answer.closed  # the 500 MB are not received and thrown away
    with connect(served) as sock:  # wrong token, chunked body announced
        answer = exchange(sock, post_head("/api/fan", None, token="wrong", chunked=True) + b"2000\r\n")
    assert answer.status == 401 and answer.closed


def test_a_body_over_the_limit_is_refused_before_it_is_read(served: Served) -> None:
    with connect(served) as sock:
        answer = exchange(sock, post_head("/api/fan", 500_000_000, token=TOKEN))
    assert answer.status == 413 and answer.closed and str(MAX_BODY_BYTES).encode() in answer.body
    with connect(served) as sock:  # a GET with a body is limited too
        answer = exchange(sock, b"GET /api/status HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
    assert answer.status == 413 and answer.closed


def test_an_oversized_head_is_refused_with_a_431(served: Served) -> None:
    with connect(served) as sock:
        answer = exchange(sock, b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES + 1))
    assert answer.status == 431 and answer.closed
    with connect(served) as sock:  # a long URL counts too
        answer = exchange(sock, b"GET /api/health?" + b"a" * (2 * MAX_HEAD_BYTES))
    assert answer.status == 431 and answer.closed
    with connect(served) as sock:  # big headers a client really sends are fine
        answer = exchange(sock, b"GET /api/health HTTP/1.1\r\nHost: x\r\nCookie: " + b"c" * 8000 + b"\r\n\r\n")
    assert answer.status == 200 and not answer.closed


def test_a_chunked_body_is_cut_at_the_limit(served: Served) -> None:
    chunk = b'{"duty": 50' + b" " * (MAX_BODY_BYTES // 3)
    request = post_head("/api/fan", None, token=TOKEN, chunked=True)
    request += b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(4))  # over the limit, no end yet
    with connect(served) as sock:
        answer = exchange(sock, request)
    assert answer.status == 413 and answer.closed


def test_bodies_within_the_limit_work_on_a_kept_alive_connection(served: Served) -> None:
    body = b'{"duty": 35, "seconds": 1}'
    padded = body[:-1] + b" " * (MAX_BODY_BYTES - len(body)) + b"}"  # exactly the limit
    chunked = post_head("/api/fan", None, token=TOKEN, chunked=True) + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    with connect(served) as sock:
        for request in (post_head("/api/fan", len(body), token=TOKEN) + body,
                        post_head("/api/fan", len(padded), token=TOKEN) + padded, chunked):
            answer = exchange(sock, request)
            assert answer.status == 200 and not answer.closed, answer
            assert json.loads(answer.body) == {"duty": 35.0, "seconds": 1.0}
        # a refused small body is read and dropped: the connection stays usable
        answer = exchange(sock, post_head("/api/fan", len(body), token="wrong") + body)
        assert answer.status == 401 and not answer.closed
        answer = exchange(sock, b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer.status == 200


@pytest.fixture(scope="module")
def tight() -> Iterator[Served]:
    """A cap of 20 connections and a 0.5 s request deadline."""
    server = Served(token=SecretStr(TOKEN), max_connections=20, request_timeout_s=0.5)
    yield server
    server.stop()


def closed_within(sock: socket.socket, seconds: float) -> bytes | None:
    """What the server sent before closing the connection, or None if it stayed open ``seconds``."""
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return received


def test_a_connection_that_never_sends_is_closed(tight: Served) -> None:
    start = time.monotonic()
    with connect(tight) as sock:
        assert closed_within(sock, 3) == b""
    assert 0.4 < time.monotonic() - start < 2


def test_a_request_trickling_in_is_cut_off_with_a_408(tight: Served) -> None:
    start = time.monotonic()
    with connect(tight) as sock:
        sock.sendall(b"GET /api/status HTTP/1.1\r\n")
        for _ in range(15):  # a header byte every 0.1 s never extends the deadline
            time.sleep(0.1)
            try:
                sock.sendall(b"X")
            except OSError:
                break
        received = closed_within(sock, 3)
    assert received is not None and received.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - start < 2.5


def test_a_kept_alive_connection_gets_a_new_deadline_for_each_request(tight: Served) -> None:
    connection = tight.connection()
    for _ in range(4):  # 4 × 0.3 s: longer than one deadline, each request well within its own
        connection.request("GET", "/api/health")
        assert connection.getresponse().read()
        time.sleep(0.3)
    connection.close()


def test_a_slow_application_is_not_cut_off_by_the_deadline() -> None:
    """The deadline is for the request's arrival: an app install waiting for image pulls answers late."""
    import uvicorn

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        await receive()
        await asyncio.sleep(0.8)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]})
        await send({"type": "http.response.body", "body": b"done"})

    sock = _listen("127.0.0.1", 0, ConnectionSlots(10))
    config = uvicorn.Config(slow, http=bounded_protocol(ConnectionSlots(10), 0.3), lifespan="off",
                            log_config=None)
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(sockets=[sock]),), daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.01)
        connection = http.client.HTTPConnection("127.0.0.1", sock.getsockname()[1], timeout=5)
        for _ in range(2):  # and again on the kept-alive connection
            connection.request("POST", "/install", body=b"{}")
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b"done")
        connection.close()
    finally:
        server.should_exit = True
        thread.join(5)
        loop.close()
        sock.close()


def test_connections_beyond_the_cap_are_answered_503_and_closed(tight: Served) -> None:
    time.sleep(0.3)  # the connections of the tests before are gone on the server's side too
    idle = [connect(tight) for _ in range(20)]
    try:
        time.sleep(0.1)  # all accepted
        with connect(tight) as extra:
            received = closed_within(extra, 2)
        assert received is not None and received.startswith(b"HTTP/1.1 503 ")
        assert b"retry-after: 1" in received.lower()
        time.sleep(0.8)  # the idle ones are past their deadline: room again
        connection = tight.connection()
        connection.request("GET", "/api/health")
        assert connection.getresponse().status == 200
        connection.close()
    finally:
        for sock in idle:
            sock.close()


@dataclass
class Daemon:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def proc(self, name: str) -> str:
        return Path(f"/proc/{self.process.pid}/{name}").read_text()

    def peak_rss_kib(self) -> int:
        line = next(line for line in self.proc("status").splitlines() if line.startswith("VmHWM:"))
        return int(line.split()[1])

    def get(self, path: str, timeout: float = 2) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request("GET", path)
            return connection.getresponse().status
        finally:
            connection.close()


    def status_or_reset(self, path: str) -> int | str:
        """The status, or "reset" for a connection turned away while the request was on its way."""
        try:
            return self.get(path)
        except (ConnectionResetError, http.client.RemoteDisconnected):
            return "reset"


SOFT_FILES, HARD_FILES = 256, 1024


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """``wisgate run --sim`` started with the open-file limits of a stingy system (soft 256, hard 1024)."""
    workdir = tmp_path_factory.mktemp("daemon")
    port = free_port()
    config = workdir / "wisgate.toml"
    config.write_text(f"[display]\nenabled = false\n[lora]\nenabled = false\n"
                      f"[api]\nport = {port}\nrequest_timeout_s = 1.0\n")
    log = workdir / "daemon.log"

    def stingy() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (SOFT_FILES, HARD_FILES))

    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "wisgate", "run", "--sim", "--config", str(config), "--duration", "120"],
            stdout=output, stderr=subprocess.STDOUT, preexec_fn=stingy,
            env={**os.environ, "WISGATE_API_TOKEN": TOKEN},
        )
    running = Daemon(process, port, log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if running.get("/api/health") == 200:
                break
        time.sleep(0.1)
    else:
        process.kill()
        raise AssertionError(f"the daemon's API never answered:\n{log.read_text()}")
    yield running
    process.terminate()
    process.wait(20)


def test_the_daemon_raises_its_soft_open_file_limit(daemon: Daemon) -> None:
    row = next(line for line in daemon.proc("limits").splitlines() if line.startswith("Max open files"))
    assert row.split()[3:5] == [str(HARD_FILES), str(HARD_FILES)]
    assert f"up to {HARD_FILES // 2} connections" in daemon.log.read_text()


def test_idle_connections_past_the_descriptor_limit_do_not_stop_the_api(daemon: Daemon) -> None:
    """1,100 connections that never send a byte: with 256 descriptors the daemon stopped accepting
    ("accept() out of system resource") for as long as they stayed open."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 2048 and (hard == resource.RLIM_INFINITY or hard >= 2048):
        resource.setrlimit(resource.RLIMIT_NOFILE, (2048, hard))  # this side needs its 1,100 descriptors
    idle: list[socket.socket] = []
    try:
        for _ in range(1100):
            with contextlib.suppress(OSError):  # the listen backlog may be full for a moment
                idle.append(socket.create_connection(("127.0.0.1", daemon.port), timeout=2))
        assert daemon.status_or_reset("/api/health") in (503, "reset")  # answered at once: the cap, not a hang
        start = time.monotonic()
        while daemon.get("/api/health") != 200:  # the idle ones are dropped after request_timeout_s
            assert time.monotonic() - start < 5
            time.sleep(0.1)
    finally:
        for sock in idle:
            sock.close()
    text = daemon.log.read_text()
    assert "out of system resource" not in text and "Too many open files" not in text
    assert "connection(s) refused so far" in text


def stream(daemon: Daemon, head: bytes, megabytes: int, *, chunked: bool = False) -> Answer | None:
    """Send ``head`` and up to ``megabytes`` MB of body while the server lets us; its answer, if any."""
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
        sock.sendall(head)
        chunk = b" " * 1_000_000
        if chunked:
            chunk = b"%x\r\n%s\r\n" % (len(chunk), chunk)
        try:
            for _ in range(megabytes):
                sock.sendall(chunk)
        except OSError:
            pass  # closed on us: what we want
        try:
            return exchange(sock, b"")
        except (OSError, AssertionError):
            return None  # reset before we could read the answer: the body was still refused


def test_500_mb_posts_and_headers_leave_the_daemon_s_memory_alone(daemon: Daemon) -> None:
    before = daemon.peak_rss_kib()
    for head, chunked in ((post_head("/api/fan", 500_000_000), False),
                          (post_head("/api/fan", 500_000_000, token=TOKEN), False),
                          (post_head("/api/fan", None, token=TOKEN, chunked=True), True),
                          (b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Flood: ", False)):  # a 500 MB header
        answer = stream(daemon, head, 500, chunked=chunked)
        assert answer is None or answer.status in (401, 413, 431)
    grown_mib = (daemon.peak_rss_kib() - before) / 1024
    assert grown_mib < 20, f"peak RSS grew {grown_mib:.0f} MiB"
    assert daemon.get("/api/health") == 200
