"""JIT queue boundaries (Semtech rules, wrap-safe), duty cycle and the module-choosing scheduler."""

from __future__ import annotations

import pytest

from wisgate.lora.core.dutycycle import ETSI_EN_300_220, DutyCycleTracker
from wisgate.lora.core.jit import (
    BEACON_GUARD_US,
    BEACON_RESERVED_US,
    IMMEDIATE_DELAY_US,
    TX_JIT_DELAY_US,
    TX_MAX_ADVANCE_US,
    JitQueue,
)
from wisgate.lora.core.scheduler import TxScheduler
from wisgate.lora.core.timebase import COUNTER_MASK, BoardTimebase
from wisgate.lora.core.types import LoraModulation, TxClass, TxOutcome, TxRequest

EU_RX1 = 868_100_000
SF7 = LoraModulation(7, 125_000)
PAYLOAD = bytes(12)
AIR = TxRequest(PAYLOAD, EU_RX1, 14, SF7).airtime_us()  # 41.216 ms without CRC
PRE = 41_500
MARGIN = 1_000


def queue(**kwargs: object) -> JitQueue:
    options: dict[str, object] = {"board": 0, "tx_freq_min_hz": 863_000_000, "tx_freq_max_hz": 870_000_000}
    options.update(kwargs)
    return JitQueue(**options)  # type: ignore[arg-type]


def req(count_us: int | None, tx_class: TxClass = TxClass.A, **kwargs: object) -> TxRequest:
    options: dict[str, object] = {"payload": PAYLOAD, "frequency_hz": EU_RX1, "power_dbm": 14, "modulation": SF7}
    options.update(kwargs)
    return TxRequest(tx_class=tx_class, count_us=count_us, **options)  # type: ignore[arg-type]


def test_airtime_of_a_downlink_has_no_crc() -> None:
    assert AIR == 41_216


@pytest.mark.parametrize(("ahead", "outcome"), [(42_500, TxOutcome.TOO_LATE), (42_501, TxOutcome.OK)])
def test_too_late_boundary(ahead: int, outcome: TxOutcome) -> None:
    assert queue().enqueue(req(1_000_000 + ahead), now_us=1_000_000).outcome is outcome


@pytest.mark.parametrize(
    ("ahead", "tx_class", "outcome"),
    [
        (TX_MAX_ADVANCE_US, TxClass.A, TxOutcome.OK),
        (TX_MAX_ADVANCE_US + 1, TxClass.A, TxOutcome.TOO_EARLY),
        (TX_MAX_ADVANCE_US + 1, TxClass.B, TxOutcome.TOO_EARLY),
        (TX_MAX_ADVANCE_US + 1, TxClass.BEACON, TxOutcome.OK),  # beacons are not checked
    ],
)
def test_too_early_boundary(ahead: int, tx_class: TxClass, outcome: TxOutcome) -> None:
    assert TX_MAX_ADVANCE_US == 512_000_000
    assert queue().enqueue(req(ahead, tx_class), now_us=0).outcome is outcome


def test_wrap_between_now_and_departure() -> None:
    now = COUNTER_MASK - 10_000
    departure = (now + 1_000_000) & COUNTER_MASK
    result = queue().enqueue(req(departure), now_us=now)
    assert result.ok and result.count_us == departure == 989_999


def test_late_packet_across_the_wrap_is_too_late_not_too_early() -> None:
    # departure was 10 ms ago, just before the wrap; Semtech's unsigned maths says TOO_EARLY
    result = queue().enqueue(req(COUNTER_MASK - 4_999), now_us=5_000)
    assert result.outcome is TxOutcome.TOO_LATE
    assert "board 0" in result.detail


def test_collision_edges_after_and_before() -> None:
    t0 = 10_000_000
    q = queue()
    assert q.enqueue(req(t0), now_us=0).ok
    after = PRE + AIR + MARGIN  # new pre-delay + queued airtime + margin
    assert q.enqueue(req(t0 + after), now_us=0).outcome is TxOutcome.COLLISION_PACKET
    assert q.enqueue(req(t0 - after), now_us=0).outcome is TxOutcome.COLLISION_PACKET  # symmetric sizes
    assert q.enqueue(req(t0 + after + 1), now_us=0).ok
    assert q.enqueue(req(t0 - after - 1), now_us=0).ok
    assert len(q) == 3


