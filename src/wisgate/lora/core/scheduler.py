"""Gateway-wide TX scheduling over the modules' JIT queues (reference §9.2, §9.4).

A downlink goes to the module that heard the uplink when that module can transmit on the
frequency; otherwise, or when its queue refuses for a reason another module might not have
(collision, duty cycle, full queue), to another TX-capable module. Timestamped downlinks are
moved between boards through the boards' gateway-time mapping (:mod:`wisgate.lora.core.timebase`);
a board with no sync sample cannot take over a timestamped packet, but sends a class C one (the module
places it on its own counter). Time errors (TOO_LATE,
TOO_EARLY) are the same on every board and end the search.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from wisgate.lora.core.jit import JitQueue
from wisgate.lora.core.timebase import BoardTimebase, convert_counter
from wisgate.lora.core.types import TxClass, TxOutcome, TxRequest, TxResult

FINAL_OUTCOMES = frozenset({TxOutcome.TOO_LATE, TxOutcome.TOO_EARLY})


class TxScheduler:
    def __init__(self, queues: Sequence[JitQueue], timebases: Mapping[int, BoardTimebase] | None = None) -> None:
        self.queues = {queue.board: queue for queue in queues}
        if len(self.queues) != len(queues):
            raise ValueError("two JIT queues for the same board")
        self.timebases = dict(timebases or {})

    def candidates(self, request: TxRequest) -> list[JitQueue]:
        """Queues able to send on the frequency, the board that heard the uplink first."""
        able = [q for board, q in sorted(self.queues.items()) if q.can_transmit(request.frequency_hz)]
        able.sort(key=lambda q: q.board != request.board)
        return able

    def schedule(self, request: TxRequest, now_us: Mapping[int, int]) -> TxResult:
        """Queue ``request``; ``now_us`` maps each board to its current 32-bit counter."""
        candidates = self.candidates(request)
        if not candidates:
            return TxResult(
                TxOutcome.TX_FREQ, request.board, detail=f"no module transmits at {request.frequency_hz} Hz"
            )
        first_failure: TxResult | None = None
        for queue in candidates:
            moved = self._on_board(request, queue.board)
            now = now_us.get(queue.board)
            if moved is None or (now is None and moved.tx_class is not TxClass.C):
                continue
            # class C leaves on the module's own counter: a module not heard from yet can still send it
            result = queue.admit_unmapped(moved) if now is None else queue.enqueue(moved, now)
            if result.ok:
                return result
            first_failure = first_failure or result
            if result.outcome in FINAL_OUTCOMES:
                break
        if first_failure is None:
            return TxResult(
                TxOutcome.COLLISION_PACKET, request.board, detail="no TX-capable module has a common time base"
            )
        return first_failure

    def _on_board(self, request: TxRequest, board: int) -> TxRequest | None:
        if request.board is None or request.board == board or request.tx_class is TxClass.C:
            return replace(request, board=board)
        if request.count_us is None:
            return None
        source, target = self.timebases.get(request.board), self.timebases.get(board)
        if source is None or target is None or not (source.synced and target.synced):
            return None
        return replace(request, board=board, count_us=convert_counter(request.count_us, source, target))
