"""A simulated ChirpStack Concentratord: the daemon's ZeroMQ + protobuf API in front of a simulated module.

It publishes ``gw.Event`` uplinks for what its radio hears and answers ``gw.Command`` requests on its REP
socket, so :class:`wisgate.lora.backends.concentratord.ConcentratordBackend` runs unchanged against it. Like the
real daemon, ``rx_info.context`` carries the 4-byte big-endian value of the module's 32-bit µs counter,
and downlinks are acknowledged per item when they are queued, after its own Semtech JIT queue (the
same rules the real daemon applies: TOO_LATE, TOO_EARLY, collisions, TX frequency) and power table.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import zmq
from chirpstack_api import gw

from wisgate.clock import Clock
from wisgate.lora.backends.concentratord.wire import (
    META_FREQ_OFFSET,
    META_MODEM_ID,
    META_RSSI_SIGNAL,
    TX_STATUS,
    channels_from_configuration,
    downlink_from_proto,
)
from wisgate.lora.core.jit import JitQueue
from wisgate.lora.errors import ParseError
from wisgate.lora.plans.channels import Channel

#: (status, departure count_us) for one downlink item at the module's counter ``now_us``.
TxCheckResult = tuple["gw.TxAckStatus.ValueType", int | None]
TxCheck = Callable[[gw.DownlinkFrameItem, int], TxCheckResult]


@dataclass
class Transmission:
    item: gw.DownlinkFrameItem
    #: Module counter (µs, 32-bit) at which the frame leaves the antenna.
    count_us: int


@dataclass
class SimModule:
    """What the module is: identity, counter offset, TX range."""

    gateway_id: str
    board: int = 0
    counter_offset_us: int = 0
    #: The module's crystal against host time (ppm): counters of two modules drift apart, as on hardware.
    drift_ppm: float = 0.0
    tx_min_hz: int = 863_000_000
    tx_max_hz: int = 870_000_000
    tx_powers: tuple[int, ...] = (12, 14, 16, 20, 27)
    transmissions: list[Transmission] = field(default_factory=list)

    def count_at(self, seconds: float) -> int:
        """The 32-bit µs counter at host time ``seconds``."""
        ticks = int(seconds * 1_000_000)
        ticks += round(ticks * self.drift_ppm * 1e-6)
        return (ticks + self.counter_offset_us) & 0xFFFFFFFF


class SimConcentratord:
    """Binds ``event_url`` (PUB) and ``command_url`` (REP); serves commands on a thread until :meth:`stop`."""

    def __init__(
        self,
        module: SimModule,
        *,
        clock: Clock,
        event_url: str,
        command_url: str,
        tx_check: TxCheck | None = None,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
    ) -> None:
        self.module = module
        self.clock = clock
        self.tx_check = tx_check or self._default_tx_check
        low, high = (module.tx_min_hz, module.tx_max_hz) if module.tx_max_hz else (0, 0)
        self.jit = JitQueue(board=module.board, tx_freq_min_hz=low, tx_freq_max_hz=high)
        self._context = context or zmq.Context.instance()
        self._pub = self._context.socket(zmq.PUB)
        self._pub.setsockopt(zmq.LINGER, 0)
        self._pub.bind(event_url)
        self._rep = self._context.socket(zmq.REP)
        self._rep.setsockopt(zmq.LINGER, 0)
        self._rep.bind(command_url)
        self._pub_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"sim-concentratord-{module.board}", daemon=True)
        self.uplink_id = 0
        self.commands_served = 0
        #: The last uplinks published, for tests and the dashboard.
        self.heard: deque[gw.UplinkFrame] = deque(maxlen=1000)
        #: the channels of the last set_gateway_configuration, and who to tell (the radio environment)
        self.channels: list[Channel] | None = None
        self.config_version = ""
        self.on_configure: Callable[[list[Channel]], None] | None = None

    def count_us(self) -> int:
        """The module's free-running 32-bit microsecond counter."""
        return self.module.count_at(self.clock.monotonic())

    def start(self) -> SimConcentratord:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._pub.close(linger=0)
        self._rep.close(linger=0)

    def publish_raw(self, data: bytes) -> None:
        with self._pub_lock:
            self._pub.send(data)

    def receive(
        self,
        phy_payload: bytes,
        *,
        frequency: int,
        spreading_factor: int,
        bandwidth: int = 125_000,
        rssi: int,
        snr: float,
        channel: int = 0,
        rf_chain: int = 0,
        crc_ok: bool = True,
        code_rate: gw.CodeRate.ValueType = gw.CR_4_5,
        count_us: int | None = None,
        rssi_signal: float | None = None,
        freq_offset_hz: int | None = None,
        modem_id: int | None = None,
    ) -> gw.UplinkFrame:
        """The radio finished receiving a frame: publish it as the daemon would."""
        count = self.count_us() if count_us is None else count_us & 0xFFFFFFFF
        self.uplink_id += 1
        frame = gw.UplinkFrame(phy_payload=phy_payload)
        frame.tx_info.frequency = frequency
        frame.tx_info.modulation.lora.bandwidth = bandwidth
        frame.tx_info.modulation.lora.spreading_factor = spreading_factor
        frame.tx_info.modulation.lora.code_rate = code_rate
        rx = frame.rx_info
        rx.gateway_id = self.module.gateway_id
        rx.uplink_id = self.uplink_id
        rx.rssi = rssi
        rx.snr = snr
        rx.channel = channel
        rx.rf_chain = rf_chain
        rx.board = self.module.board
        rx.antenna = 0
        rx.context = count.to_bytes(4, "big")
        rx.crc_status = gw.CRC_OK if crc_ok else gw.BAD_CRC
        # what the SX1302 measures beyond gw.UplinkRxInfo's fields (read back by lora/backends/concentratord/wire)
        if rssi_signal is not None:
            rx.metadata[META_RSSI_SIGNAL] = f"{rssi_signal:.1f}"
        if freq_offset_hz is not None:
            rx.metadata[META_FREQ_OFFSET] = str(freq_offset_hz)
        if modem_id is not None:
            rx.metadata[META_MODEM_ID] = str(modem_id)
        self.publish_raw(gw.Event(uplink_frame=frame).SerializeToString())
        self.heard.append(frame)
        return frame

    def _default_tx_check(self, item: gw.DownlinkFrameItem, now_us: int) -> TxCheckResult:
        """The daemon's own JIT queue decides, with Semtech's rules, as the real one does."""
        try:
            request = downlink_from_proto(item, board=self.module.board)
        except ParseError:
            return gw.INTERNAL_ERROR, None
        if request.power_dbm not in self.module.tx_powers:
            return gw.TX_POWER, None
        self.jit.expire(now_us)  # sent ones leave the queue, as the real daemon hands them to the chip
        result = self.jit.enqueue(request, now_us)
        return TX_STATUS[result.outcome], result.count_us

    def _downlink(self, frame: gw.DownlinkFrame) -> gw.DownlinkTxAck:
        ack = gw.DownlinkTxAck(gateway_id=self.module.gateway_id, downlink_id=frame.downlink_id)
        sent = False
        now = self.count_us()
        for item in frame.items:
            if sent:
                ack.items.add(status=gw.IGNORED)
                continue
            status, departure = self.tx_check(item, now)
            ack.items.add(status=status)
            if status == gw.OK:
                sent = True
                self.module.transmissions.append(Transmission(item, now if departure is None else departure))
        return ack

    def _answer(self, raw: bytes) -> bytes:
        command = gw.Command()
        try:
            command.ParseFromString(raw)
        except Exception:  # the real daemon answers garbage with an empty reply
            return b""
        kind = command.WhichOneof("command")
        if kind == "get_gateway_id":
            return bytes(gw.GetGatewayIdResponse(gateway_id=self.module.gateway_id).SerializeToString())
        if kind == "send_downlink_frame":
            return bytes(self._downlink(command.send_downlink_frame).SerializeToString())
        if kind == "set_gateway_configuration":
            self._configure(command.set_gateway_configuration)
        return b""

    def _configure(self, message: gw.GatewayConfiguration) -> None:
        """Retune to the channels given (what the radio hears from now on); a bad one leaves them as they were."""
        try:
            channels = channels_from_configuration(message)
        except ParseError:
            return
        self.channels = channels
        self.config_version = message.version
        if self.on_configure is not None:
            self.on_configure(channels)

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not self._rep.poll(50, zmq.POLLIN):
                continue
            raw = self._rep.recv()
            self._rep.send(self._answer(raw))
            self.commands_served += 1
