"""The daemon's end of the control socket: bus transactions and line work on the daemon's bus worker.

Only the daemon's own user may connect (the socket is owner-only in an owner-only directory), so there is
no token: anyone who can connect could open the state directory too. Each request runs on the target's
bus worker, the one thread the bus (and on the simulated board the simulation) has, so a command's
transfer is one transaction between the daemon's own, as on a shared Linux I2C adapter.

Lines: a command reserves a line under its own name (a line a daemon service holds answers with the
holder's name), except that reading an input another owner holds is allowed (the power-fail input is the
power service's, and ``wisgate status`` reads it). A connection's lines are given back when it closes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import queue
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wisgate.bus.gpio import GpioLine
from wisgate.control.protocol import (
    MAX_LINE,
    ProtocolError,
    decode,
    encode,
    error_to_wire,
    messages_from_wire,
)
from wisgate.errors import WisgateError
from wisgate.target import LineInUseError, Target

log = logging.getLogger("wisgate.control")

#: the longest a command may keep the daemon's bus to itself (a secure element's slowest command is 115 ms)
MAX_HOLD_S = 2.0


class _Session:
    """One connected command: the lines it holds."""

    count = 0

    def __init__(self, target: Target, owner: str) -> None:
        self.target = target
        self.owner = owner
        #: name -> the line: reserved by this session, or (shared reads) the holder's
        self.lines: dict[str, GpioLine] = {}
        self.reserved: set[str] = set()
        self.hold: _Hold | None = None

    def handle(self, request: dict[str, Any]) -> object:
        """Run one request (on the bus worker)."""
        target = self.target
        target.sync_time()
        op = request.get("op")
        if op == "transfer":
            return [data.hex() for data in target.bus.transfer(messages_from_wire(request.get("messages")))]
        if op == "hello":
            return {"pid": os.getpid(), "description": target.description, "bus": target.bus.name,
                    "addresses": target.addresses, "creates_missing_keys": target.creates_missing_keys,
                    "clock": target.clock.monotonic()}
        if op == "clock":
            return target.clock.monotonic()
        if op == "cpu_temperature":
            return target.cpu_temperature().read_celsius()
        if op == "save_display":
            path = Path(_text(request, "path"))
            if not path.is_absolute():
                raise ProtocolError("save_display needs an absolute path")
            return target.save_display(path)
        name = _text(request, "name")
        if op == "line":
            self._open(name, output=request.get("output") is True, initial=request.get("initial") is True)
            return None
        line = self.lines.get(name)
        if line is None:
            raise ProtocolError(f"line {name} is not open on this connection")
        if op == "line_read":
            return line.read()
        if op == "line_write":
            if name not in self.reserved:
                raise LineInUseError(f"line {name} is in use by {target.line_owner(name)} (asked for by {self.owner})")
            line.write(request.get("value") is True)
            return None
        if op == "line_edges":
            edges = line.recorded_edges()
            return None if edges is None else [[t, level] for t, level in edges]
        if op == "line_release":
            self._release(name)
            return None
        raise ProtocolError(f"unknown op {op!r:.40}")

    def _open(self, name: str, *, output: bool, initial: bool) -> None:
        try:
            self.lines[name] = self.target.line(name, owner=self.owner, output=output, initial=initial)
            self.reserved.add(name)
        except LineInUseError:
            held = self.target.held_line(name)
            if output or held is None:
                raise
            self.lines[name] = held  # reading an input someone else holds changes nothing

    def _release(self, name: str) -> None:
        self.lines.pop(name, None)
        if name in self.reserved:
            self.reserved.discard(name)
            self.target.release_line(name, self.owner)

    def close(self) -> None:
        for name in list(self.lines):
            self._release(name)


def _text(request: dict[str, Any], key: str) -> str:
    value = request.get(key)
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"{key} must be a non-empty string")
    return value


class ControlServer:
    def __init__(self, target: Target, path: Path) -> None:
        self.target = target
        self.path = path
        self._server: asyncio.Server | None = None
        self._inode: int | None = None

    async def start(self) -> bool:
        """Listen; False (with a warning) if another live daemon already answers on the path."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if _answers(self.path):
            log.warning("control socket %s: another daemon answers there; commands will not reach this one",
                        self.path)
            return False
        self.path.unlink(missing_ok=True)  # left by a daemon that was killed
        previous = os.umask(0o077)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=self.path, limit=MAX_LINE)
        finally:
            os.umask(previous)
        os.chmod(self.path, 0o600)
        self._inode = self.path.stat().st_ino
        return True

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        with contextlib.suppress(Exception):
            await self._server.wait_closed()
        with contextlib.suppress(OSError):
            if self.path.stat().st_ino == self._inode:  # not a socket a later daemon made
                self.path.unlink()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _peer(writer)
        if peer is not None and peer[1] not in (os.geteuid(), 0):
            # the socket's mode already keeps others out; a changed mode must not let them in
            log.warning("control socket: refused a process of user %d", peer[1])
            writer.close()
            return
        _Session.count += 1
        # one owner per connection: two commands (or two targets of one process) never share a line
        owner = f"wisgate command (PID {peer[0]}, connection {_Session.count})" if peer else \
            f"wisgate command (connection {_Session.count})"
        session = _Session(self.target, owner)
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    writer.write(encode({"error": error_to_wire(ProtocolError("request too long"))}))
                    break
                if not line:
                    break
                writer.write(encode(await self._answer(session, line)))
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            await _let_go(session)
            await self.target.worker.run(session.close)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _answer(self, session: _Session, line: bytes) -> dict[str, Any]:
        try:
            request = decode(line)
            op = request.get("op")
            if op == "hold":
                await self._hold(session)
                return {"ok": None}
            if op == "release":
                await _let_go(session)
                return {"ok": None}
            return {"ok": await self._run(session, request)}
        except (WisgateError, OSError, KeyError, ValueError) as exc:
            return {"error": error_to_wire(exc)}

    async def _hold(self, session: _Session) -> None:
        if session.hold is not None and not session.hold.job.done():
            raise ProtocolError("the bus is already held by this connection")
        hold = _Hold(session)
        hold.job = asyncio.ensure_future(self.target.worker.run(hold.run))
        session.hold = hold
        # answered once the worker is ours: what the daemon had queued before runs first
        started: asyncio.Future[None] = asyncio.wrap_future(hold.started)
        await asyncio.wait([started, hold.job], return_when=asyncio.FIRST_COMPLETED)

    async def _run(self, session: _Session, request: dict[str, Any]) -> object:
        hold = session.hold
        if hold is not None and not hold.job.done():
            answer: concurrent.futures.Future[object] = concurrent.futures.Future()
            hold.requests.put((request, answer))
            waiting = asyncio.wrap_future(answer)
            ended: asyncio.Future[object] = asyncio.ensure_future(_after(hold.job))
            await asyncio.wait([waiting, ended], return_when=asyncio.FIRST_COMPLETED)
            ended.cancel()
            if answer.done():
                return await waiting
            waiting.cancel()  # the hold ran out before this request was taken: run it as any other
        call: Callable[[], object] = lambda: session.handle(request)  # noqa: E731
        return await self.target.worker.run(call)


