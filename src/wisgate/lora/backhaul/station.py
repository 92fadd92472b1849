"""LoRa Basics Station as a backhaul: the gateway speaks the LNS protocol to a network server (reference §2).

One connection for the whole gateway (one router EUI for every module, as Station's SX1301-era
multi-board builds do): discovery at ``<uri>/router-info`` gives the LNS endpoint (``muxs`` URI);
there the gateway sends ``version`` and waits for ``router_config``, whose channel plan is split over
the installed modules and applied at once (the remote configuration path). Uplinks go out as ``updf``,
``jreq``/``rejoin`` and ``propdf`` with ``RefTime`` (the last ``MuxTime`` plus the time since), ``DR``
from the ``router_config`` table, ``Freq`` and ``upinfo`` (``rctx`` = the board that heard it,
``xtime`` = board, session and that board's extended µs counter). ``dnmsg`` becomes a JIT request on
the board ``rctx`` names (the scheduler may move it): class A at ``xtime`` + ``RxDelay`` on RX1, and if
RX1 is refused on RX2 one second later; class C at once on RX2. ``dntxed`` follows when the frame has
left the antenna. ``timesync`` requests go out every ``timesync_interval_s``; the answer's ``gpstime``
gives uplinks a ``gpstime`` (no GNSS on the modules); a pushed ``{xtime, gpstime}`` is taken too.

Store-and-forward as the other backhauls: every uplink is written to the server's store first. The LNS
protocol has no uplink acknowledgement, so after each window of messages the gateway sends a WebSocket
ping; its pong (which the peer sends after reading everything before it) deletes the window from the
store (a few windows may wait for their pongs at once). What was sent after the last pong when a
connection drops is sent again after reconnecting (at least once; an LNS deduplicates uplinks anyway).
Reconnection uses equal-jitter backoff.

TLS: ``wss://`` with the system CAs or ``ca_file``; ``cert_file``/``key_file`` for client
authentication; ``token`` is sent as the ``Authorization`` header (Station's token mode). CUPS (remote
credential and firmware update) and class B (``dnsched``) are not implemented. ``getxtime`` is answered;
``runcmd`` and ``rmtsh`` are always refused (counted, logged once): running what the network sends is not
something a gateway daemon should do for anyone who can speak for the LNS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from wisgate.aio import TaskGroup
from wisgate.lora.backhaul import lns
from wisgate.lora.backhaul.station_settings import StationSettings
from wisgate.lora.backhaul.store import StoredUplink
from wisgate.lora.backhaul.uplink_queue import QueueStore, UplinkIntake, UplinkQueue
from wisgate.lora.core.types import GatewayPort, ReceivedUplink, TxClass, TxRequest, TxResult
from wisgate.lora.errors import BackendError, PlanError

log = logging.getLogger("wisgate.lora.station")

STATION_VERSION = "wisgate-station 1"
MODEL = "RAK7391"
#: Windows of uplinks sent but not yet confirmed by their ping.
MAX_WINDOWS = 4
#: dntxed is sent this long after the departure counter, when the frame has certainly left.
DNTXED_AFTER_S = 0.05


@dataclass
class StationStats:
    connects: int = 0
    connect_failures: int = 0
    sent: int = 0
    confirmed: int = 0
    replayed: int = 0
    router_configs: int = 0
    downlinks: Counter[str] = field(default_factory=Counter)
    dntxed: int = 0
    timesyncs: int = 0
    bad_messages: Counter[str] = field(default_factory=Counter)
    commands_refused: int = 0


class StationForwarder:
    """The gateway as a Basics Station toward one LNS; ``run()`` until cancelled."""

    def __init__(
        self,
        gateway: GatewayPort,
        settings: StationSettings,
        store: QueueStore | UplinkQueue,
        *,
        wall: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.gateway = gateway
        self.settings = settings
        self.store = store if isinstance(store, UplinkQueue) else UplinkQueue(store, server="station")
        self.stats = StationStats()
        self.connected = asyncio.Event()
        self.configured = asyncio.Event()
        self.router = int(gateway.gateway_id, 16)
        self._wall = wall
        self._rng = rng or random.Random()
        self.session = self._rng.randrange(256)
        self._ssl = settings.ssl_context()  # bad TLS files fail here, not at each reconnect
        self._wake = asyncio.Event()
        self.intake = UplinkIntake(self.store, self._record, self._wake.set)
        self._rates: lns.DataRates | None = None
        self._muxtime: tuple[float, float] | None = None  # (MuxTime, host monotonic when it came)
        self.gps_offset_us: int | None = None  # GPS µs minus host µs, once a timesync answered
        self._timesyncs: dict[int, float] = {}
        self._power = settings.tx_power_dbm
        self._logged: set[str] = set()
        self._downlinks: set[asyncio.Task[Any]] = set()
        self._ws: ClientConnection | None = None
        self.muxs_uri = ""

    # -- uplinks in ---------------------------------------------------------

    def submit(self, received: ReceivedUplink) -> None:
        """Queue one merged uplink; it is written to the store at the end of this loop turn."""
        self.intake.submit(received)

    def _record(self, received: ReceivedUplink) -> tuple[bytes, float] | None:
        wall = self._wall()
        record = lns.uplink_record(received, session=self.session, rxtime=wall,
                                   received_host=self.gateway.clock.monotonic(), gps_offset_us=self.gps_offset_us)
        return None if record is None else (record, wall)

    @property
    def backlog(self) -> int:
        return len(self.store) + self.intake.pending

    # -- the connection -----------------------------------------------------

    async def run(self) -> None:
        try:
            async with TaskGroup() as group:
                group.create_task(self.intake.run(self.gateway), name="station-intake")
                group.create_task(self.store.upkeep(), name="station-store-upkeep")
                group.create_task(self._connection_loop(), name="station-connection")
        finally:
            self.intake.flush()
            self.store.drain()  # what was received is written (or held in memory) before run() returns
            for task in list(self._downlinks):
                task.cancel()

    async def _connection_loop(self) -> None:
        delay = self.settings.reconnect_min_s
        while True:
            connects = self.stats.connects
            try:
                await self._session()
            except* (OSError, ConnectionClosed, InvalidHandshake, InvalidURI, TimeoutError, lns.LnsError) as group:
                exc = _first(group)
                self._problem(f"LNS {self.settings.uri}: {type(exc).__name__}: {exc}")
            finally:
                self.connected.clear()
                self.configured.clear()
                self._ws = None
            if self.stats.connects != connects:  # it connected: start the back-off again
                delay = self.settings.reconnect_min_s
            else:
                self.stats.connect_failures += 1
            await asyncio.sleep(delay * (0.5 + 0.5 * self._rng.random()))
            delay = min(delay * 2, self.settings.reconnect_max_s)

    def _headers(self) -> dict[str, str]:
        token = self.settings.token
        return {} if token is None else {"Authorization": token.get_secret_value()}

    async def discover(self) -> str:
        """Ask ``<uri>/router-info`` where to connect; the ``muxs`` URI."""
        base = self.settings.uri.rstrip("/")
        async with connect(f"{base}/router-info", ssl=self._ssl, additional_headers=self._headers(),
                           open_timeout=10, compression=None) as ws:
            await ws.send(lns.json_text({"router": lns.id6(self.router)}))
            async with asyncio.timeout(10):  # not wait_for: see wisgate.aio
                answer = lns.decode(await ws.recv())
        if answer.get("error"):
            raise lns.LnsError(f"router-info refused this gateway: {str(answer['error'])[:200]}")
        uri = answer.get("uri")
        if not isinstance(uri, str) or not uri.startswith(("ws://", "wss://")):
            raise lns.LnsError(f"router-info answer has no ws:// or wss:// uri: {str(uri)[:80]}")
        return uri

    async def _session(self) -> None:
        self.muxs_uri = await self.discover()
        async with connect(self.muxs_uri, ssl=self._ssl if self.muxs_uri.startswith("wss://") else None,
                           additional_headers=self._headers(), open_timeout=10, max_queue=None,
                           compression=None) as ws:
            self._ws = ws
            self.stats.connects += 1
            self.connected.set()
            await ws.send(lns.version_message(station=STATION_VERSION, firmware=STATION_VERSION, model=MODEL))
            log.info("LNS %s connected (router %s)", self.muxs_uri, lns.id6(self.router))
            async with TaskGroup() as group:
                group.create_task(self._receiver(ws), name="station-receive")
                group.create_task(self._sender(ws), name="station-send")
                group.create_task(self._timesync(ws), name="station-timesync")

    # -- uplinks out --------------------------------------------------------

    def reftime(self) -> float:
        if self._muxtime is None:
            return 0.0
        muxtime, at = self._muxtime
        return muxtime + (self.gateway.clock.monotonic() - at)

    async def _sender(self, ws: ClientConnection) -> None:
        """Windows of uplinks, each closed by a ping; up to ``MAX_WINDOWS`` unconfirmed at once.

        A pong confirms its window (the peer answers pings in order, after the frames before them),
        which is then deleted from the store. Waiting for each pong before sending more would leave the
        link idle for a round trip per window.
        """
        await self.configured.wait()  # DRs come with router_config
        window = self.settings.window
        connected_at = self._wall()
        in_flight: deque[tuple[asyncio.Future[float], list[StoredUplink]]] = deque()
        sent: set[int] = set()
        newest = 0
        while True:
            self._wake.clear()
            while in_flight and in_flight[0][0].done():
                pong, items = in_flight.popleft()
                pong.result()  # raises ConnectionClosed if the connection went before the pong
                self.store.ack(item.id for item in items)
                sent.difference_update(item.id for item in items)
                self.stats.confirmed += len(items)
                self.stats.replayed += sum(1 for item in items if item.received_at < connected_at)
            if len(in_flight) < MAX_WINDOWS:
                fresh = self._next_window(sent, newest, window)
                if fresh:
                    await self._send_window(ws, fresh)
                    sent.update(item.id for item in fresh)
                    newest = max(newest, *(item.id for item in fresh))  # memory ids (negative) never count
                    in_flight.append((asyncio.ensure_future(await ws.ping()), fresh))
                    continue
            waiting: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._wake.wait())]
            if in_flight:
                waiting.append(in_flight[0][0])
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            waiting[0].cancel()

    def _next_window(self, sent: set[int], newest: int, window: int) -> list[StoredUplink]:
        """The oldest queued uplinks not in flight. Sent in id order: every store id up to ``newest`` (the newest
        sent on this connection) is in flight or acknowledged, so the store is read only above it. What is in
        flight from memory (negative ids, or moved into the store since: aliased) is listed again, filtered out."""
        from_memory = sum(1 for i in sent if i < 0)
        queued = self.store.peek(from_memory + window, after=newest)
        if not from_memory:
            return queued
        sending = {self.store.alias(i) for i in sent}
        return [item for item in queued if item.id not in sending][:window]

    async def _send_window(self, ws: ClientConnection, items: list[StoredUplink]) -> None:
        rates = self._rates
        assert rates is not None
        reftime = self.reftime()
        messages: list[bytes] = []
        for item in items:
            try:
                messages.append(lns.uplink_message(item.payload, rates, reftime))
            except ValueError:
                continue  # not a record of ours (damaged): confirmed with its window, never sent
        await send_texts(ws, messages)
        self.stats.sent += len(items)

    # -- from the LNS -------------------------------------------------------

    async def _receiver(self, ws: ClientConnection) -> None:
        async for raw in ws:
            try:
                message = lns.decode(raw)
            except lns.LnsError as exc:
                self._bad("json", str(exc))
                continue
            kind = message.get("msgtype")
            muxtime = message.get("MuxTime")
            if isinstance(muxtime, int | float) and not isinstance(muxtime, bool):
                self._muxtime = (float(muxtime), self.gateway.clock.monotonic())
            try:
                if kind == "router_config":
                    await self._router_config(message)
                elif kind == "dnmsg":
                    self.schedule(lns.parse_dnmsg(message), ws)
                elif kind == "timesync":
                    self._timesync_answer(message)
                elif kind == "getxtime":
                    await ws.send(self.getxtime_answer(message))
                elif kind in ("runcmd", "rmtsh"):
                    self._refuse_command(kind, message)
                else:
                    self._bad("msgtype", f"msgtype {str(kind)[:30]!r} not handled")
            except lns.LnsError as exc:
                self._bad(str(kind), str(exc))

    async def _router_config(self, message: dict[str, Any]) -> None:
        config = lns.parse_router_config(message)
        self.stats.router_configs += 1
        self._rates = config.data_rates
        if config.max_eirp is not None:
            self._power = config.max_eirp
        try:
            await self.gateway.apply_plan(config.plan, version=f"router_config {self.stats.router_configs}")
        except (PlanError, BackendError) as exc:
            # uplinks still flow on the plan the modules have; the LNS operator must see why
            log.error("router_config from %s not applied: %s", self.muxs_uri, exc)
        self.configured.set()
        self._wake.set()

    # -- downlinks ----------------------------------------------------------

    def schedule(self, msg: lns.DnMsg, ws: ClientConnection | None) -> asyncio.Task[TxResult | None]:
        """Hand a ``dnmsg`` to the gateway's scheduler (a task; the receiver never waits for a module)."""
        task = asyncio.get_running_loop().create_task(self.transmit(msg, ws))
        self._downlinks.add(task)
        task.add_done_callback(self._downlinks.discard)
        return task

    def _request(self, msg: lns.DnMsg, window: tuple[int, int], delay_s: int | None) -> TxRequest:
        rates = self._rates
        if rates is None:
            raise lns.LnsError("dnmsg before router_config: no data-rate table yet")
        modulation = rates.modulation(window[0])
        board = msg.rctx
        if delay_s is None:  # class C: at once, on RX2
            return TxRequest(msg.pdu, window[1], self._power, modulation, tx_class=TxClass.C, board=board)
        unit, _, time_us = lns.xtime_parts(msg.xtime)
        board = unit if board is None else board
        count_us = (time_us + delay_s * 1_000_000) & 0xFFFFFFFF
        return TxRequest(msg.pdu, window[1], self._power, modulation, count_us=count_us, board=board)

    async def transmit(self, msg: lns.DnMsg, ws: ClientConnection | None) -> TxResult | None:
        """Class A: RX1, then RX2 if RX1 is refused; class C: RX2 now. ``dntxed`` once it has left."""
        attempts: list[tuple[tuple[int, int], int | None]] = []
        if msg.device_class == 2 or not msg.xtime:
            if msg.rx2 is not None or msg.rx1 is not None:
                attempts.append((msg.rx2 or msg.rx1, None))  # type: ignore[arg-type]
        else:
            if msg.rx1 is not None:
                attempts.append((msg.rx1, msg.rx_delay_s))
            if msg.rx2 is not None:
                attempts.append((msg.rx2, msg.rx_delay_s + 1))
        result: TxResult | None = None
        for window, delay in attempts:
            try:
                request = self._request(msg, window, delay)
                result = await self.gateway.send_downlink(request)
            except (lns.LnsError, ValueError, ArithmeticError) as exc:
                self._bad("dnmsg", f"diid {msg.diid}: {exc}")
                return None
            if result.ok:
                self.stats.downlinks["OK"] += 1
                self._after_emission(msg, window, result, ws)
                return result
        self.stats.downlinks[result.outcome.value if result is not None else "NO_WINDOW"] += 1
        if result is not None:
            self._once(f"dn-{result.outcome.value}", "dnmsg %d not sent: %s %s", msg.diid, result.outcome.value,
                       result.detail)
        return result

    def _after_emission(self, msg: lns.DnMsg, window: tuple[int, int], result: TxResult,
                        ws: ClientConnection | None) -> None:
        board = result.board if result.board is not None else 0
        count = result.count_us if result.count_us is not None else 0
        gateway = self.gateway
        timebase = getattr(gateway, "timebases", {}).get(board)
        delay = DNTXED_AFTER_S
        extended = count
        if timebase is not None and timebase.synced:
            extended = timebase.extend(count)
            host_us = timebase.to_gateway(count)
            delay += max(0.0, host_us / 1_000_000 - gateway.clock.monotonic())
        txtime = self._wall() + delay
        text = lns.dntxed(msg, dr=window[0], freq_hz=window[1], board=board,
                          xtime_value=lns.xtime(board, self.session, extended), txtime=txtime,
                          gpstime=0 if self.gps_offset_us is None else int(txtime * 1e6) + self.gps_offset_us)

        async def later() -> None:
            await asyncio.sleep(delay)
            if ws is not None:
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(text)
                    self.stats.dntxed += 1

        self.schedule_call(later())

    def schedule_call(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._downlinks.add(task)
        task.add_done_callback(self._downlinks.discard)

    # -- timesync -----------------------------------------------------------

    async def _timesync(self, ws: ClientConnection) -> None:
        while True:
            txtime = int(self.gateway.clock.monotonic() * 1_000_000)
            self._timesyncs[txtime] = self.gateway.clock.monotonic()
            if len(self._timesyncs) > 16:
                self._timesyncs.pop(next(iter(self._timesyncs)))
            await ws.send(lns.json_text({"msgtype": "timesync", "txtime": txtime}))
            await asyncio.sleep(self.settings.timesync_interval_s)

    def _timesync_answer(self, message: dict[str, Any]) -> None:
        gpstime = message.get("gpstime")
        if isinstance(gpstime, bool) or not isinstance(gpstime, int):
            raise lns.LnsError("timesync without an integer gpstime")
        txtime = message.get("txtime")
        now_us = int(self.gateway.clock.monotonic() * 1_000_000)
        if isinstance(txtime, int) and not isinstance(txtime, bool) and txtime in self._timesyncs:
            del self._timesyncs[txtime]
            midpoint = (txtime + now_us) // 2  # the LNS stamped it half a round trip after we sent it
            self.gps_offset_us = gpstime - midpoint
        elif "xtime" in message:
            self.gps_offset_us = gpstime - now_us  # the LNS pushed its time: take it as of now
        else:
            raise lns.LnsError("timesync answer for no request of ours")
        self.stats.timesyncs += 1

    # -- diagnostics --------------------------------------------------------

    def getxtime_answer(self, message: dict[str, Any]) -> str:
        """Station's answer to ``getxtime``: the LNS's ``MuxTime`` echoed, the gateway's time and, per board
        (Station's TX unit), its xtime now (0 for a board not heard from yet)."""
        now = self.gateway.clock.monotonic()
        host_us = int(now * 1_000_000)
        timebases = getattr(self.gateway, "timebases", {})
        xtimes = [0] * (max(self.gateway.boards, default=-1) + 1)
        for board in self.gateway.boards:
            timebase = timebases.get(board)
            if timebase is not None and timebase.synced:
                xtimes[board] = lns.xtime(board, self.session, timebase.extended_at(host_us))
        muxtime = message.get("MuxTime", 0)
        if isinstance(muxtime, bool) or not isinstance(muxtime, int | float):
            muxtime = 0
        return lns.json_text({"msgtype": "getxtime", "MuxTime": muxtime, "ustime": round(now, 6),
                              "UTCtime": round(self._wall(), 6), "xtimes": xtimes})

    def _refuse_command(self, kind: str, message: dict[str, Any]) -> None:
        """``runcmd`` (run a program) and ``rmtsh`` (remote shell) are refused, always: whoever speaks for the
        LNS (a compromised server, or anyone in the path of a ws:// link) would run code on the gateway."""
        self.stats.commands_refused += 1
        what = str(message.get("command", ""))[:60] if kind == "runcmd" else "remote shell"
        self._once(f"refused-{kind}-{what}", "LNS %s asked to run %s (%s): refused; wisgate never runs commands "
                   "sent over the network", self.muxs_uri, repr(what), kind)

    # -- problems -----------------------------------------------------------

    def _bad(self, reason: str, detail: str) -> None:
        self.stats.bad_messages[reason] += 1
        self._once(f"bad-{reason}", "bad message from the LNS (%s): %s", reason, detail)

    def _problem(self, message: str) -> None:
        self._once(message, "%s", message)

    def _once(self, key: str, message: str, *args: object) -> None:
        if key not in self._logged:
            self._logged.add(key)
            log.warning(message, *args)

    def snapshot(self) -> dict[str, object]:
        s = self.stats
        return {
            "connected": self.connected.is_set(), "muxs": self.muxs_uri, "sent": s.sent, "confirmed": s.confirmed,
            "replayed": s.replayed, "queued": self.backlog, "connects": s.connects,
            "connect_failures": s.connect_failures, "downlinks": dict(s.downlinks), "dntxed": s.dntxed,
            "timesync": self.gps_offset_us is not None, "commands_refused": s.commands_refused,
            "store": self.store.snapshot(),
        }


async def send_texts(ws: ClientConnection, messages: list[bytes]) -> None:
    """Text messages (UTF-8) written to the socket at once: a window of uplinks costs one write (and with TLS a
    run of records), not a write per message, which made the sends most of the backhaul's time.

    In ``send_context``, as ``Connection.send`` itself does: a connection that is closing raises
    ``ConnectionClosed``, and flow control (waiting while the peer does not read) is the same.
    """
    if not messages:
        return
    protocol = ws.protocol
    async with ws.send_context():
        for message in messages:
            protocol.send_text(message)
        ws.transport.write(b"".join(protocol.data_to_send()))


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc
