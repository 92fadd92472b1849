"""ChirpStack Concentratord backend: one daemon per concentrator module, over ZeroMQ.

Concentratord (v4 API) publishes ``gw.Event`` protobufs on a PUB socket and answers ``gw.Command``
protobufs on a REP socket (``send_downlink_frame`` → ``gw.DownlinkTxAck``, ``get_gateway_id`` →
``gw.GetGatewayIdResponse``). The same client talks to a real daemon on the board and to
:mod:`wisgate.sim.concentratord` on a laptop.

A REQ socket that timed out is unusable (its state machine waits for the lost reply), so it is closed
and opened again before the next command.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import zmq
import zmq.asyncio
from chirpstack_api import gw
from google.protobuf.message import DecodeError

from wisgate.errors import WisgateError

log = logging.getLogger("wisgate.lora.backends.concentratord")

COMMAND_TIMEOUT_S = 1.0


class ConcentratordError(WisgateError):
    """The daemon did not answer, or answered something that is not the expected message."""


@dataclass
class BackendStats:
    events: int = 0
    malformed_events: int = 0
    commands: int = 0
    command_timeouts: int = 0
    errors_seen: set[str] = field(default_factory=set)


class ConcentratordBackend:
    """Client of one Concentratord: an async stream of events and request/reply commands."""

    def __init__(
        self,
        *,
        board: int,
        event_url: str,
        command_url: str,
        context: zmq.asyncio.Context | None = None,
        command_timeout: float = COMMAND_TIMEOUT_S,
    ) -> None:
        self.board = board
        self.event_url = event_url
        self.command_url = command_url
        self.command_timeout = command_timeout
        self._context = context or zmq.asyncio.Context.instance()
        self._events = self._context.socket(zmq.SUB)
        self._events.setsockopt(zmq.SUBSCRIBE, b"")
        self._events.setsockopt(zmq.LINGER, 0)
        self._events.connect(event_url)
        self._commands: zmq.asyncio.Socket | None = None
        # a REQ socket takes one request at a time; forwarders may send downlinks concurrently
        self._command_lock = asyncio.Lock()
        self.stats = BackendStats()

    def _command_socket(self) -> zmq.asyncio.Socket:
        if self._commands is None:
            self._commands = self._context.socket(zmq.REQ)
            self._commands.setsockopt(zmq.LINGER, 0)
            self._commands.connect(self.command_url)
        return self._commands

    async def _request(self, command: gw.Command) -> bytes:
        async with self._command_lock:
            return await self._request_locked(command)

    async def _request_locked(self, command: gw.Command) -> bytes:
        socket = self._command_socket()
        self.stats.commands += 1
        await socket.send(command.SerializeToString())
        if not await socket.poll(timeout=int(self.command_timeout * 1000)):
            self.stats.command_timeouts += 1
            socket.close(linger=0)
            self._commands = None
            raise ConcentratordError(
                f"board {self.board}: no answer from {self.command_url} within {self.command_timeout:.1f} s"
            )
        return bytes(await socket.recv())

    async def gateway_id(self) -> str:
        reply = await self._request(gw.Command(get_gateway_id=gw.GetGatewayIdRequest()))
        response = gw.GetGatewayIdResponse()
        try:
            response.ParseFromString(reply)
        except DecodeError as exc:
            raise ConcentratordError(f"board {self.board}: bad get_gateway_id reply: {exc}") from None
        return str(response.gateway_id)

    async def send_downlink(self, frame: gw.DownlinkFrame) -> gw.DownlinkTxAck:
        reply = await self._request(gw.Command(send_downlink_frame=frame))
        ack = gw.DownlinkTxAck()
        try:
            ack.ParseFromString(reply)
        except DecodeError as exc:
            raise ConcentratordError(f"board {self.board}: bad downlink ack: {exc}") from None
        if len(ack.items) != len(frame.items):
            raise ConcentratordError(
                f"board {self.board}: ack has {len(ack.items)} statuses for {len(frame.items)} items"
            )
        return ack

    async def events(self) -> AsyncIterator[gw.Event]:
        """Events as they arrive; malformed messages are counted and logged once per reason."""
        while True:
            raw = await self._events.recv()
            event = gw.Event()
            try:
                event.ParseFromString(raw)
            except DecodeError as exc:
                self._malformed(f"undecodable event ({len(raw)} bytes): {exc}")
                continue
            if event.WhichOneof("event") is None:
                self._malformed(f"event with no payload ({len(raw)} bytes)")
                continue
            self.stats.events += 1
            yield event

    def _malformed(self, reason: str) -> None:
        self.stats.malformed_events += 1
        if reason not in self.stats.errors_seen:
            self.stats.errors_seen.add(reason)
            log.warning("board %d: %s", self.board, reason)

    def close(self) -> None:
        self._events.close(linger=0)
        if self._commands is not None:
            self._commands.close(linger=0)
            self._commands = None
