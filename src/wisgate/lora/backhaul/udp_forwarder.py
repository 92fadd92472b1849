"""Semtech UDP forwarder: one gateway to several network servers, with store-and-forward (reference §1, §3.3, §9.5).

Per server: its own UDP socket, PULL_DATA keepalive (``keepalive_s``; after ``keepalive_max_failures``
unanswered ones the host name is resolved again), PUSH_DATA acknowledgement tracking, a ``stat`` report
every ``stat_interval_s``, its own uplink filter and an uplink-only option. Datagrams are accepted only
from the configured server address; everything else is counted by reason and logged once.

Start-up: the forwarder subscribes to the gateway's uplinks before anything else, then resolves and opens
its servers (each on its own, so one slow DNS answer holds up no other); what arrives meanwhile is queued
in the stores and sent once its server is reachable, so nothing is lost at start.

Store-and-forward: each uplink's rxpk record is written to the server's :class:`UplinkStore` (one
transaction per event-loop turn) before it is sent, and deleted when the PUSH_ACK for the datagram that
carried it arrives (a late ACK still counts). When a PUSH_ACK does not come within ``push_timeout_s`` the
server is taken as down: new uplinks are only queued, and the oldest queued datagram is offered again
every ``retry_interval_s`` (or as soon as a PULL_ACK shows the server is back). Once it is acknowledged,
the queue is replayed oldest first, ``replay_window`` datagrams at a time, paced by ``replay_interval_s``; new
uplinks stay behind the queue until it is empty, because network servers drop frame counters that go
backwards. Replayed rxpk are the records as first written: the original ``tmst`` and, unless disabled,
the ``time`` of reception (a standard rxpk field), which is how a GWMP server can tell it is late.

Downlinks: a PULL_RESP ``txpk`` becomes a :class:`TxRequest`; ``imme`` is class C, ``tmst`` class A on
the module that heard the uplink it answers (found in a small index of recent uplinks: the board whose
uplink counter lies 0..``downlink_window_s`` before the tmst, exact RX delays preferred; with extensions
enabled a ``brd`` in the txpk wins). TX_ACK reports the scheduler's outcome as sx1302_hal's forwarder
does (PROTOCOL.md v1.6): no JSON when sent as asked, ``warn: TX_POWER`` with the power used, or
``error``; ``tx_ack_error_none`` writes packet_forwarder v4's ``{"error":"NONE"}`` on success instead.
Version-1 servers get no TX_ACK (it does not exist before protocol version 2).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence

from wisgate.aio import TaskGroup
from wisgate.clock import Clock
from wisgate.errors import ConfigError
from wisgate.lora.backhaul import gwmp
from wisgate.lora.backhaul.store import UplinkStore
from wisgate.lora.backhaul.udp_link import (
    Resolver,
    ServerLink,
    UdpServerConfig,
    UdpServerStats,
    default_resolver,
)
from wisgate.lora.backhaul.uplink_queue import MemoryStore, QueueStore, UplinkQueue
from wisgate.lora.core.timebase import COUNTER_MASK, counter_diff
from wisgate.lora.core.types import GatewayPort, ReceivedUplink, TxOutcome, TxRequest, TxResult

__all__ = ["MemoryStore", "RecentUplinks", "UdpForwarder", "UdpServerConfig", "UdpServerStats"]

log = logging.getLogger("wisgate.lora.udp")

#: Uplinks a server's queue holds in memory while its store cannot take them.
MEMORY_MAX_ITEMS = 10_000

#: LoRaWAN answers arrive a whole number of seconds after the uplink (RX1/RX2 1..16 s, join 5/6 s).
RX_DELAYS_US = tuple(n * 1_000_000 for n in range(1, 17))


class RecentUplinks:
    """Which board heard the uplink a class-A ``tmst`` answers: (board, count_us, when) of recent uplinks."""

    def __init__(self, window_s: float = 6.5, *, max_entries: int = 65_536, per_board: int = 256) -> None:
        self.window_us = int(window_s * 1_000_000)
        self.horizon_s = window_s + 10.0
        self.max_entries = max_entries
        self._exact: dict[int, tuple[int, float]] = {}
        self._order: deque[tuple[int, int, float]] = deque()
        self._boards: dict[int, deque[tuple[int, float]]] = {}
        self._per_board = per_board

    def add(self, board: int, count_us: int, when: float) -> None:
        self._exact[count_us] = (board, when)
        self._order.append((count_us, board, when))
        recent = self._boards.get(board)
        if recent is None:
            recent = self._boards[board] = deque(maxlen=self._per_board)
        recent.append((count_us, when))
        if len(self._order) > self.max_entries:
            self._forget_one()

    def _forget_one(self) -> None:
        count_us, board, when = self._order.popleft()
        if self._exact.get(count_us) == (board, when):
            del self._exact[count_us]

    def board_for(self, tmst: int, now: float) -> int | None:
        order = self._order
        while order and order[0][2] < now - self.horizon_s:
            self._forget_one()
        hits: dict[int, float] = {}
        for delay in RX_DELAYS_US:
            hit = self._exact.get((tmst - delay) & COUNTER_MASK)
            if hit is not None and 0 <= now - hit[1] <= self.horizon_s:
                hits[hit[0]] = max(hit[1], hits.get(hit[0], hit[1]))
        if hits:
            return max(hits, key=lambda b: hits[b])
        best: tuple[float, int] | None = None
        for board, recent in self._boards.items():
            for count_us, when in reversed(recent):
                if now - when > self.horizon_s:
                    break
                if 0 <= counter_diff(tmst, count_us) <= self.window_us and (best is None or when > best[0]):
                    best = (when, board)
                    break
        return None if best is None else best[1]


class UdpForwarder:
    """Forward one gateway's uplinks to several GWMP servers and carry out their downlinks.

    Use as ``async with UdpForwarder(gateway, servers) as forwarder: ...``; it subscribes to the
    gateway's uplinks itself. ``submit`` is the synchronous entry for tests and benches.
    """

    def __init__(
        self,
        gateway: GatewayPort,
        servers: Sequence[UdpServerConfig],
        *,
        clock: Clock | None = None,
        wall: Callable[[], float] = time.time,
        resolver: Resolver = default_resolver,
        bind_host: str = "0.0.0.0",
        default_power_dbm: float = 14.0,
        subscribe: bool = True,
        temperature: Callable[[], float | None] | None = None,
    ) -> None:
        names = [s.name for s in servers]
        if len(set(names)) != len(names):
            raise ConfigError(f"UDP servers need distinct names, got {names}")
        self.gateway = gateway
        self.gateway_id = gateway.gateway_id
        #: °C for the sx1302 stat's ``temp`` (lora_pkt_fwd reports the concentrator's); None: not sent.
        self.temperature = temperature
        self.configs = list(servers)
        self.clock = clock or gateway.clock
        self.wall = wall
        self.resolver = resolver
        self.bind_host = bind_host
        self.default_power_dbm = default_power_dbm
        #: False: uplinks come only through :meth:`submit` (benches, tests, another dispatcher).
        self.subscribe = subscribe
        self.links: dict[str, ServerLink] = {}
        windows = [s.downlink_window_s for s in servers] or [6.5]
        self.recent = RecentUplinks(max(windows))
        self._tasks: list[asyncio.Task[None]] = []
        self._opened: list[asyncio.Event] = []
        self._downlinks: set[asyncio.Task[None]] = set()
        self._downlink_lock = asyncio.Lock()
        self._stat_last: dict[str, tuple[int, int]] = {}

    async def __aenter__(self) -> UdpForwarder:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Subscribe first, then resolve and open every server; returns once each has had its first try."""
        for config in self.configs:
            queue = UplinkQueue(opener=self._store_opener(config), server=config.name, policy=config.store_policy,
                                memory_max=min(config.store_max, MEMORY_MAX_ITEMS),
                                retry_s=config.retry_interval_s)
            self.links[config.name] = ServerLink(config, queue, gateway_id=self.gateway_id, resolver=self.resolver,
                                                 on_downlink=self.downlink, bind_host=self.bind_host)
        if self.subscribe:
            # subscribed now, before any await: an uplink emitted while a server resolves waits in its store
            self._tasks.append(asyncio.create_task(self._pump(self.gateway.uplink_batches()), name="gwmp-uplinks"))
        for link in self.links.values():
            opened = asyncio.Event()
            self._opened.append(opened)
            self._tasks.append(asyncio.create_task(self._run_link(link, opened), name=f"gwmp-{link.config.name}"))
        for opened in self._opened:
            await opened.wait()

    def _store_opener(self, config: UdpServerConfig) -> Callable[[], QueueStore]:
        path = config.store_path
        if path is None:
            return lambda: MemoryStore(max_items=config.store_max)

        def open_store() -> UplinkStore:
            # a damaged file is moved aside (its uplinks counted as lost) rather than stopping the gateway
            store = UplinkStore.recover(path, server=config.name, max_items=config.store_max,
                                        policy=config.store_policy)
            if store.lost:
                log.warning("%s: uplink store %s has lost %d uplinks to a damaged file (moved aside)",
                            config.name, path, store.lost)
            return store

        return open_store

    async def _run_link(self, link: ServerLink, opened: asyncio.Event) -> None:
        config = link.config
        try:
            try:
                await link.resolve()
            except (OSError, UnicodeError) as exc:
                log.warning("%s: cannot resolve %s or open its socket yet (%s); retrying every keepalive",
                            config.name, config.host, exc)
            if link.backlog:
                log.info("%s: %d uplinks queued from before; replaying them first", config.name, len(link.store))
        finally:
            opened.set()
        async with TaskGroup() as group:
            group.create_task(link.replay_loop(), name=f"gwmp-{config.name}-replay")
            group.create_task(link.keepalive_loop(), name=f"gwmp-{config.name}-keepalive")
            group.create_task(link.store.upkeep(), name=f"gwmp-{config.name}-store-upkeep")
            if config.stat_interval_s > 0:
                group.create_task(self._stat_loop(link), name=f"gwmp-{config.name}-stat")

    async def close(self) -> None:
        tasks = self._tasks + list(self._downlinks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        for link in self.links.values():
            link.close()

    async def _pump(self, batches: AsyncIterator[list[ReceivedUplink]]) -> None:
        async for batch in batches:
            for received in batch:
                self.submit(received)

    # uplinks

    def submit(self, received: ReceivedUplink) -> None:
        """One merged uplink to every server whose filter passes it (stored, then sent)."""
        uplink = received.uplink
        best = uplink.best
        now = self.clock.monotonic()
        received_at = self.wall() - max(0.0, now - uplink.first_seen)
        self.recent.add(best.rx_info.board, best.rx_info.count_us, uplink.first_seen)
        records: dict[tuple[bool, bool, bool, str], bytes] = {}
        rx_time: str | None = None
        for link in self.links.values():
            config = link.config
            if link.filter is not None:
                reason = link.filter.check_crc(best.rx_info.crc_status) or link.filter.check_frame(received.frame)
                if reason:
                    link.stats.filtered[reason] += 1
                    continue
            key = (config.extensions, config.jver, config.rx_time, config.fields)
            record = records.get(key)
            if record is None:
                if config.rx_time and rx_time is None:
                    rx_time = gwmp.utc_time(received_at)
                record = records[key] = gwmp.encode_uplink(
                    uplink, rx_time=rx_time if config.rx_time else None, jver=1 if config.jver else None,
                    extensions=config.extensions, fields=config.fields,
                )
            link.queue(record, received_at)

    # stat

    async def _stat_loop(self, link: ServerLink) -> None:
        while True:
            await asyncio.sleep(link.config.stat_interval_s)
            self.send_stat(link)

    def send_stats(self) -> None:
        """A ``stat`` report to every server that has them now (tests; the loops send on their own)."""
        for link in self.links.values():
            if link.config.stat_interval_s > 0:
                self.send_stat(link)

    def send_stat(self, link: ServerLink) -> None:
        """A ``stat`` PUSH_DATA to ``link``; counters cover the interval since its previous report."""
        received = ok = 0
        for module in self.gateway.stats.modules.values():
            total = module.total()
            received += total.received
            ok += total.crc_ok
        last = self._stat_last.get(link.config.name, (0, 0))
        self._stat_last[link.config.name] = (received, ok)
        rxfw, dwnb, txnb, ackr = link.stat_counters()
        temp = None
        if link.config.fields == "sx1302" and self.temperature is not None:
            temp = self.temperature()
        stat = gwmp.Stat(gwmp.stat_time(self.wall()), received - last[0], ok - last[1], rxfw, float(f"{ackr:.1f}"),
                         dwnb, txnb, temp=temp)
        link.send_stat(gwmp.encode_stat(stat))

    # downlinks

    def downlink(self, link: ServerLink, packet: gwmp.PullResp) -> None:
        task = asyncio.get_running_loop().create_task(self._transmit(link, packet))
        self._downlinks.add(task)
        task.add_done_callback(self._downlinks.discard)

    def request_for(self, link: ServerLink, txpk: gwmp.Txpk) -> TxRequest:
        """The core request for a txpk from ``link``'s server (raises GwmpError for GPS-only timing)."""
        board: int | None = None
        if link.config.extensions and txpk.brd is not None and txpk.brd in self.gateway.boards:
            board = txpk.brd
        elif not txpk.imme and txpk.tmst is not None:
            board = self.recent.board_for(txpk.tmst, self.clock.monotonic())
            if board is None:
                link.stats.tmst_unmatched += 1
        return gwmp.txpk_to_request(txpk, board=board, default_power_dbm=self.default_power_dbm)

    async def _transmit(self, link: ServerLink, packet: gwmp.PullResp) -> None:
        result: TxResult | None = None
        try:
            request = self.request_for(link, packet.txpk)
        except gwmp.GwmpError:
            outcome = "GPS_UNLOCKED"  # Semtech's word for a tmms downlink without GPS time
        else:
            try:
                # one at a time: a module's command socket is request/reply and takes one request at once
                async with self._downlink_lock:
                    result = await self.gateway.send_downlink(request)
            except Exception as exc:
                link._once("downlink-internal", "downlink failed inside the gateway: %r", exc)
                outcome = "INTERNAL_ERROR"
            else:
                outcome = result.outcome.value
        ack: gwmp.TxpkAck | None
        if result is not None and result.ok:
            link.stats.downlinks_sent += 1
            if result.warning is TxOutcome.TX_POWER and result.power_dbm is not None:
                ack = gwmp.TxpkAck(warn="TX_POWER", value=round(result.power_dbm))
            else:
                ack = gwmp.TxpkAck(error="NONE") if link.config.tx_ack_error_none else None
        else:
            link.stats.downlinks_refused[outcome] += 1
            ack = gwmp.TxpkAck(error=outcome)
        link.send_tx_ack(packet.token, ack)

    def stats(self) -> dict[str, UdpServerStats]:
        return {name: link.sync_stats() for name, link in self.links.items()}

    def snapshot(self) -> dict[str, dict[str, object]]:
        """Per server, for status pages and metrics: health, the queue and the link's counters."""
        out: dict[str, dict[str, object]] = {}
        for name, link in self.links.items():
            s = link.sync_stats()
            out[name] = {
                "ok": link.problem is None, "problem": link.problem, "address": link.address, "live": link.live,
                "queued": s.queued, "in_memory": link.store.in_memory, "unprotected": s.unprotected,
                "store_errors": s.store_errors, "dropped": s.dropped_at_cap, "lost": link.store.lost,
                "pushes": s.pushes, "acks": s.acks, "push_timeouts": s.push_timeouts, "uplinks_sent": s.uplinks_sent,
                "uplinks_acked": s.uplinks_acked, "replayed": s.replayed, "socket_errors": s.socket_errors,
                "bad_datagrams": dict(s.bad_datagrams), "downlinks_sent": s.downlinks_sent,
                "downlinks_refused": dict(s.downlinks_refused),
            }
        return out