class _Hold:
    """The bus worker kept for one connection (a chip's command, wait and answer must not meet the daemon's
    own use of the chip): its requests run there, nobody else's, for at most :data:`MAX_HOLD_S`."""

    def __init__(self, session: _Session) -> None:
        self.session = session
        self.requests: queue.SimpleQueue[tuple[dict[str, Any], concurrent.futures.Future[object]] | None] = \
            queue.SimpleQueue()
        self.started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.job: asyncio.Future[None]

    def run(self) -> None:
        """On the bus worker: serve this connection's requests until it lets go or the time is up."""
        self.started.set_result(None)
        deadline = time.monotonic() + MAX_HOLD_S
        while (left := deadline - time.monotonic()) > 0:
            try:
                item = self.requests.get(timeout=left)
            except queue.Empty:
                break
            if item is None:
                return
            request, answer = item
            try:
                answer.set_result(self.session.handle(request))
            except BaseException as exc:
                answer.set_exception(exc)
        log.warning("%s held the bus longer than %g s: the daemon took it back", self.session.owner, MAX_HOLD_S)


async def _after(job: asyncio.Future[None]) -> object:
    await asyncio.shield(job)
    return None


async def _let_go(session: _Session) -> None:
    hold, session.hold = session.hold, None
    if hold is not None:
        hold.requests.put(None)
        await hold.job


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _peer(writer: asyncio.StreamWriter) -> tuple[int, int] | None:
    """(PID, UID) of the connected process (Linux SO_PEERCRED)."""
    sock = writer.get_extra_info("socket")
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    except OSError:
        return None
    return int.from_bytes(creds[:4], "little"), int.from_bytes(creds[4:8], "little")


async def serve_control(target: Target, spec: str | None) -> None:
    """Serve the control socket of the daemon on the simulated board (``spec`` None: the default board)
    until cancelled. On hardware commands open the bus themselves, as the kernel lets them."""
    from wisgate.bus.open import default_bus_spec
    from wisgate.control.protocol import socket_path

    if (spec or default_bus_spec()) != "sim":
        return
    server = ControlServer(target, socket_path())
    try:
        if not await server.start():
            return
    except OSError as exc:
        log.warning("no control socket at %s (%s): board commands will open a board of their own",
                    server.path, exc.strerror or exc)
        return
    log.info("board commands (wisgate status, gpio, fan...) reach this daemon through %s", server.path)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()
