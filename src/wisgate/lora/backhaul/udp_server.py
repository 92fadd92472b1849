"""One GWMP network server as the UDP forwarder sees it: socket, store, ACKs, keepalive, replay (reference §1).

:class:`ServerLink` is the asyncio datagram protocol of one server's socket. It writes each uplink
record to the server's store before sending it (one transaction per event-loop turn), deletes it on the
PUSH_ACK of the datagram that carried it (a late ACK still counts), and when ACKs stop, queues and later
replays oldest first (see :mod:`wisgate.lora.backhaul.udp_forwarder` and docs/backhaul.md). It keeps the
PULL_DATA keepalive, resolves the host again after ``keepalive_max_failures`` unanswered keepalives (or
as many PUSH timeouts for an uplink-only server), accepts datagrams only from the configured address,
and counts every bad one by reason, logging each reason once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, cast

from wisgate.aio import wait_event
from wisgate.errors import ConfigError, WisgateError
from wisgate.lora.backhaul import gwmp
from wisgate.lora.backhaul.store import StoredUplink
from wisgate.lora.core.filters import UplinkFilter

log = logging.getLogger("wisgate.lora.udp")

MIN_DATAGRAM_BYTES = 1024
LATE_TOKENS = 256
READ_BUDGET = 256

Resolver = Callable[[str, int], Awaitable[str]]
DownlinkHandler = Callable[["ServerLink", gwmp.PullResp], None]


@dataclass(frozen=True)
class UdpServerConfig:
    """One network server; ``host`` may be a name (resolved at start and after keepalive failures)."""

    name: str
    host: str
    port_up: int = 1700
    port_down: int = 1700
    version: int = 2
    keepalive_s: float = 5.0
    keepalive_max_failures: int = 3
    #: lora_pkt_fwd waits 100 ms; over cellular that is too short, and a late ACK still counts anyway.
    push_timeout_s: float = 1.0
    retry_interval_s: float = 2.0
    replay_interval_s: float = 0.02
    replay_window: int = 4
    stat_interval_s: float = 30.0
    uplink_only: bool = False
    filter: UplinkFilter | None = None
    #: Write and honour the multi-board fields brd/ant/rsig (ChirpStack); off for strict servers.
    extensions: bool = False
    jver: bool = False
    rx_time: bool = True
    tx_ack_error_none: bool = False
    max_datagram_bytes: int = 4096
    downlink_window_s: float = 6.5
    store_path: Path | None = None
    store_max_items: int = 100_000
    store_policy: str = "drop-oldest"

    def __post_init__(self) -> None:
        where = f"UDP server {self.name!r}"
        if self.version not in gwmp.VERSIONS:
            raise ConfigError(f"{where}: version must be 1 or 2, got {self.version}")
        for port in (self.port_up, self.port_down):
            if not 1 <= port <= 65535:
                raise ConfigError(f"{where}: port {port} out of 1..65535")
        for name in ("keepalive_s", "push_timeout_s", "retry_interval_s", "downlink_window_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{where}: {name} must be positive")
        if self.replay_interval_s < 0 or self.stat_interval_s < 0:
            raise ConfigError(f"{where}: replay_interval_s and stat_interval_s must not be negative")
        if self.keepalive_max_failures < 1 or self.replay_window < 1:
            raise ConfigError(f"{where}: keepalive_max_failures and replay_window must be at least 1")
        if not MIN_DATAGRAM_BYTES <= self.max_datagram_bytes <= gwmp.MAX_DATAGRAM_BYTES:
            raise ConfigError(f"{where}: max_datagram_bytes out of {MIN_DATAGRAM_BYTES}..{gwmp.MAX_DATAGRAM_BYTES}")


@dataclass
class UdpServerStats:
    pushes: int = 0  # PUSH_DATA datagrams sent: live, replayed and stat
    acks: int = 0
    late_acks: int = 0
    push_timeouts: int = 0
    uplinks_sent: int = 0  # rxpk records sent (each try)
    uplinks_acked: int = 0
    filtered: Counter[str] = field(default_factory=Counter)
    keepalives: int = 0
    pull_acks: int = 0
    keepalive_failures: int = 0
    dns_resolutions: int = 0
    stats_sent: int = 0
    downlinks_received: int = 0
    downlinks_sent: int = 0
    downlinks_refused: Counter[str] = field(default_factory=Counter)
    tmst_unmatched: int = 0
    tx_acks: int = 0
    replayed: int = 0  # uplinks delivered from the queue after an outage or restart
    bad_datagrams: Counter[str] = field(default_factory=Counter)
    socket_errors: int = 0
    store_errors: int = 0
    queued: int = 0
    dropped_at_cap: int = 0

    @property
    def ack_ratio(self) -> float:
        return self.acks / self.pushes if self.pushes else 0.0


class QueueStore(Protocol):
    """What the forwarder needs of a store (:class:`UplinkStore` or the in-memory one)."""

    def put_many(self, items: Sequence[tuple[bytes, float]]) -> list[int]: ...
    def peek(self, limit: int) -> list[StoredUplink]: ...
    def ack(self, ids: Sequence[int]) -> None: ...
    def __len__(self) -> int: ...
    @property
    def dropped(self) -> int: ...
    def close(self) -> None: ...


class MemoryStore:
    """The store of a server configured without a file: survives outages, not restarts."""

    def __init__(self, *, max_items: int = 100_000) -> None:
        self.max_items = max_items
        self._items: OrderedDict[int, StoredUplink] = OrderedDict()
        self._next = 1
        self._dropped = 0

    def put_many(self, items: Sequence[tuple[bytes, float]]) -> list[int]:
        ids = []
        for payload, received_at in items:
            if len(self._items) >= self.max_items:
                self._items.popitem(last=False)
                self._dropped += 1
            self._items[self._next] = StoredUplink(self._next, payload, received_at)
            ids.append(self._next)
            self._next += 1
        return ids

    def peek(self, limit: int) -> list[StoredUplink]:
        out: list[StoredUplink] = []
        for item in self._items.values():
            if len(out) >= limit:
                break
            out.append(item)
        return out

    def ack(self, ids: Sequence[int]) -> None:
        for i in ids:
            self._items.pop(i, None)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def dropped(self) -> int:
        return self._dropped

    def close(self) -> None:
        pass


@dataclass
class _Push:
    ids: list[int]
    timer: asyncio.TimerHandle | None
    replay: bool = False


class ServerLink(asyncio.DatagramProtocol):
    """Everything about one server: socket, store, acknowledgements, keepalive, replay, downlinks."""

    def __init__(
        self,
        config: UdpServerConfig,
        store: QueueStore,
        *,
        gateway_id: str,
        resolver: Resolver,
        on_downlink: DownlinkHandler,
    ) -> None:
        self.config = config
        self.store = store
        self.resolver = resolver
        self.on_downlink = on_downlink
        self.stats = UdpServerStats()
        self.address: str | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.sock: socket.socket | None = None
        self.live = True
        self.backlog = len(store) > 0  # a restart with queued uplinks replays them before anything new
        self._pending: list[tuple[bytes, float]] = []
        self._inflight: dict[int, _Push] = {}
        self._late: OrderedDict[int, list[int]] = OrderedDict()
        self._to_ack: list[int] = []
        self._token = random.randrange(1 << 16)
        self._pull_token: int | None = None
        self._keepalive_failures = 0
        self._push_failures = 0
        self._wake = asyncio.Event()
        if self.backlog:
            self._wake.set()
        self._seen: set[str] = set()
        self._eui = gwmp.eui_bytes(gateway_id)
        self._interval = (0, 0, 0, 0, 0)  # pushes, acks, dwnb, txnb, uplinks sent at the last stat
        self._back = asyncio.Event()
        self._replay_done: asyncio.Future[bool] | None = None
        self._replay_out = 0  # replayed datagrams not yet acknowledged or timed out
        self._replay_ok = True

    # addresses

    @property
    def up_addr(self) -> tuple[str, int]:
        assert self.address is not None
        return (self.address, self.config.port_up)

    @property
    def down_addr(self) -> tuple[str, int]:
        assert self.address is not None
        return (self.address, self.config.port_down)

    def _next_token(self) -> int:
        self._token = (self._token + 1) & 0xFFFF
        return self._token

    def _once(self, key: str, message: str, *args: object) -> None:
        if key not in self._seen:
            self._seen.add(key)
            log.warning("%s: " + message, self.config.name, *args)

    # uplinks

    def queue(self, record: bytes, received_at: float) -> None:
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append((record, received_at))

    def _read_waiting(self) -> None:
        """Handle datagrams already in the socket buffer.

        The event loop reads one datagram per socket per turn; under load ACKs would wait in the kernel
        until their PUSH_DATA timed out. Reading them whenever we send keeps ACKs up with the pushes.
        """
        sock = self.sock
        if sock is None or self.transport is None:
            return
        for _ in range(READ_BUDGET):
            try:
                data, addr = sock.recvfrom(gwmp.MAX_DATAGRAM_BYTES + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.error_received(exc)
                return
            self.datagram_received(data, addr)

    def _flush(self) -> None:
        """Once per event-loop turn: store what arrived, then send it unless the queue must drain first."""
        items, self._pending = self._pending, []
        if not items:
            return
        self._read_waiting()
        try:
            ids = self.store.put_many(items)
        except WisgateError as exc:
            # the store failed (disk full?): still try to deliver, unprotected
            self.stats.store_errors += 1
            self._once("store", "uplink store failed, sending without it: %s", exc)
            ids = [-1] * len(items)
        else:
            if len(ids) < len(items):  # more than the cap at once: the store kept the oldest or the newest
                newest = getattr(self.store, "policy", "drop-oldest") == "drop-oldest"
                items = items[len(items) - len(ids) :] if newest else items[: len(ids)]
        self.stats.queued = len(self.store)
        self.stats.dropped_at_cap = self.store.dropped
        if self.backlog or not self.live or self.transport is None or self.address is None:
            self.backlog = True
            self._wake.set()
            return
        self._send_records(ids, [payload for payload, _ in items], replay=False)

    @property
    def _room(self) -> int:
        """Bytes of rxpk records (with their commas) one PUSH_DATA may carry."""
        return self.config.max_datagram_bytes - 40

    def _send_records(self, ids: Sequence[int], records: Sequence[bytes], *, replay: bool) -> int:
        """Pack records into as few datagrams as fit; returns how many datagrams were sent."""
        limit = self._room
        sent = 0
        start = 0
        while start < len(records):
            size, end = len(records[start]), start + 1
            while end < len(records) and size + len(records[end]) + 1 <= limit:
                size += len(records[end]) + 1
                end += 1
            self._push(list(ids[start:end]), records[start:end], None, replay=replay)
            sent += 1
            start = end
        return sent

    def _push(self, ids: list[int], records: Sequence[bytes], stat: bytes | None, *, replay: bool) -> int:
        token = self._next_token()
        datagram = gwmp.push_data_datagram(token, self._eui, records, stat, version=self.config.version)
        assert self.transport is not None
        self.transport.sendto(datagram, self.up_addr)
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.config.push_timeout_s, self._push_timeout, token)
        self._inflight[token] = _Push([i for i in ids if i >= 0], timer, replay)
        self.stats.pushes += 1
        self.stats.uplinks_sent += len(records)
        return token

    def _push_timeout(self, token: int) -> None:
        self._read_waiting()  # the ACK may be waiting in the socket buffer behind a busy loop
        push = self._inflight.pop(token, None)
        if push is None:
            return
        self.stats.push_timeouts += 1
        self._push_failures += 1
        if push.replay:
            self._replay_ok = False
            self._replay_settled()
        self._late[token] = push.ids
        if len(self._late) > LATE_TOKENS:
            self._late.popitem(last=False)
        if self.live:
            log.warning("%s: no PUSH_ACK within %.1f s; queueing uplinks until it answers",
                        self.config.name, self.config.push_timeout_s)
        self.live = False
        self.backlog = True
        self._wake.set()

    def _on_push_ack(self, token: int) -> None:
        push = self._inflight.pop(token, None)
        if push is not None:
            if push.timer is not None:
                push.timer.cancel()
            ids = push.ids
            if push.replay:
                self.stats.replayed += len(ids)
                self._replay_settled()
        else:
            late = self._late.pop(token, None)
            if late is None:
                self._bad("ack-token", f"PUSH_ACK with token {token:#06x} that no PUSH_DATA carried")
                return
            self.stats.late_acks += 1
            ids = late
        self.stats.acks += 1
        self._push_failures = 0
        self.stats.uplinks_acked += len(ids)
        if not self.live:
            log.info("%s: acknowledging again; replaying %d queued uplinks", self.config.name, len(self.store))
        self.live = True
        self._back.set()
        if ids:
            if not self._to_ack:
                asyncio.get_running_loop().call_soon(self._commit_acks)
            self._to_ack.extend(ids)
        if self.backlog:
            self._wake.set()

    def _commit_acks(self) -> None:
        ids, self._to_ack = self._to_ack, []
        try:
            self.store.ack(ids)
        except WisgateError as exc:
            self.stats.store_errors += 1
            self._once("store-ack", "uplink store could not delete acknowledged uplinks: %s", exc)
        self.stats.queued = len(self.store)

    async def replay_loop(self) -> None:
        """Drain the queue oldest first whenever there is a backlog; probe while the server is silent."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._replay()
            except WisgateError as exc:  # the store failed: keep the forwarder up, try again later
                self.stats.store_errors += 1
                self._once("store-replay", "cannot read the uplink store, retrying: %s", exc)
                await asyncio.sleep(self.config.retry_interval_s)
                self._wake.set()

    def _replay_settled(self) -> None:
        self._replay_out -= 1
        if self._replay_out == 0 and self._replay_done is not None and not self._replay_done.done():
            self._replay_done.set_result(self._replay_ok)

    async def _replay(self) -> None:
        """Send the oldest queued records, ``replay_window`` datagrams at a time, until the store is empty."""
        config = self.config
        loop = asyncio.get_running_loop()
        per_datagram = max(1, config.max_datagram_bytes // 150)
        while self.backlog and self.transport is not None and self.address is not None:
            if self._inflight:
                break  # live datagrams still out: their ACK or timeout wakes us again
            if self._to_ack:
                self._commit_acks()
            # while the server is silent, probe with one datagram; once it answers, a window of them
            window = config.replay_window if self.live else 1
            batch = self.store.peek(per_datagram * window)
            if not batch:
                self.backlog = False
                break
            self._replay_done = done = loop.create_future()
            self._replay_ok = True
            self._replay_out = 0
            start = 0
            while start < len(batch) and self._replay_out < window:
                size, end = 0, start
                while end < len(batch) and (end == start or size + len(batch[end].payload) + 1 <= self._room):
                    size += len(batch[end].payload) + 1
                    end += 1
                self._replay_out += 1
                chunk = batch[start:end]
                self._push([item.id for item in chunk], [item.payload for item in chunk], None, replay=True)
                start = end
            if await done:
                if config.replay_interval_s:
                    await asyncio.sleep(config.replay_interval_s)
                continue
            self._back.clear()
            # a PULL_ACK or a late PUSH_ACK (server back) ends the wait early
            await wait_event(self._back, config.retry_interval_s)

    def send_stat(self, stat: bytes) -> None:
        if self.transport is None or self.address is None or not self.live or self.backlog:
            return
        self._push([], [], stat, replay=False)
        self.stats.stats_sent += 1

    def stat_counters(self) -> tuple[int, int, int, float]:
        """rxfw, dwnb, txnb and ackr (%) since the last stat; starts a new interval."""
        s = self.stats
        pushes, acks, dwnb, txnb, sent = self._interval
        d_pushes = s.pushes - pushes
        ackr = 100.0 * (s.acks - acks) / d_pushes if d_pushes else 0.0
        out = (s.uplinks_sent - sent, s.downlinks_received - dwnb, s.downlinks_sent - txnb, ackr)
        self._interval = (s.pushes, s.acks, s.downlinks_received, s.downlinks_sent, s.uplinks_sent)
        return out

    # keepalive and DNS

    async def resolve(self) -> None:
        address = await self.resolver(self.config.host, self.config.port_up)
        self.stats.dns_resolutions += 1
        if address != self.address:
            if self.address is not None:
                log.info("%s: %s now resolves to %s", self.config.name, self.config.host, address)
            self.address = address
            self._wake.set()

    async def _try_resolve(self) -> None:
        try:
            await self.resolve()
        except (OSError, UnicodeError) as exc:  # a name the resolver rejects (IDNA) is no address either
            self._once(f"resolve-{exc}", "cannot resolve %s: %s", self.config.host, exc)

    async def keepalive_loop(self) -> None:
        config = self.config
        while True:
            if self.address is None:
                await self._try_resolve()
            if config.uplink_only and self._push_failures >= config.keepalive_max_failures:
                # no keepalive to watch: unanswered pushes are the sign the address may have moved
                self._push_failures = 0
                self._once("pushes", "no PUSH_ACK for %d datagrams; resolving %s again",
                           config.keepalive_max_failures, config.host)
                await self._try_resolve()
            if self._pull_token is not None:
                self.stats.keepalive_failures += 1
                self._keepalive_failures += 1
                if self._keepalive_failures >= config.keepalive_max_failures:
                    self._keepalive_failures = 0
                    self._once("keepalive", "no PULL_ACK for %d keepalives; resolving %s again",
                               config.keepalive_max_failures, config.host)
                    await self._try_resolve()
            if not config.uplink_only and self.transport is not None and self.address is not None:
                self._pull_token = token = self._next_token()
                datagram = gwmp.header(config.version, token, gwmp.PacketType.PULL_DATA) + self._eui
                self.transport.sendto(datagram, self.down_addr)
                self.stats.keepalives += 1
            await asyncio.sleep(config.keepalive_s)

    def _on_pull_ack(self, token: int) -> None:
        if token != self._pull_token:
            self._bad("ack-token", f"PULL_ACK with token {token:#06x}, expected {self._pull_token}")
            return
        self._pull_token = None
        self._keepalive_failures = 0
        self.stats.pull_acks += 1
        self._back.set()  # the server is back: offer the queue now rather than at the next retry

    # datagrams

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # the selector transport does not subclass it

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def error_received(self, exc: Exception) -> None:
        self.stats.socket_errors += 1
        self._once(f"socket-{type(exc).__name__}", "socket error %s (counted, further ones not logged)", exc)

    def _bad(self, reason: str, message: str) -> None:
        self.stats.bad_datagrams[reason] += 1
        self._once(f"bad-{reason}", "bad datagram (%s): %s", reason, message)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        host, port = str(addr[0]), int(addr[1])
        if host != self.address or port not in (self.config.port_up, self.config.port_down):
            self.stats.bad_datagrams["unknown-address"] += 1
            self._once(f"addr-{host}:{port}", "datagram from %s:%d, not the configured server; ignored", host, port)
            return
        try:
            packet = gwmp.decode(data)
        except gwmp.GwmpError as exc:
            self._bad(exc.reason, str(exc))
            return
        if isinstance(packet, gwmp.PushAck):
            self._on_push_ack(packet.token)
        elif isinstance(packet, gwmp.PullAck):
            self._on_pull_ack(packet.token)
        elif isinstance(packet, gwmp.PullResp):
            if port != self.config.port_down:
                self._bad("wrong-port", f"PULL_RESP from port {port}, not the down port {self.config.port_down}")
                return
            self.stats.downlinks_received += 1
            if self.config.uplink_only:
                self.stats.downlinks_refused["uplink-only"] += 1
                self._once("uplink-only", "PULL_RESP from an uplink-only server; ignored")
                return
            self.on_downlink(self, packet)
        else:
            self._bad("unexpected-type", f"{type(packet).__name__} is sent by gateways, not servers")

    def send_tx_ack(self, token: int, ack: gwmp.TxpkAck | None) -> None:
        if self.config.version < 2 or self.transport is None or self.address is None:
            return
        body = b"" if ack is None else gwmp.encode_tx_ack_json(ack)
        datagram = gwmp.header(self.config.version, token, gwmp.PacketType.TX_ACK) + self._eui + body
        self.transport.sendto(datagram, self.down_addr)
        self.stats.tx_acks += 1

    def close(self) -> None:
        self.live = False  # store what is pending, send nothing more
        self._flush()
        for push in self._inflight.values():
            if push.timer is not None:
                push.timer.cancel()
        self._inflight.clear()
        if self._to_ack:
            self._commit_acks()
        if self.transport is not None:
            self.transport.close()
        self.store.close()


def endpoint_factory(link: ServerLink) -> Callable[[], ServerLink]:
    return lambda: link


async def default_resolver(host: str, port: int) -> str:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    if not infos:
        raise OSError(f"{host} has no address")
    return str(infos[0][4][0])


