"""ChirpStack MQTT gateway protocol toward a broker, with store-and-forward (reference §3.2).

Topics, as chirpstack-mqtt-forwarder uses them (``[prefix/]gateway/<gateway_id>/...``):

- ``event/up``: one ``gw.UplinkFrame`` per merged uplink (the best reception: board, antenna,
  channel, rf_chain, rssi, snr, crc_status, and ``context`` = the board's 4-byte counter, which
  the network server hands back in the downlink);
- ``event/stats``: ``gw.GatewayStats`` every ``stats_interval_s`` (counts since the last one);
- ``event/ack``: ``gw.DownlinkTxAck``, one status per downlink item;
- ``state/conn``: retained ``gw.ConnState`` ONLINE after connecting; OFFLINE as the last will
  and on a clean stop;
- subscribed: ``command/down`` (``gw.DownlinkFrame``) and ``command/config`` (``gw.GatewayConfiguration``:
  a channel plan, split over the installed modules and applied without a restart);
- ``event/config``: the outcome of a ``command/config``, always JSON (ChirpStack has no message for it):
  ``{"gatewayId", "version", "status": "OK" | "REFUSED" | "FAILED", "error"}``; REFUSED when the plan
  does not fit the installed radios (nothing changed), FAILED when a module did not take its share.

Payloads are protobuf, or protobuf's canonical JSON (``json_format``: camelCase, enums by name,
bytes in base64), as ChirpStack's ``json`` option.

Every uplink is first written to the server's :class:`~wisgate.lora.backhaul.store.UplinkStore` (one
transaction per event-loop turn), then published with QoS 1 and deleted when the broker's PUBACK
arrives. The store sits behind an :class:`~wisgate.lora.backhaul.uplink_queue.UplinkQueue`: when it
cannot take an uplink (disk full, write error) the uplink waits in memory, unprotected, and is published
all the same; a store failure never stops the forwarder or the gateway. While the broker is unreachable
uplinks stay queued; after a reconnect they go out oldest first, in windows of ``window`` messages
(optionally rate-limited). Delivery is at least once: an uplink whose PUBACK was lost with the
connection is sent again.

Downlink items are tried in order through the gateway's scheduler; the first accepted one is sent
and the rest are reported IGNORED (the gateway-side RX1 → RX2 fallback of ChirpStack's forwarder).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

import aiomqtt
from chirpstack_api import gw
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.protobuf.timestamp_pb2 import Timestamp

from wisgate.aio import TaskGroup, cancel_and_wait
from wisgate.lora.backends.concentratord.wire import CRC, TX_STATUS, channels_from_configuration, downlink_from_proto
from wisgate.lora.backhaul.mqtt_settings import Encoding, MqttSettings
from wisgate.lora.backhaul.store import StoredUplink, StoreError
from wisgate.lora.backhaul.uplink_queue import QueueStore, UplinkIntake, UplinkQueue
from wisgate.lora.core.types import FskModulation, GatewayPort, ReceivedUplink, UplinkFrame
from wisgate.lora.errors import BackendError, ParseError, PlanError
from wisgate.lora.plans.channels import ChannelPlan

log = logging.getLogger("wisgate.lora.mqtt")

_M = TypeVar("_M", bound=Message)
CRC_ENUMS = {status: enum for enum, status in CRC.items()}
CODE_RATE_ENUMS = {
    "4/5": gw.CR_4_5, "4/6": gw.CR_4_6, "4/7": gw.CR_4_7, "4/8": gw.CR_4_8,
    "4/5LI": gw.CR_LI_4_5, "4/6LI": gw.CR_LI_4_6, "4/8LI": gw.CR_LI_4_8, "4/7LI": gw.CR_LI_4_8,
}




@dataclass
class MqttStats:
    published: int = 0
    """Uplink PUBLISHes sent (replays included)."""
    acked: int = 0
    """Uplinks the broker acknowledged; deleted from the store."""
    replayed: int = 0
    """Acknowledged uplinks that had been received before the current connection."""
    connects: int = 0
    connect_failures: int = 0
    downlinks: Counter[str] = field(default_factory=Counter)
    """command/config outcomes: OK, REFUSED, FAILED."""
    configs: Counter[str] = field(default_factory=Counter)
    """Downlink frames by outcome (OK, or the last item's refusal)."""
    bad_commands: Counter[str] = field(default_factory=Counter)


def encode(message: Message, encoding: Encoding) -> bytes:
    if encoding == "json":
        return json_format.MessageToJson(message, indent=None).encode()
    return message.SerializeToString()


def decode(payload: bytes, message: _M, encoding: Encoding) -> _M:
    """Fill ``message`` from ``payload``; ValueError says why it is not one."""
    try:
        if encoding == "json":
            json_format.Parse(payload.decode(), message, ignore_unknown_fields=True)
        else:
            message.ParseFromString(payload)
    except (DecodeError, json_format.ParseError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"not a {type(message).__name__} in {encoding}: {exc}") from exc
    return message


def uplink_message(frame: UplinkFrame, *, gateway_id: str, uplink_id: int, gw_time: float) -> gw.UplinkFrame:
    """Our best reception as ChirpStack's ``gw.UplinkFrame``."""
    message = gw.UplinkFrame(phy_payload=frame.phy_payload)
    tx = message.tx_info
    tx.frequency = frame.frequency_hz
    if isinstance(frame.modulation, FskModulation):
        tx.modulation.fsk.datarate = frame.modulation.datarate_bps
        tx.modulation.fsk.frequency_deviation = frame.modulation.freq_deviation_hz
    else:
        lora = tx.modulation.lora
        lora.bandwidth = frame.modulation.bandwidth_hz
        lora.spreading_factor = frame.modulation.spreading_factor
        lora.code_rate = CODE_RATE_ENUMS.get(frame.modulation.code_rate, gw.CR_UNDEFINED)
    rx = frame.rx_info
    info = message.rx_info
    info.gateway_id = gateway_id
    info.uplink_id = uplink_id
    _set_time(info.gw_time, gw_time)
    info.rssi = round(rx.rssi)
    info.snr = rx.snr
    info.channel = rx.channel
    info.rf_chain = rx.rf_chain
    info.board = rx.board
    info.antenna = rx.antenna
    info.context = rx.context
    info.crc_status = CRC_ENUMS[rx.crc_status]
    return message


class MqttForwarder:
    """One broker connection for one gateway; ``run()`` until cancelled."""

    def __init__(
        self,
        gateway: GatewayPort,
        settings: MqttSettings,
        store: QueueStore | UplinkQueue,
        *,
        wall: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.gateway = gateway
        self.settings = settings
        #: Never raises for a disk problem (but ``peek`` for an unreadable store): see UplinkQueue.
        self.store = store if isinstance(store, UplinkQueue) else UplinkQueue(store, server="mqtt")
        self.stats = MqttStats()
        self.connected = asyncio.Event()
        #: set when run() is stopping: a session that ends then is not reconnected
        self._stopping = False
        self._wall = wall
        self._rng = rng or random.Random()
        self._gateway_id = gateway.gateway_id.lower()
        prefix = settings.topic_prefix.strip("/")
        self._base = f"{prefix}/gateway/{self._gateway_id}" if prefix else f"gateway/{self._gateway_id}"
        self._wake = asyncio.Event()  # new uplinks stored, or a publish finished
        self.intake = UplinkIntake(self.store, self._record, self._wake.set)
        self._client: aiomqtt.Client | None = None
        self._connected_at = 0.0
        self._logged: set[str] = set()
        self._last_counts: dict[str, int] = {}
        self._ssl = settings.ssl_context()  # bad TLS files fail here, not at each reconnect

    def topic(self, kind: str) -> str:
        """``kind`` like ``event/up`` or ``command/down``."""
        return f"{self._base}/{kind}"

    def conn_state(self, online: bool) -> bytes:
        state = gw.ConnState(gateway_id=self._gateway_id, state=gw.ConnState.ONLINE if online else gw.ConnState.OFFLINE)
        return encode(state, self.settings.encoding)

    @property
    def backlog(self) -> int:
        """Uplinks received and not yet acknowledged by the broker (stored or about to be)."""
        return len(self.store) + self.intake.pending

    def snapshot(self) -> dict[str, object]:
        """Counters for status pages: the store's gauge and drops next to the traffic counts."""
        s, q = self.stats, self.store
        return {
            "ok": q.problem is None, "problem": q.problem,
            "connected": self.connected.is_set(), "published": s.published, "acked": s.acked,
            "queued": self.backlog, "in_memory": q.in_memory, "unprotected": q.unprotected,
            "store_errors": q.store_errors, "replayed": s.replayed, "dropped": q.dropped,
            "lost": q.lost, "connects": s.connects, "connect_failures": s.connect_failures,
            "downlinks": dict(s.downlinks), "bad_commands": dict(s.bad_commands),
        }

    # -- uplinks in ---------------------------------------------------------

    def submit(self, received: ReceivedUplink) -> None:
        """Queue one merged uplink; it is written to the store at the end of this loop turn."""
        self.intake.submit(received)

    def _record(self, received: ReceivedUplink) -> tuple[bytes, float]:
        now = self._wall()
        message = uplink_message(
            received.uplink.best, gateway_id=self._gateway_id, uplink_id=self._rng.getrandbits(32), gw_time=now
        )
        return encode(message, self.settings.encoding), now

    # -- the connection -----------------------------------------------------

    async def run(self) -> None:
        """Take uplinks, keep the broker connection (reconnecting with back-off) until cancelled."""
        self._stopping = False
        tasks = [
            asyncio.create_task(self.intake.run(self.gateway), name="mqtt-intake"),
            asyncio.create_task(self.store.upkeep(), name="mqtt-store-upkeep"),
            asyncio.create_task(self._connection_loop(), name="mqtt-connection"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # a part that failed fails the forwarder
        finally:
            self._stopping = True
            await cancel_and_wait(tasks)
            self.intake.flush()
            self.store.drain()  # what was received is written (or held in memory) before run() returns

    async def _connection_loop(self) -> None:
        delay = self.settings.reconnect_min_s
        while True:
            try:
                await self._session()
            except* (aiomqtt.MqttError, OSError) as group:
                self._problem(f"broker {self.settings.host}:{self.settings.port}: {_first(group)}")
            if self._stopping:
                return  # a cancellation swallowed on the way out (see _stop_all): no reconnect
            if self._connected_at:
                delay = self.settings.reconnect_min_s  # a session worked: start the back-off again
                self._connected_at = 0.0
            else:
                self.stats.connect_failures += 1
            # Equal jitter: half fixed, half random, so gateways that lost one broker do not return in step.
            await asyncio.sleep(delay * (0.5 + 0.5 * self._rng.random()))
            delay = min(delay * 2, self.settings.reconnect_max_s)

    def _make_client(self) -> aiomqtt.Client:
        s = self.settings
        client = aiomqtt.Client(
            s.host, s.port, username=s.username,
            password=s.password.get_secret_value() if s.password else None, identifier=s.client_id,
            will=aiomqtt.Will(self.topic("state/conn"), self.conn_state(False), qos=1, retain=True),
            tls_context=self._ssl, keepalive=s.keepalive_s, timeout=s.timeout_s,
            max_inflight_messages=s.window, clean_session=True, logger=log,
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )
        client.pending_calls_threshold = s.window + 16  # a full window in flight is normal, not a warning
        return client

    async def _session(self) -> None:
        client = self._make_client()
        async with client:
            self._client = client
            self._connected_at = self._wall()
            self.stats.connects += 1
            try:
                await client.publish(self.topic("state/conn"), self.conn_state(True), qos=1, retain=True)
                await client.subscribe(self.topic("command/down"), qos=1)
                await client.subscribe(self.topic("command/config"), qos=1)
                self.connected.set()
                log.info("MQTT broker %s:%d connected", self.settings.host, self.settings.port)
                async with TaskGroup() as group:
                    group.create_task(self._sender(client), name="mqtt-send")
                    group.create_task(self._receiver(client), name="mqtt-receive")
                    group.create_task(self._stats_loop(client), name="mqtt-stats")
            except asyncio.CancelledError:
                with contextlib.suppress(aiomqtt.MqttError, OSError):
                    await client.publish(
                        self.topic("state/conn"), self.conn_state(False), qos=1, retain=True, timeout=1.0
                    )
                raise
            finally:
                self.connected.clear()
                self._client = None

    def drop_connection(self) -> None:
        """Cut the socket without an MQTT DISCONNECT, as a network failure would (the broker sends the will)."""
        client = self._client
        if client is not None:
            sock = client._client.socket()
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    # -- uplinks out --------------------------------------------------------

    async def _sender(self, client: aiomqtt.Client) -> None:
        """A sliding window: up to ``window`` publishes in flight, refilled as PUBACKs arrive.

        Refilling at once (not batch by batch) keeps data flowing toward the broker, which carries
        the TCP acks its PUBACKs wait for under Nagle (Mosquitto's default): batch-and-wait stalls
        40 ms per batch on delayed acks.
        """
        topic = self.topic("event/up")
        window = self.settings.window
        in_flight: dict[asyncio.Task[None], StoredUplink] = {}
        done: list[StoredUplink] = []
        failures: list[BaseException] = []
        newest = 0

        def finished(task: asyncio.Task[None]) -> None:
            item = in_flight.pop(task)
            if task.cancelled():
                return
            error = task.exception()
            if error is None:
                done.append(item)
            else:
                failures.append(error)
            self._wake.set()

        try:
            while True:
                self._wake.clear()
                if done:
                    delivered, done[:] = list(done), []
                    self.store.ack(item.id for item in delivered)
                    self.stats.acked += len(delivered)
                    self.stats.replayed += sum(1 for item in delivered if item.received_at < self._connected_at)
                if failures:
                    raise failures[0]  # the connection is gone: reconnect, the rest stays queued
                free = window - len(in_flight)
                fresh = self._next_to_send(in_flight.values(), newest, free) if free else []
                if fresh is None:  # the store cannot be read: try again shortly, the connection stays
                    await asyncio.sleep(self.settings.reconnect_min_s)
                    self._wake.set()
                    continue
                if fresh:
                    newest = max(newest, *(item.id for item in fresh))  # memory ids (negative) never count
                for item in fresh:
                    task = asyncio.create_task(client.publish(topic, item.payload, qos=1))
                    in_flight[task] = item
                    task.add_done_callback(finished)
                self.stats.published += len(fresh)
                replays = sum(1 for item in fresh if item.received_at < self._connected_at)
                if replays and self.settings.replay_rate > 0:
                    await asyncio.sleep(replays / self.settings.replay_rate)
                if not self._wake.is_set():
                    await self._wake.wait()
        finally:
            for task in list(in_flight):
                task.cancel()

    def _next_to_send(self, in_flight: Iterable[StoredUplink], newest: int, free: int) -> list[StoredUplink] | None:
        """The oldest queued uplinks not in flight (by their current id: one moved into the store got a new one).

        Sent in id order: every store id up to ``newest`` (the newest published on this connection) is in flight
        or acknowledged, so the store is read only above it. What is in flight from memory (negative ids, or
        moved into the store since) is listed again and filtered out.
        """
        ids = [item.id for item in in_flight]
        from_memory = sum(1 for i in ids if i < 0)
        try:
            queued = self.store.peek(from_memory + free, after=newest)
        except StoreError as exc:
            self._problem(f"uplink store cannot be read, retrying: {exc}", key="store-read")
            return None
        if not from_memory:
            return queued
        sending = {self.store.alias(i) for i in ids}
        return [u for u in queued if u.id not in sending][:free]

    # -- downlinks ----------------------------------------------------------

    async def _receiver(self, client: aiomqtt.Client) -> None:
        down, config = self.topic("command/down"), self.topic("command/config")
        async with TaskGroup() as group:
            async for message in client.messages:
                if not isinstance(message.payload, bytes | bytearray):
                    continue
                if str(message.topic) == down:
                    group.create_task(self._downlink(client, bytes(message.payload)))
                elif str(message.topic) == config:
                    group.create_task(self._configure(client, bytes(message.payload)))

    async def _configure(self, client: aiomqtt.Client, payload: bytes) -> None:
        outcome = await self.handle_config(payload)
        if outcome is not None:
            await client.publish(self.topic("event/config"), json.dumps(outcome).encode(), qos=1)

    async def handle_config(self, payload: bytes) -> dict[str, str] | None:
        """Apply a ``command/config`` channel plan; the ``event/config`` outcome, or None for a bad command."""
        try:
            message = decode(payload, gw.GatewayConfiguration(), self.settings.encoding)
            channels = channels_from_configuration(message)
        except (ValueError, ParseError) as exc:
            self._bad("config", str(exc))
            return None
        if message.gateway_id and message.gateway_id.lower() != self._gateway_id:
            self._bad("gateway-id", f"configuration {message.version!r} is for gateway {message.gateway_id}")
            return None
        outcome = {"gatewayId": self._gateway_id, "version": message.version, "status": "OK", "error": ""}
        plan = ChannelPlan(f"remote configuration {message.version!r}", "remote", tuple(channels))
        try:
            await self.gateway.apply_plan(plan, version=message.version)
        except PlanError as exc:
            outcome.update(status="REFUSED", error=str(exc))
        except BackendError as exc:
            outcome.update(status="FAILED", error=str(exc))
        if outcome["status"] != "OK":
            log.warning("command/config %r %s: %s", message.version, outcome["status"].lower(), outcome["error"])
        self.stats.configs[outcome["status"]] += 1
        return outcome

    async def _downlink(self, client: aiomqtt.Client, payload: bytes) -> None:
        ack = await self.handle_downlink(payload)
        if ack is not None:
            await client.publish(self.topic("event/ack"), encode(ack, self.settings.encoding), qos=1)

    async def handle_downlink(self, payload: bytes) -> gw.DownlinkTxAck | None:
        """Try a ``command/down`` payload's items in order; the ack to publish, or None for a bad command."""
        try:
            frame = decode(payload, gw.DownlinkFrame(), self.settings.encoding)
        except ValueError as exc:
            self._bad("decode", str(exc))
            return None
        if frame.gateway_id and frame.gateway_id.lower() != self._gateway_id:
            self._bad("gateway-id", f"downlink {frame.downlink_id} is for gateway {frame.gateway_id}")
            return None
        if not frame.items:
            self._bad("no-items", f"downlink {frame.downlink_id} has no items")
            return None
        ack = gw.DownlinkTxAck(gateway_id=self._gateway_id, downlink_id=frame.downlink_id)
        outcome = ""
        for item in frame.items:
            if outcome == "OK":
                ack.items.add(status=gw.IGNORED)
                continue
            status = await self._try_item(frame.downlink_id, item)
            ack.items.add(status=status)
            outcome = gw.TxAckStatus.Name(status)
        self.stats.downlinks[outcome] += 1
        return ack

    async def _try_item(self, downlink_id: int, item: gw.DownlinkFrameItem) -> int:
        timing = item.tx_info.timing.WhichOneof("parameters")
        if timing == "gps_epoch":
            return int(gw.GPS_UNLOCKED)  # no GNSS on the concentrator modules
        try:
            request = downlink_from_proto(item, board=item.tx_info.board)
        except ParseError as exc:
            self._bad("item", f"downlink {downlink_id}: {exc}")
            return int(gw.INTERNAL_ERROR)
        try:
            result = await self.gateway.send_downlink(request)
        except (ValueError, ArithmeticError) as exc:
            # impossible parameters (SF 0, bandwidth 0, 300-byte payload...) fail the airtime computation
            self._bad("item", f"downlink {downlink_id}: {exc}")
            return int(gw.INTERNAL_ERROR)
        return int(TX_STATUS.get(result.outcome, gw.INTERNAL_ERROR))

    def _bad(self, reason: str, detail: str) -> None:
        self.stats.bad_commands[reason] += 1
        command = "command/config" if reason == "config" else "command/down"
        self._problem(f"bad {command} ({reason}): {detail}", key=f"bad:{reason}")

    # -- stats --------------------------------------------------------------

    def stats_message(self) -> gw.GatewayStats:
        """Gateway counters since the previous call, as ``gw.GatewayStats``."""
        message = gw.GatewayStats(gateway_id=self._gateway_id)
        _set_time(message.time, self._wall())
        totals: Counter[str] = Counter()
        per_frequency: Counter[int] = Counter()
        tx_status: Counter[str] = Counter()
        for module in self.gateway.stats.modules.values():
            for frequency, channel in module.channels.items():
                totals["rx"] += channel.received
                totals["rx_ok"] += channel.crc_ok
                per_frequency[frequency] += channel.received
            tx_status.update(module.tx_outcomes)
        totals["tx"] = sum(self.stats.downlinks.values())
        totals["tx_ok"] = tx_status["OK"]
        message.rx_packets_received = self._delta("rx", totals["rx"])
        message.rx_packets_received_ok = self._delta("rx_ok", totals["rx_ok"])
        message.tx_packets_received = self._delta("tx", totals["tx"])
        message.tx_packets_emitted = self._delta("tx_ok", totals["tx_ok"])
        for frequency, count in per_frequency.items():
            if delta := self._delta(f"f{frequency}", count):
                message.rx_packets_per_frequency[frequency] = delta
        for status, count in tx_status.items():
            if delta := self._delta(f"s{status}", count):
                message.tx_packets_per_status[status] = delta
        for key, value in self.snapshot().items():
            if isinstance(value, int | bool):
                message.metadata[f"mqtt_{key}"] = str(int(value))
        return message

    def _delta(self, key: str, total: int) -> int:
        delta = total - self._last_counts.get(key, 0)
        self._last_counts[key] = total
        return max(delta, 0)

    async def _stats_loop(self, client: aiomqtt.Client) -> None:
        while True:
            await asyncio.sleep(self.settings.stats_interval_s)
            await client.publish(self.topic("event/stats"), encode(self.stats_message(), self.settings.encoding), qos=1)

    def _problem(self, message: str, *, key: str | None = None) -> None:
        """Log each kind of problem once; the counters keep the totals."""
        key = key or message
        if key not in self._logged:
            self._logged.add(key)
            log.warning("%s", message)


def _set_time(stamp: Timestamp, seconds: float) -> None:
    # seconds and fraction apart: a float of nanoseconds since 1970 loses the last few hundred ns
    whole = int(seconds // 1)
    nanos = min(round((seconds - whole) * 1e9), 999_999_999)
    stamp.seconds, stamp.nanos = whole, nanos


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc

