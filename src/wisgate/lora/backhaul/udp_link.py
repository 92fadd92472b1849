"""The gateway's link to one GWMP network server: socket, store, ACKs, keepalive, replay (reference §1).

:class:`ServerLink` handles one server's socket. It writes each uplink record to the server's queue
before sending it (one transaction per event-loop turn), deletes it on the PUSH_ACK of the datagram that
carried it, and when ACKs stop, queues and later replays oldest first (see
:mod:`wisgate.lora.backhaul.udp_forwarder` and docs/backhaul.md). The queue
(:class:`~wisgate.lora.backhaul.uplink_queue.UplinkQueue`) never fails the link: what the store cannot
take waits in memory, unprotected, and is still sent.

It keeps the PULL_DATA keepalive, resolves the host again after ``keepalive_max_failures`` unanswered
keepalives (or as many PUSH timeouts for an uplink-only server), and binds its socket to the local
address the server is reached through (so other interfaces cannot reach it). Tokens are random and an
ACK counts only while its token is outstanding: in flight, or timed out less than ``LATE_ACK_TIMEOUTS``
push timeouts ago and not sent again since. Datagrams from anywhere but the configured address are
counted; the warnings about them are rate-limited, every other bad datagram is counted by reason and
logged once per reason.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

from wisgate.aio import wait_event
from wisgate.errors import WisgateError
from wisgate.lora.backhaul import gwmp
from wisgate.lora.backhaul.store import StoredUplink
from wisgate.lora.backhaul.udp_settings import UdpServerConfig as UdpServerConfig
from wisgate.lora.backhaul.uplink_queue import UplinkQueue

log = logging.getLogger("wisgate.lora.udp")

LATE_TOKENS = 256
#: A timed-out datagram's ACK still counts for this many push timeouts (unless it was sent again).
LATE_ACK_TIMEOUTS = 10
READ_BUDGET = 256
#: Warnings about datagrams from unknown senders: this many at once, then one per interval.
UNKNOWN_SENDER_BURST = 5
UNKNOWN_SENDER_INTERVAL_S = 60.0
#: Senders already named in a warning, remembered so a repeat is not logged again (bounded).
UNKNOWN_SENDERS_REMEMBERED = 64
WILDCARDS = ("", "0.0.0.0", "::")

Resolver = Callable[[str, int], Awaitable[str]]
DownlinkHandler = Callable[["ServerLink", gwmp.PullResp], None]


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
    unprotected: int = 0  # uplinks the store could not take: held in memory, sent all the same
    queued: int = 0
    dropped_at_cap: int = 0

    @property
    def ack_ratio(self) -> float:
        return self.acks / self.pushes if self.pushes else 0.0


class RateLimitedWarnings:
    """At most ``burst`` warnings at once, then one per ``interval_s`` saying how many were left out."""

    def __init__(self, burst: int, interval_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.interval_s = interval_s
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self.suppressed = 0

    def warn(self, message: str, *args: object) -> bool:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) / self.interval_s)
        self._last = now
        if self._tokens < 1.0:
            self.suppressed += 1
            return False
        self._tokens -= 1.0
        if self.suppressed:
            message += " (%d more like it not logged)"
            args = (*args, self.suppressed)
            self.suppressed = 0
        log.warning(message, *args)
        return True


@dataclass
class _Push:
    ids: list[int]
    timer: asyncio.TimerHandle | None
    replay: bool = False


@dataclass
class _Late:
    ids: list[int]
    until: float  # event-loop time after which its ACK no longer counts


class _Endpoint(asyncio.DatagramProtocol):
    """One socket of a link (a link opens a new one when the server's address or route changes)."""

    def __init__(self, link: ServerLink) -> None:
        self.link = link
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # the selector transport does not subclass it
        self.link.transport = self.transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.link.transport is self.transport:
            self.link.transport = None

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.link.datagram_received(data, addr)

    def error_received(self, exc: Exception) -> None:
        self.link.error_received(exc)


class ServerLink:
    """Everything about one server: socket, queue, acknowledgements, keepalive, replay, downlinks."""

    def __init__(
        self,
        config: UdpServerConfig,
        store: UplinkQueue,
        *,
        gateway_id: str,
        resolver: Resolver,
        on_downlink: DownlinkHandler,
        bind_host: str = "0.0.0.0",
    ) -> None:
        self.config = config
        #: This server's own filter (on top of the gateway's), built once from its settings.
        self.filter = config.filters.build() if config.filters is not None else None
        self.store = store
        self.resolver = resolver
        self.on_downlink = on_downlink
        self.bind_host = bind_host
        self.stats = UdpServerStats()
        self.address: str | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.sock: socket.socket | None = None
        self.bound: str | None = None  # the local address the socket is bound to
        self.live = True
        self.backlog = len(store) > 0  # a restart with queued uplinks replays them before anything new
        self._pending: list[tuple[bytes, float]] = []
        self._inflight: dict[int, _Push] = {}
        self._late: OrderedDict[int, _Late] = OrderedDict()
        self._to_ack: list[int] = []
        self._pull_token: int | None = None
        self._unknown = RateLimitedWarnings(UNKNOWN_SENDER_BURST, UNKNOWN_SENDER_INTERVAL_S)
        self._unknown_named: OrderedDict[str, None] = OrderedDict()
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
        self._replayed_to = 0  # the newest store id a replay has sent

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
        """A random token no outstanding datagram uses: a blind sender cannot guess what to acknowledge."""
        while True:
            token = secrets.randbelow(1 << 16)
            if token not in self._inflight and token not in self._late and token != self._pull_token:
                return token

    @property
    def problem(self) -> str | None:
        """Why this server's link is degraded now (None: it is not)."""
        if self.store.problem is not None:
            return self.store.problem
        if self.address is None:
            return f"{self.config.host} not resolved yet"
        if not self.live:
            return "no PUSH_ACK: the server does not answer; uplinks are queued"
        return None

    def sync_stats(self) -> UdpServerStats:
        """The stats with the queue's gauges and counters brought up to date."""
        store, stats = self.store, self.stats
        stats.queued, stats.dropped_at_cap = len(store), store.dropped
        stats.store_errors, stats.unprotected = store.store_errors, store.unprotected
        return stats

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
        """Once per event-loop turn: hand what arrived to the store's writer; it is sent once durable."""
        items, self._pending = self._pending, []
        if not items:
            return
        self._read_waiting()
        # never raises: what the store cannot take waits in memory (unprotected) and is sent all the same
        self.store.submit(items, self._stored)

    def _stored(self, accepted: list[StoredUplink]) -> None:
        """A batch is durable (or held in memory): send it now, unless the queue must drain first."""
        self.sync_stats()
        if self.backlog or not self.live or self.transport is None or self.address is None:
            self.backlog = True
            self._wake.set()
            return
        # a replay that ran while the batch was being written may have sent it already (it was durable)
        fresh = [u for u in accepted if u.id > self._replayed_to or u.id < 0]
        if fresh:
            self._send_records([u.id for u in fresh], [u.payload for u in fresh], replay=False)

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
        self._inflight[token] = _Push(ids, timer, replay)
        if replay and self._late:
            self._forget_late(ids)
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
        loop = asyncio.get_running_loop()
        self._late[token] = _Late(push.ids, loop.time() + LATE_ACK_TIMEOUTS * self.config.push_timeout_s)
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
            if late is None or late.until < asyncio.get_running_loop().time():
                self._bad("ack-token", f"PUSH_ACK with token {token:#06x} that no outstanding PUSH_DATA carried")
                return
            self.stats.late_acks += 1
            ids = late.ids
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

    def _forget_late(self, ids: Sequence[int]) -> None:
        """Uplinks sent again: the timed-out datagrams that carried them are no longer outstanding."""
        again = set(ids)
        for token in [t for t, late in self._late.items() if again.intersection(late.ids)]:
            del self._late[token]

    def _commit_acks(self) -> None:
        ids, self._to_ack = self._to_ack, []
        self.store.ack(ids)  # a delete the disk cannot write is remembered: never offered again
        self.sync_stats()

    async def replay_loop(self) -> None:
        """Drain the queue oldest first whenever there is a backlog; probe while the server is silent."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._replay()
            except WisgateError as exc:  # the store cannot be read: keep the forwarder up, try again later
                self.sync_stats()
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
                self._replayed_to = max(self._replayed_to, *(item.id for item in chunk))
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
        """Look the host up; (re)open the socket when the address or the route toward it changed."""
        address = await self.resolver(self.config.host, self.config.port_up)
        self.stats.dns_resolutions += 1
        if address != self.address:
            if self.address is not None:
                log.info("%s: %s now resolves to %s", self.config.name, self.config.host, address)
            self.address = address
            self._wake.set()
        await self.open_socket()

    def _bind_address(self) -> str:
        """The local address toward the server (the kernel's route choice), unless a bind host is configured."""
        assert self.address is not None
        six = ":" in self.address
        if self.bind_host not in WILDCARDS:
            return self.bind_host
        local = local_address_toward(self.address, self.config.port_up)
        return local if local is not None else ("::" if six else "0.0.0.0")

    async def open_socket(self) -> None:
        want = self._bind_address()
        if self.transport is not None and want == self.bound:
            return
        family = socket.AF_INET6 if ":" in want else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind((want, 0))
            old = self.transport
            await asyncio.get_running_loop().create_datagram_endpoint(lambda: _Endpoint(self), sock=sock)
        except OSError:
            sock.close()
            raise
        if old is not None:
            log.info("%s: socket now bound to %s (was %s)", self.config.name, want, self.bound)
            old.close()
        self.sock, self.bound = sock, want
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

    def error_received(self, exc: Exception) -> None:
        self.stats.socket_errors += 1
        self._once(f"socket-{type(exc).__name__}", "socket error %s (counted, further ones not logged)", exc)

    def _unknown_sender(self, sender: str) -> None:
        """Warn about a stranger, rate-limited and not twice for one of the last few named (memory stays bounded)."""
        if sender in self._unknown_named:
            self._unknown_named.move_to_end(sender)
            return
        if self._unknown.warn("%s: datagram from %s, not the configured server; ignored", self.config.name, sender):
            self._unknown_named[sender] = None
            if len(self._unknown_named) > UNKNOWN_SENDERS_REMEMBERED:
                self._unknown_named.popitem(last=False)

    def _bad(self, reason: str, message: str) -> None:
        self.stats.bad_datagrams[reason] += 1
        self._once(f"bad-{reason}", "bad datagram (%s): %s", reason, message)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        host, port = str(addr[0]), int(addr[1])
        if host != self.address or port not in (self.config.port_up, self.config.port_down):
            self.stats.bad_datagrams["unknown-address"] += 1
            self._unknown_sender(f"{host}:{port}")
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


def local_address_toward(address: str, port: int) -> str | None:
    """The local address the kernel would send from toward ``address`` (no datagram is sent), or None."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((address, port))
            return str(probe.getsockname()[0])
    except OSError:
        return None


async def default_resolver(host: str, port: int) -> str:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    if not infos:
        raise OSError(f"{host} has no address")
    return str(infos[0][4][0])


