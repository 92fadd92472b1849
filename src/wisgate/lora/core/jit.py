"""Just-in-time TX queue of one concentrator module, with Semtech's rules (reference §1.5, §1.6).

Rules as in Lora-net/sx1302_hal ``jitqueue.c`` / ``lora_pkt_fwd.c``: a packet is handed to the
chip 40 ms before departure; it is TOO_LATE when departure − now ≤ 1.5 + 1 + 40 = 42.5 ms,
TOO_EARLY when more than 512 s ahead (class A/B), and collides with a queued packet when
[t − 41.5 ms, t + airtime] overlaps the other's span widened by a 1 ms margin (edges included).
Beacons reserve 3 s before and 2.12 s after, which class A/C downlinks may ignore. An immediate
(class C) packet leaves at now + 80 ms or in the first free gap. A full queue (32) is reported as
COLLISION_PACKET, a frequency outside the TX range as TX_FREQ, and a power missing from the gain
table falls back to the nearest lower entry with a TX_POWER warning.

Unlike the C code, every time comparison uses the *signed* 32-bit distance, so a packet that is
already late across a counter wrap reports TOO_LATE, not TOO_EARLY (packet_forwarder#47, #31).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from wisgate.lora.core.dutycycle import DutyCycleTracker
from wisgate.lora.core.timebase import COUNTER_MASK, BoardTimebase, counter_diff
from wisgate.lora.core.types import TxClass, TxOutcome, TxRequest, TxResult

TX_START_DELAY_US = 1_500
TX_MARGIN_DELAY_US = 1_000
TX_JIT_DELAY_US = 40_000
TOO_LATE_US = TX_START_DELAY_US + TX_MARGIN_DELAY_US + TX_JIT_DELAY_US  # 42.5 ms
TX_MAX_ADVANCE_US = (3 + 1) * 128_000_000  # three beacons queued ahead, plus one period
IMMEDIATE_DELAY_US = 2 * TX_JIT_DELAY_US  # 80 ms
BEACON_GUARD_US = 3_000_000
BEACON_RESERVED_US = 2_120_000
QUEUE_SIZE = 32


@dataclass(frozen=True, slots=True)
class QueuedTx:
    request: TxRequest
    count_us: int
    power_dbm: float
    pre_delay_us: int
    post_delay_us: int


def _collides(t1: int, pre1: int, post1: int, t2: int, pre2: int, post2: int) -> bool:
    d = counter_diff(t1, t2)
    return -(pre2 + post1 + TX_MARGIN_DELAY_US) <= d <= pre1 + post2 + TX_MARGIN_DELAY_US


def _delays(request: TxRequest) -> tuple[int, int]:
    if request.tx_class is TxClass.BEACON:
        return TX_START_DELAY_US + BEACON_GUARD_US + TX_JIT_DELAY_US, BEACON_RESERVED_US
    return TX_START_DELAY_US + TX_JIT_DELAY_US, request.airtime_us()


class JitQueue:
    """The TX queue of one module; ``now_us`` is always that module's 32-bit counter."""

    def __init__(
        self,
        *,
        board: int,
        tx_freq_min_hz: int,
        tx_freq_max_hz: int,
        power_lut: Sequence[float] = (),
        size: int = QUEUE_SIZE,
        duty_cycle: DutyCycleTracker | None = None,
    ) -> None:
        if tx_freq_min_hz > tx_freq_max_hz:
            raise ValueError(f"board {board}: tx_freq_min {tx_freq_min_hz} above tx_freq_max {tx_freq_max_hz}")
        self.board = board
        self.tx_freq_min_hz = tx_freq_min_hz
        self.tx_freq_max_hz = tx_freq_max_hz
        self.power_lut = sorted(power_lut)
        self.size = size
        self.duty_cycle = duty_cycle
        self.missed = 0
        self._timeline = BoardTimebase(board)
        self._queue: list[QueuedTx] = []

    def __len__(self) -> int:
        return len(self._queue)

    def can_transmit(self, frequency_hz: int) -> bool:
        return self.tx_freq_min_hz <= frequency_hz <= self.tx_freq_max_hz

    def enqueue(self, request: TxRequest, now_us: int) -> TxResult:
        """Check and queue one downlink; the result says OK (maybe with a TX_POWER warning) or why not."""
        now_us &= COUNTER_MASK
        self._timeline.extend(now_us)
        if not self.can_transmit(request.frequency_hz):
            return self._fail(
                TxOutcome.TX_FREQ,
                f"{request.frequency_hz} Hz outside TX range {self.tx_freq_min_hz}..{self.tx_freq_max_hz} Hz",
            )
        power, warning = self._match_power(request.power_dbm)
        if len(self._queue) >= self.size:
            return self._fail(TxOutcome.COLLISION_PACKET, f"JIT queue full ({self.size} packets)")
        self._sort(now_us)
        pre, post = _delays(request)
        if request.tx_class is TxClass.C:
            departure = self._first_gap(now_us, pre, post)
        elif request.count_us is None:
            return self._fail(TxOutcome.TOO_LATE, f"class {request.tx_class.value} downlink without a timestamp")
        else:
            departure = request.count_us & COUNTER_MASK
        ahead = counter_diff(departure, now_us)
        if ahead <= TOO_LATE_US:
            return self._fail(TxOutcome.TOO_LATE, f"departure {ahead} µs ahead, needs more than {TOO_LATE_US} µs")
        if request.tx_class in (TxClass.A, TxClass.B) and ahead > TX_MAX_ADVANCE_US:
            return self._fail(TxOutcome.TOO_EARLY, f"departure {ahead} µs ahead, at most {TX_MAX_ADVANCE_US} µs")
        for queued in self._queue:
            other_pre = queued.pre_delay_us
            if queued.request.tx_class is TxClass.BEACON and request.tx_class in (TxClass.A, TxClass.C):
                other_pre = TX_START_DELAY_US
            if _collides(departure, pre, post, queued.count_us, other_pre, queued.post_delay_us):
                outcome = (
                    TxOutcome.COLLISION_BEACON
                    if queued.request.tx_class is TxClass.BEACON
                    else TxOutcome.COLLISION_PACKET
                )
                return self._fail(outcome, f"overlaps the packet queued at count_us {queued.count_us}")
        if self.duty_cycle is not None and request.tx_class is not TxClass.BEACON:
            now64 = self._timeline.extend(now_us)
            band = self.duty_cycle.try_charge(request.frequency_hz, now64 + ahead, post, now_us=now64)
            if band is not None:
                return self._fail(TxOutcome.DUTY_CYCLE, f"sub-band {band.name} ({band.duty_cycle:.1%}) exhausted")
        self._queue.append(QueuedTx(request, departure, power, pre, post))
        return TxResult(TxOutcome.OK, self.board, departure, power, warning)

    def admit_unmapped(self, request: TxRequest) -> TxResult:
        """A class C downlink for a module whose counter we cannot place yet (it has sent no uplink since
        the gateway started): the checks that need no time (TX range, power table, queue size). The module
        books it on its own counter and checks it against its own queue (Concentratord keeps the duty
        cycle too); ours cannot book it, having no time for it, so its air time is not charged here."""
        if request.tx_class is not TxClass.C:
            raise ValueError(f"a class {request.tx_class.value} downlink needs the module's counter")
        if not self.can_transmit(request.frequency_hz):
            return self._fail(
                TxOutcome.TX_FREQ,
                f"{request.frequency_hz} Hz outside TX range {self.tx_freq_min_hz}..{self.tx_freq_max_hz} Hz",
            )
        if len(self._queue) >= self.size:
            return self._fail(TxOutcome.COLLISION_PACKET, f"JIT queue full ({self.size} packets)")
        power, warning = self._match_power(request.power_dbm)
        return TxResult(TxOutcome.OK, self.board, None, power, warning)

    def pop_due(self, now_us: int) -> list[QueuedTx]:
        """Packets to hand to the chip now (departure within the 40 ms lead); missed ones are dropped."""
        now_us &= COUNTER_MASK
        self._timeline.extend(now_us)
        due: list[QueuedTx] = []
        keep: list[QueuedTx] = []
        for queued in self._queue:
            ahead = counter_diff(queued.count_us, now_us)
            if ahead < 0:
                self.missed += 1
            elif ahead < TX_JIT_DELAY_US:
                due.append(queued)
            else:
                keep.append(queued)
        self._queue = keep
        due.sort(key=lambda q: counter_diff(q.count_us, now_us))
        return due

    def expire(self, now_us: int) -> int:
        """Forget packets already on air and finished (when the module, not us, hands them to the chip);
        returns how many went."""
        now_us &= COUNTER_MASK
        keep = [q for q in self._queue if counter_diff(q.count_us, now_us) + q.post_delay_us >= 0]
        gone = len(self._queue) - len(keep)
        self._queue = keep
        return gone

    def _sort(self, now_us: int) -> None:
        self._queue.sort(key=lambda q: counter_diff(q.count_us, now_us))

    def _first_gap(self, now_us: int, pre: int, post: int) -> int:
        """Semtech's ASAP rule: now + 80 ms if free, else right after a queued packet where it fits."""
        asap = (now_us + IMMEDIATE_DELAY_US) & COUNTER_MASK
        queue = self._queue
        if not any(_collides(asap, pre, post, q.count_us, q.pre_delay_us, q.post_delay_us) for q in queue):
            return asap
        for queued in queue:
            gap = queued.post_delay_us + pre + TX_JIT_DELAY_US + TX_MARGIN_DELAY_US
            candidate = (queued.count_us + gap) & COUNTER_MASK
            if counter_diff(candidate, asap) < 0:
                continue
            if not any(_collides(candidate, pre, post, q.count_us, q.pre_delay_us, q.post_delay_us) for q in queue):
                return candidate
        return asap  # unreachable: the slot after the last packet is always free

    def _match_power(self, requested: float) -> tuple[float, TxOutcome | None]:
        lut = self.power_lut
        if not lut or requested in lut:
            return requested, None
        index = bisect.bisect_right(lut, requested) - 1
        return lut[max(index, 0)], TxOutcome.TX_POWER

    def _fail(self, outcome: TxOutcome, detail: str) -> TxResult:
        return TxResult(outcome, self.board, detail=f"board {self.board}: {detail}")