def test_collision_edge_across_the_wrap() -> None:
    q = queue()
    now = COUNTER_MASK - 500_000
    first = (now + 400_000) & COUNTER_MASK
    assert q.enqueue(req(first), now_us=now).ok
    edge = (first + PRE + AIR + MARGIN) & COUNTER_MASK  # lands after the wrap
    assert q.enqueue(req(edge), now_us=now).outcome is TxOutcome.COLLISION_PACKET
    assert q.enqueue(req((edge + 1) & COUNTER_MASK), now_us=now).ok


def test_beacon_guard_applies_to_class_b_only() -> None:
    q = queue()
    beacon_at = 100_000_000
    assert q.enqueue(req(beacon_at, TxClass.BEACON), now_us=0).ok
    # 2 s before the beacon: inside its 3 s guard, but class A ignores the guard
    assert q.enqueue(req(beacon_at - 2_000_000, TxClass.A), now_us=0).ok
    b = q.enqueue(req(beacon_at - 1_000_000, TxClass.B), now_us=0)
    assert b.outcome is TxOutcome.COLLISION_BEACON
    # the beacon's own 2.12 s reservation after it holds for everyone
    assert q.enqueue(req(beacon_at + BEACON_RESERVED_US, TxClass.A), now_us=0).outcome is TxOutcome.COLLISION_BEACON
    assert BEACON_GUARD_US == 3_000_000


def test_immediate_goes_at_now_plus_80_ms_or_first_free_gap() -> None:
    q = queue()
    now = 5_000_000
    first = q.enqueue(req(None, TxClass.C), now_us=now)
    assert first.ok and first.count_us == now + IMMEDIATE_DELAY_US
    second = q.enqueue(req(None, TxClass.C), now_us=now)
    assert second.count_us == now + IMMEDIATE_DELAY_US + AIR + PRE + TX_JIT_DELAY_US + MARGIN
    # the gap between two queued packets is used when wide enough
    q2 = queue()
    q2.enqueue(req(now + 85_000), now_us=now)
    q2.enqueue(req(now + 1_000_000), now_us=now)
    gap = q2.enqueue(req(None, TxClass.C), now_us=now)
    assert gap.count_us == now + 85_000 + AIR + PRE + TX_JIT_DELAY_US + MARGIN


def test_full_queue_reports_collision_packet() -> None:
    q = queue(size=32)
    for i in range(32):
        assert q.enqueue(req(1_000_000 + i * 200_000), now_us=0).ok
    full = q.enqueue(req(900_000_000 % (1 << 32)), now_us=0)
    assert full.outcome is TxOutcome.COLLISION_PACKET and "full" in full.detail


def test_tx_freq_range() -> None:
    q = queue(tx_freq_min_hz=863_000_000, tx_freq_max_hz=870_000_000)
    assert q.enqueue(req(1_000_000, frequency_hz=870_000_001), now_us=0).outcome is TxOutcome.TX_FREQ
    assert q.enqueue(req(1_000_000, frequency_hz=870_000_000), now_us=0).ok


def test_tx_power_falls_back_to_the_nearest_lower_lut_entry() -> None:
    q = queue(power_lut=[12, 14, 16, 20, 27])
    exact = q.enqueue(req(1_000_000, power_dbm=16), now_us=0)
    assert exact.power_dbm == 16 and exact.warning is None
    lower = q.enqueue(req(2_000_000, power_dbm=19), now_us=0)
    assert lower.ok and lower.power_dbm == 16 and lower.warning is TxOutcome.TX_POWER
    below_all = q.enqueue(req(3_000_000, power_dbm=2), now_us=0)
    assert below_all.power_dbm == 12 and below_all.warning is TxOutcome.TX_POWER


def test_pop_due_hands_over_40_ms_ahead_and_drops_missed() -> None:
    q = queue()
    q.enqueue(req(1_000_000), now_us=0)
    q.enqueue(req(2_000_000), now_us=0)
    assert q.pop_due(1_000_000 - TX_JIT_DELAY_US) == []
    (due,) = q.pop_due(1_000_000 - TX_JIT_DELAY_US + 1)
    assert due.count_us == 1_000_000
    assert q.pop_due(2_000_001) == []  # the poller slept past it
    assert q.missed == 1 and len(q) == 0


def test_duty_cycle_one_percent_band_over_a_rolling_hour() -> None:
    tracker = DutyCycleTracker()
    q = queue(duty_cycle=tracker)
    band_m = tracker.band_for(EU_RX1)
    assert band_m is not None and band_m.name == "M" and band_m.budget_us() == 36_000_000
    slow = LoraModulation(12, 125_000)
    air = req(0, modulation=slow, payload=bytes(51)).airtime_us()  # ~2.3 s
    fits = 36_000_000 // air
    t = 1_000_000
    for _ in range(fits):
        assert q.enqueue(req(t, modulation=slow, payload=bytes(51)), now_us=t - 500_000).ok
        q.pop_due(t)
        t += 10_000_000
    refused = q.enqueue(req(t, modulation=slow, payload=bytes(51)), now_us=t - 500_000)
    assert refused.outcome is TxOutcome.DUTY_CYCLE and "sub-band M" in refused.detail
    # RX2 at 869.525 MHz is band P (10 %): still allowed
    assert q.enqueue(req(t, modulation=slow, payload=bytes(51), frequency_hz=869_525_000), now_us=t - 500_000).ok


def test_duty_cycle_budget_returns_after_an_hour() -> None:
    tracker = DutyCycleTracker()
    band_k = ETSI_EN_300_220[0]
    assert band_k.name == "K" and band_k.budget_us() == 3_600_000
    assert tracker.try_charge(863_500_000, 0, 3_600_000, now_us=0) is None
    assert tracker.try_charge(863_500_000, 10_000_000, 1, now_us=10_000_000) is band_k
    hour = 3_600_000_000
    assert tracker.try_charge(863_500_000, hour + 3_600_000, 1000, now_us=hour + 3_600_000) is None


def test_duty_cycle_checks_later_windows_too() -> None:
    tracker = DutyCycleTracker()
    hour = 3_600_000_000
    # two queued emissions 50 min apart fill band K's budget in the hour that ends at the second
    assert tracker.try_charge(863_500_000, hour, 1_800_000, now_us=0) is None
    assert tracker.try_charge(863_500_000, hour + 3_000_000_000, 1_800_000, now_us=0) is None
    # one placed before both still fits its own window but would overflow the later one
    assert tracker.try_charge(863_500_000, hour - 100_000_000, 10_000, now_us=0) is not None
    assert tracker.try_charge(863_500_000, hour - 2_000_000_000, 10_000, now_us=0) is None


def _two_boards(*, tx_on_1: bool = True) -> tuple[JitQueue, JitQueue]:
    q0 = JitQueue(board=0, tx_freq_min_hz=902_000_000, tx_freq_max_hz=915_000_000)  # front-end cannot reach 923
    if tx_on_1:
        return q0, JitQueue(board=1, tx_freq_min_hz=923_000_000, tx_freq_max_hz=928_000_000)
    return q0, JitQueue(board=1, tx_freq_min_hz=902_000_000, tx_freq_max_hz=915_000_000)


def test_scheduler_prefers_the_board_that_heard() -> None:
    a = JitQueue(board=0, tx_freq_min_hz=863_000_000, tx_freq_max_hz=870_000_000)
    b = JitQueue(board=1, tx_freq_min_hz=863_000_000, tx_freq_max_hz=870_000_000)
    sched = TxScheduler([a, b])
    result = sched.schedule(req(1_000_000, board=1), now_us={0: 0, 1: 0})
    assert result.ok and result.board == 1 and len(b) == 1 and len(a) == 0


def test_scheduler_moves_to_a_board_that_can_transmit_with_counter_conversion() -> None:
    q0, q1 = _two_boards()
    tb0, tb1 = BoardTimebase(0), BoardTimebase(1)
    tb0.sync(count_us=1_000_000, host_us=0)
    tb1.sync(count_us=COUNTER_MASK - 99_999, host_us=0)  # board 1 wraps 100 ms later
    sched = TxScheduler([q0, q1], {0: tb0, 1: tb1})
    us_rx1 = 923_300_000
    result = sched.schedule(
        req(2_000_000, board=0, frequency_hz=us_rx1), now_us={0: 1_000_000, 1: COUNTER_MASK - 99_999}
    )
    assert result.ok and result.board == 1
    assert result.count_us == 900_000  # 1 s after the sync point, on board 1's wrapped counter


def test_scheduler_falls_back_on_collision_and_stops_on_too_late() -> None:
    a = JitQueue(board=0, tx_freq_min_hz=863_000_000, tx_freq_max_hz=870_000_000)
    b = JitQueue(board=1, tx_freq_min_hz=863_000_000, tx_freq_max_hz=870_000_000)
    tb = {0: BoardTimebase(0), 1: BoardTimebase(1)}
    tb[0].sync(0, 0)
    tb[1].sync(0, 0)
    sched = TxScheduler([a, b], tb)
    assert sched.schedule(req(1_000_000, board=0), now_us={0: 0, 1: 0}).board == 0
    moved = sched.schedule(req(1_000_000, board=0), now_us={0: 0, 1: 0})
    assert moved.ok and moved.board == 1
    late = sched.schedule(req(10_000, board=0), now_us={0: 0, 1: 0})
    assert late.outcome is TxOutcome.TOO_LATE and late.board == 0


def test_scheduler_without_a_capable_module() -> None:
    q0, q1 = _two_boards(tx_on_1=False)
    result = TxScheduler([q0, q1]).schedule(req(1_000_000, frequency_hz=923_300_000), now_us={0: 0, 1: 0})
    assert result.outcome is TxOutcome.TX_FREQ and "923300000" in result.detail


def test_scheduler_needs_a_common_time_base_to_move_timestamped_packets() -> None:
    q0, q1 = _two_boards()
    result = TxScheduler([q0, q1]).schedule(req(1_000_000, board=0, frequency_hz=923_300_000), now_us={0: 0, 1: 0})
    assert not result.ok and "common time base" in result.detail
    immediate = TxScheduler([q0, q1]).schedule(
        req(None, TxClass.C, board=0, frequency_hz=923_300_000), now_us={0: 0, 1: 0}
    )
    assert immediate.ok and immediate.board == 1


def test_a_module_not_heard_from_yet_sends_class_c_but_no_timestamped_packet() -> None:
    """No uplink from board 1 yet (no counter value for it): a class C downlink needs none (the module
    places it on its own counter); a timestamped one cannot be placed."""
    q0, q1 = _two_boards()
    scheduler = TxScheduler([q0, q1])
    immediate = scheduler.schedule(req(None, TxClass.C, board=0, frequency_hz=923_300_000), now_us={0: 0})
    assert immediate.ok and immediate.board == 1 and immediate.count_us is None and len(q1) == 0
    timed = scheduler.schedule(req(1_000_000, board=1, frequency_hz=923_300_000), now_us={0: 0})
    assert not timed.ok and "common time base" in timed.detail
    # the checks that need no time still hold
    assert scheduler.schedule(req(None, TxClass.C, frequency_hz=700_000_000), now_us={}).outcome is TxOutcome.TX_FREQ
    full = queue(size=1)
    assert full.enqueue(req(1_000_000), now_us=0).ok
    assert full.admit_unmapped(req(None, TxClass.C)).outcome is TxOutcome.COLLISION_PACKET
    with pytest.raises(ValueError, match="class A downlink needs the module's counter"):
        full.admit_unmapped(req(1_000_000))


def test_expire_forgets_packets_only_once_they_have_left_the_air() -> None:
    q = queue()
    request = req(1_000_000)
    assert q.enqueue(request, 0).ok
    airtime = request.airtime_us()
    assert q.expire(1_000_000 + airtime - 1) == 0 and len(q) == 1  # still on air: keeps its slot
    assert q.expire(1_000_000 + airtime + 1) == 1 and len(q) == 0
    # across the counter wrap too
    assert q.enqueue(req(50_000), COUNTER_MASK - 100_000).ok
    assert q.expire(COUNTER_MASK) == 0 and q.expire(60_000 + airtime) == 1


@pytest.mark.parametrize(("region", "limited"), [("EU868-16", True), ("EU868", True), ("US915", False)])
def test_the_running_gateway_keeps_the_duty_cycle_where_the_region_has_one(region: str, limited: bool) -> None:
    from wisgate.lora.plans.allocation import Module
    from wisgate.services.lora import module_jit

    low, high = (863_000_000, 870_000_000) if region.startswith("EU") else (902_000_000, 928_000_000)
    q = module_jit(Module(0, band_min_hz=low, band_max_hz=high, tx_freq_min_hz=low, tx_freq_max_hz=high), region)
    frequency = EU_RX1 if limited else 923_300_000
    slow = LoraModulation(12, 125_000)
    air = req(0, modulation=slow, payload=bytes(51), frequency_hz=frequency).airtime_us()
    t, outcomes = 1_000_000, []
    for _ in range(36_000_000 // air + 1):  # one more than band M's 1 % of an hour holds
        outcomes.append(q.enqueue(req(t, modulation=slow, payload=bytes(51), frequency_hz=frequency),
                                  now_us=t - 500_000).outcome)
        q.pop_due(t)
        t += 10_000_000
    assert (outcomes[-1] is TxOutcome.DUTY_CYCLE) is limited
    assert all(o is TxOutcome.OK for o in outcomes[:-1])
