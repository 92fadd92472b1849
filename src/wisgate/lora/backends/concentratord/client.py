"""ChirpStack Concentratord backend: one daemon per concentrator module, over ZeroMQ.

Concentratord (v4 API) publishes ``gw.Event`` protobufs on a PUB socket and answers ``gw.Command``
protobufs on a REP socket (``send_downlink_frame`` → ``gw.DownlinkTxAck``, ``get_gateway_id`` →
``gw.GetGatewayIdResponse``). The same client talks to a real daemon on the board and to
:mod:`wisgate.sim.concentratord` on a laptop.

A REQ socket that timed out is unusable (its state machine waits for the lost reply), so it is closed
and opened again before the next command.

Protobufs stop here (:mod:`.wire` translates them): :meth:`ConcentratordBackend.events` yields
:class:`~wisgate.lora.core.types.UplinkFrame` (or :class:`~wisgate.lora.core.types.Malformed`), and
:meth:`ConcentratordBackend.send_downlink` takes a :class:`~wisgate.lora.core.types.TxRequest`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import zmq
import zmq.asyncio
from chirpstack_api import gw
from google.protobuf.message import DecodeError

from wisgate.lora.backends.concentratord.wire import (
    TX_OUTCOME,
    configuration_to_proto,
    downlink_to_proto,
    uplink_from_proto,
)
from wisgate.lora.core.types import Malformed, TxOutcome, TxRequest, TxResult, UplinkFrame
from wisgate.lora.errors import BackendError, ParseError
from wisgate.lora.plans.channels import Channel

COMMAND_TIMEOUT_S = 1.0


class ConcentratordError(BackendError):
    """The daemon did not answer, or answered something that is not the expected message."""


@dataclass
class BackendStats:
    events: int = 0
    malformed_events: int = 0
    commands: int = 0
    command_timeouts: int = 0


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

    async def send_downlink(self, request: TxRequest, *, gateway_id: str, downlink_id: int) -> TxResult:
        """Send one request the gateway's JIT queue accepted: at ``request.count_us`` on this board (class C:
        as soon as the module can, on its own counter)."""
        frame = downlink_to_proto(request, request.count_us, gateway_id=gateway_id, downlink_id=downlink_id)
        frame.items[0].tx_info.board = self.board
        status = (await self.send_frame(frame)).items[0].status
        outcome = TX_OUTCOME.get(status)
        if outcome is TxOutcome.OK:
            return TxResult(outcome, self.board, request.count_us, request.power_dbm)
        name = gw.TxAckStatus.Name(status) if status in gw.TxAckStatus.values() else str(status)
        return TxResult(outcome or TxOutcome.COLLISION_PACKET, self.board, detail=f"module said {name}")

    async def configure(self, channels: Sequence[Channel], *, version: str) -> None:
        """``set_gateway_configuration`` with this module's channels; the daemon answers with an empty reply."""
        message = configuration_to_proto(channels, board=self.board, version=version)
        await self._request(gw.Command(set_gateway_configuration=message))

    async def send_frame(self, frame: gw.DownlinkFrame) -> gw.DownlinkTxAck:
        """The ``send_downlink_frame`` command as is: one status per item."""
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

    async def events(self) -> AsyncIterator[UplinkFrame | Malformed]:
        """Uplinks as they arrive; what cannot be read is counted and yielded as :class:`Malformed`."""
        while True:
            raw = await self._events.recv()
            event = gw.Event()
            try:
                event.ParseFromString(raw)
            except DecodeError as exc:
                yield self._malformed(f"undecodable event ({len(raw)} bytes): {exc}")
                continue
            kind = event.WhichOneof("event")
            if kind is None:
                yield self._malformed(f"event with no payload ({len(raw)} bytes)")
                continue
            self.stats.events += 1
            if kind == "uplink_frame":
                try:
                    yield uplink_from_proto(event.uplink_frame, self.board)
                except ParseError as exc:
                    yield self._malformed(str(exc))

    def _malformed(self, reason: str) -> Malformed:
        self.stats.malformed_events += 1
        return Malformed(self.board, reason)

    def close(self) -> None:
        self._events.close(linger=0)
        if self._commands is not None:
            self._commands.close(linger=0)
            self._commands = None
