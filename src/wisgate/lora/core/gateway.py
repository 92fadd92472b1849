"""One gateway from several concentrator modules: uplinks merged, downlinks placed on the right module.

Per module, a backend (Concentratord over ZeroMQ, real or simulated) delivers uplinks already in our
own types (:mod:`wisgate.lora.core.types`; the backend translates its wire format). Each is stamped
on its board's 64-bit timeline, filtered, counted, and pushed into one deduplicator; uplinks leave it
when their airtime window closes, best reception first. Downlinks go through the gateway-wide
scheduler (one Semtech JIT queue per module) and then to the chosen module's backend.

:meth:`Gateway.handle` is the synchronous hot path (no awaits), so it can be measured alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass, replace

from wisgate.aio import TaskGroup, wait_event
from wisgate.clock import Clock
from wisgate.lora.core.dedup import Deduplicator
from wisgate.lora.core.filters import UplinkFilter
from wisgate.lora.core.jit import JitQueue
from wisgate.lora.core.pipeline import DUPLICATE, UplinkPipeline
from wisgate.lora.core.scheduler import TxScheduler
from wisgate.lora.core.stats import GatewayStats
from wisgate.lora.core.types import (
    CrcStatus,
    Malformed,
    ModuleBackend,
    ReceivedUplink,
    TxOutcome,
    TxRequest,
    TxResult,
    UplinkFrame,
    datarate,
)
from wisgate.lora.errors import BackendError, PlanError
from wisgate.lora.plans.allocation import Module, allocate
from wisgate.lora.plans.channels import ChannelPlan

log = logging.getLogger("wisgate.lora.core.gateway")

SUBSCRIBER_QUEUE = 10_000
#: An uplink leaves this long after its first copy, not after the whole airtime window: at SF12 the
#: window (2.5 s) is longer than RX1 (1 s), and the network server must still be able to answer.
DEDUP_HOLD_S = 0.2
#: A module with no event for this long is asked who it is; no answer makes it a reported problem.
QUIET_PROBE_S = 30.0


@dataclass
class ModuleLink:
    board: int
    backend: ModuleBackend
    jit: JitQueue
    #: what the module's radios can do, for placing a plan on it (remote configuration)
    module: Module | None = None


class UplinkSubscription:
    """One reader's merged uplinks, waiting until it takes them; the oldest go when ``limit`` are waiting.

    A slow reader loses its oldest uplinks (counted in ``lost``), never holds up the gateway.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.lost = 0
        self._waiting: deque[ReceivedUplink] = deque(maxlen=limit)
        self._ready = asyncio.Event()

    def add(self, uplinks: list[ReceivedUplink]) -> None:
        self.lost += max(0, len(self._waiting) + len(uplinks) - self.limit)
        self._waiting.extend(uplinks)
        if not self._ready.is_set():
            self._ready.set()

    async def take(self) -> list[ReceivedUplink]:
        """What waits, oldest first; waits for at least one."""
        while not self._waiting:
            self._ready.clear()
            await self._ready.wait()
        batch = list(self._waiting)
        self._waiting.clear()
        return batch


class Gateway:
    def __init__(
        self,
        gateway_id: str,
        links: Sequence[ModuleLink],
        *,
        clock: Clock,
        uplink_filter: UplinkFilter | None = None,
        dedup: Deduplicator | None = None,
    ) -> None:
        self.gateway_id = gateway_id
        self.links = {link.board: link for link in links}
        self.clock = clock
        self.pipeline = UplinkPipeline(uplink_filter or UplinkFilter(), dedup or Deduplicator(hold_s=DEDUP_HOLD_S))
        self.dedup = self.pipeline.dedup
        self.timebases = self.pipeline.timebases
        for board in self.links:
            self.pipeline.timebase(board)
        self.scheduler = TxScheduler([link.jit for link in links], self.timebases)
        self.stats = GatewayStats()
        self._subscribers: list[UplinkSubscription] = []
        self._wake = asyncio.Event()
        self._downlink_id = 0
        self._problems: set[str] = set()
        #: board -> why it is not working (a module that never answers); shown in logs and /api/health
        self.module_problems: dict[int, str] = {}
        self._last_event: dict[int, float] = {}
        #: board -> whether its module answers (absent until it first answered or was asked)
        self.module_up: dict[int, bool] = {}
        self._module_listeners: list[Callable[[int, bool, str], None]] = []
        self.quiet_probe_s = QUIET_PROBE_S
        #: the version of the last remote configuration applied ("" until one is)
        self.plan_version = ""
        self._downlink_listeners: list[Callable[[TxRequest, TxResult], None]] = []

    @property
    def boards(self) -> Collection[int]:
        return self.links.keys()

    # uplinks

    def handle(self, frame: UplinkFrame, now: float) -> None:
        """One uplink from the module ``frame.rx_info.board`` at host time ``now`` (seconds)."""
        board = frame.rx_info.board
        self.timebases[board].sync(frame.rx_info.count_us, int(now * 1_000_000))
        channel = self.stats.module(board).channel(frame.frequency_hz)
        channel.received += 1
        channel.datarates[datarate(frame.modulation)] += 1
        if frame.rx_info.crc_status is CrcStatus.OK:
            channel.crc_ok += 1
            channel.airtime_s += frame.airtime()
        elif frame.rx_info.crc_status is CrcStatus.BAD:
            channel.crc_bad += 1
        verdict = self.pipeline.push(frame, now)
        if not verdict:
            channel.forwarded += 1
        elif verdict is DUPLICATE:
            channel.duplicates += 1
        else:
            channel.dropped[verdict] += 1

    def malformed(self, event: Malformed) -> None:
        """An event a module's backend could not read: counted per module, each reason logged once."""
        self.stats.module(event.board).malformed += 1
        self._problem(f"board {event.board}: {event.reason}")

    def emit_due(self, now: float) -> list[ReceivedUplink]:
        uplinks = self.pipeline.pop_due(now)
        if uplinks:
            self.stats.uplinks += len(uplinks)
            for subscription in self._subscribers:
                subscription.add(uplinks)
        return uplinks

    def uplinks(self) -> AsyncIterator[ReceivedUplink]:
        """Every merged uplink from this call on (subscribed now, not at the first ``anext``)."""
        return self._one_by_one(self._subscribe())

    def uplink_batches(self) -> AsyncIterator[list[ReceivedUplink]]:
        """Every merged uplink from this call on, in lists of what came since the reader last looked.

        For readers that handle uplinks in bulk (the backhauls: one store transaction per list); cheaper
        per uplink than :meth:`uplinks`. Subscribed now, not at the first ``anext``.
        """
        return self._batches(self._subscribe())

    def _subscribe(self) -> UplinkSubscription:
        subscription = UplinkSubscription(SUBSCRIBER_QUEUE)
        self._subscribers.append(subscription)
        return subscription

    async def _batches(self, subscription: UplinkSubscription) -> AsyncIterator[list[ReceivedUplink]]:
        try:
            while True:
                yield await subscription.take()
        finally:
            self._subscribers.remove(subscription)

    async def _one_by_one(self, subscription: UplinkSubscription) -> AsyncIterator[ReceivedUplink]:
        try:
            while True:
                for uplink in await subscription.take():
                    yield uplink
        finally:
            self._subscribers.remove(subscription)

    async def _pump(self, link: ModuleLink) -> None:
        async for event in link.backend.events():
            self._last_event[link.board] = self.clock.monotonic()
            if self.module_up.get(link.board) is not True:
                self._module_answers(link.board)
            if isinstance(event, Malformed):
                self.malformed(event)
            else:
                self.handle(event, self.clock.monotonic())
                self._wake.set()

    async def _flush(self) -> None:
        while True:
            due = self.dedup.next_due()
            timeout = None if due is None else max(0.0, due - self.clock.monotonic())
            self._wake.clear()
            await wait_event(self._wake, timeout)
            self.emit_due(self.clock.monotonic())

    async def run(self) -> None:
        """Pump every module and emit merged uplinks until cancelled; then emit what is pending."""
        try:
            async with TaskGroup() as group:
                for link in self.links.values():
                    group.create_task(self._pump(link), name=f"lora-board-{link.board}")
                group.create_task(self._flush(), name="lora-dedup")
                group.create_task(self._watch(), name="lora-modules")
        finally:
            self.emit_due(float("inf"))

    async def check_modules(self) -> dict[int, str]:
        """Ask every module that has been quiet for ``quiet_probe_s`` who it is; returns the problems now."""
        now = self.clock.monotonic()
        for board, link in self.links.items():
            last = self._last_event.get(board)
            if last is not None and now - last < self.quiet_probe_s:
                continue
            try:
                await link.backend.gateway_id()
            except BackendError as exc:
                self.module_silent(board, str(exc))
            else:
                self._module_answers(board)
        return dict(self.module_problems)

    def on_module_state(self, listener: Callable[[int, bool, str], None]) -> Callable[[], None]:
        """Call ``listener(board, up, detail)`` when a module starts answering (up) or goes silent; returns a
        function that stops the calls. The first answer of each module after start is an "up" too."""
        self._module_listeners.append(listener)
        return lambda: self._module_listeners.remove(listener)

    def _module_answers(self, board: int) -> None:
        was = self.module_up.get(board)
        self.module_up[board] = True
        if self.module_problems.pop(board, None) is not None:
            log.info("board %d: its module answers again", board)
        if was is not True:
            self._tell_module_state(board, True, "module answers" if was is None else "module answers again")

    def module_silent(self, board: int, reason: str) -> None:
        """Board ``board``'s module does not answer (a failed probe, the simulated site's process gone)."""
        if board not in self.module_problems:
            log.warning("board %d: its module does not answer (%s); no uplinks from it", board, reason)
        problem = self.module_problems[board] = f"module does not answer: {reason}"
        if self.module_up.get(board) is not False:
            self.module_up[board] = False
            self._tell_module_state(board, False, problem)

    def _tell_module_state(self, board: int, up: bool, detail: str) -> None:
        for listener in list(self._module_listeners):
            try:
                listener(board, up, detail)
            except Exception:  # a listener's bug never stops the gateway's watch
                log.exception("board %d: a module state listener failed", board)

    async def _watch(self) -> None:
        started = self.clock.monotonic()
        for board in self.links:
            self._last_event.setdefault(board, started - self.quiet_probe_s)  # ask each one at start
        while True:
            await self.check_modules()
            await asyncio.sleep(self.quiet_probe_s)

    # remote configuration

    async def apply_plan(self, plan: ChannelPlan, *, version: str) -> None:
        """Split ``plan`` over the modules and hand each its share; nothing changes if it does not fit."""
        unknown = [b for b, link in self.links.items() if link.module is None]
        if unknown:
            raise PlanError(f"{plan.name}: the radios of board(s) {unknown} are not described; cannot place a plan")
        links = list(self.links.values())
        allocations = allocate(plan, [link.module for link in links if link.module is not None])
        failed = []
        for link, allocation in zip(links, allocations, strict=True):
            try:
                await link.backend.configure(allocation.channels, version=version)
            except BackendError as exc:
                failed.append(str(exc))
        if failed:
            raise BackendError(f"plan {version!r} not taken by every module: {'; '.join(failed)}")
        self.plan_version = version
        log.info("LoRa channel plan %s (%s) applied: %s", version, plan.name, ", ".join(
            f"board {a.module.board} {len(a.channels)} channels" for a in allocations))

    # downlinks

    def counters_now(self) -> dict[int, int]:
        """Each synced board's counter now, from its last uplink's host-time mapping."""
        host_us = int(self.clock.monotonic() * 1_000_000)
        return {b: tb.from_gateway(host_us) for b, tb in self.timebases.items() if tb.synced}

    def on_downlink(self, listener: Callable[[TxRequest, TxResult], None]) -> Callable[[], None]:
        """Call ``listener(request, result)`` after every downlink request, whatever its outcome (the traffic
        log, the dashboard); returns what stops it."""
        self._downlink_listeners.append(listener)
        return lambda: self._downlink_listeners.remove(listener)

    def _told(self, request: TxRequest, result: TxResult) -> TxResult:
        self.stats.module(result.board if result.board is not None else request.board or 0).tx_outcomes[
            result.outcome.value] += 1
        for listener in list(self._downlink_listeners):
            listener(request, result)
        return result

    async def send_downlink(self, request: TxRequest) -> TxResult:
        counters = self.counters_now()
        for board, count in counters.items():
            # the modules' own daemons hand packets to the chips; our queues only keep the air time booked
            self.links[board].jit.expire(count)
        result = self.scheduler.schedule(request, counters)
        if not result.ok or result.board is None:
            return self._told(request, result)
        link = self.links[result.board]
        self._downlink_id += 1
        power = request.power_dbm if result.power_dbm is None else result.power_dbm
        sent = replace(request, board=result.board, count_us=result.count_us, power_dbm=power)
        try:
            verdict = await link.backend.send_downlink(sent, gateway_id=self.gateway_id, downlink_id=self._downlink_id)
        except BackendError as exc:
            self._problem(str(exc))
            result = TxResult(TxOutcome.COLLISION_PACKET, result.board, detail=str(exc))
        else:
            if not verdict.ok:
                result = verdict
        return self._told(request, result)

    def _problem(self, message: str) -> None:
        if message not in self._problems:
            self._problems.add(message)
            log.warning("%s", message)
