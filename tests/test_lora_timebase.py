"""32-bit board counters extended to 64 bits: wrap, late samples, gateway-time mapping."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wisgate.lora.core.timebase import COUNTER_MASK, BoardTime, BoardTimebase, convert_counter, counter_diff

WRAP = 1 << 32


def test_counter_diff_is_signed_and_wrap_safe() -> None:
    assert counter_diff(5, 3) == 2
    assert counter_diff(3, 5) == -2
    assert counter_diff(10, COUNTER_MASK - 9) == 20  # across the wrap
    assert counter_diff(COUNTER_MASK - 9, 10) == -20
    assert counter_diff(1 << 31, 0) == -(1 << 31)


def test_first_sample_is_the_epoch() -> None:
    tb = BoardTimebase(board=2)
    assert tb.extend(1234) == 1234
    assert tb.stamp(1300) == BoardTime(2, 1300)


def test_wrap_continues_the_timeline() -> None:
    tb = BoardTimebase(0)
    tb.extend(COUNTER_MASK - 100)
    assert tb.extend(50) == WRAP + 50
    assert tb.extend(1 << 31) == WRAP + (1 << 31)
    assert tb.extend(COUNTER_MASK) == 2 * WRAP - 1  # later in the same lap
    assert tb.extend(7) == 2 * WRAP + 7  # the second wrap


def test_late_sample_after_the_wrap_stays_before_it() -> None:
    tb = BoardTimebase(0)
    tb.extend(COUNTER_MASK - 1000)
    tb.extend(500)  # wrapped
    # an uplink from the other thread, stamped before the wrap, arrives late
    assert tb.extend(COUNTER_MASK - 10) == WRAP - 11
    assert tb.latest == WRAP + 500  # a late sample does not move the timeline back


def test_board_time_gives_back_the_raw_counter() -> None:
    tb = BoardTimebase(1)
    tb.extend(COUNTER_MASK - 5)
    t = tb.stamp(20)
    assert t.us == WRAP + 20
    assert t.count_us == 20
    assert tb.to_counter(t.us + 1_000_000) == 1_000_020


def test_rejects_values_that_are_not_32_bit() -> None:
    with pytest.raises(ValueError, match="board 3"):
        BoardTimebase(3).extend(WRAP)


def test_gateway_mapping_and_cross_board_conversion() -> None:
    a, b = BoardTimebase(0), BoardTimebase(1)
    a.sync(count_us=1_000, host_us=50_000_000)
    b.sync(count_us=COUNTER_MASK - 999, host_us=50_000_000)  # b is about to wrap
    assert a.to_gateway(2_000) == 50_001_000
    assert b.from_gateway(50_001_000) == 0  # 1000 µs later b has wrapped to exactly 0
    assert convert_counter(1_000_000, a, b) == (COUNTER_MASK - 999 + 999_000) & COUNTER_MASK
    assert convert_counter(77, a, a) == 77


def test_mapping_needs_a_sync_sample() -> None:
    with pytest.raises(LookupError, match="board 4"):
        BoardTimebase(4).to_gateway(0)


def test_reset_starts_a_new_epoch() -> None:
    tb = BoardTimebase(0)
    tb.extend(COUNTER_MASK)
    tb.extend(10)
    tb.reset()
    assert tb.extend(3) == 3


@given(st.integers(0, COUNTER_MASK), st.lists(st.integers(0, (1 << 31) - 1), max_size=50))
def test_monotonic_steps_extend_exactly(start: int, steps: list[int]) -> None:
    tb = BoardTimebase(0)
    true_time = start
    assert tb.extend(start) == start
    for step in steps:
        true_time += step
        assert tb.extend(true_time & COUNTER_MASK) == true_time


def _drifting(ppm: float, start: int = 4_000_000_000) -> Callable[[int], int]:
    """A board counter running ``ppm`` fast against host µs, starting near the wrap."""
    return lambda host_us: (start + host_us + round(host_us * ppm * 1e-6)) & COUNTER_MASK


def test_the_drift_rate_places_a_time_long_after_the_last_uplink() -> None:
    board_at = _drifting(25.0)
    timebase = BoardTimebase(0)
    for k in range(400):  # an uplink every 1.5 s for 10 minutes
        timebase.sync(board_at(k * 1_500_000), k * 1_500_000)
    last = 399 * 1_500_000
    assert timebase.drift_ppm is not None and abs(timebase.drift_ppm - 25.0) < 0.01
    later = last + 60_000_000  # a minute without an uplink: 1.5 ms of drift at 25 ppm
    assert abs(counter_diff(timebase.from_gateway(later), board_at(later))) <= 2
    assert abs(timebase.to_gateway(board_at(later)) - later) <= 2
    assert timebase.extended_at(later) & COUNTER_MASK == timebase.from_gateway(later)


def test_the_drift_estimate_averages_polling_jitter_and_waits_for_a_long_enough_span() -> None:
    rng = random.Random(5)
    board_at = _drifting(-12.0)
    timebase = BoardTimebase(1)
    host = 0
    while host < 50_000_000:  # under a minute of samples: jitter would swamp the slope
        timebase.sync(board_at(host), host + rng.randrange(0, 4_000))  # handled 0-4 ms after reception
        host += rng.randrange(200_000, 3_000_000)
    assert timebase.drift_ppm is None
    while host < 900_000_000:
        timebase.sync(board_at(host), host + rng.randrange(0, 4_000))
        host += rng.randrange(200_000, 3_000_000)
    assert timebase.drift_ppm is not None and abs(timebase.drift_ppm + 12.0) < 1.0


def test_a_counter_that_jumps_is_not_taken_for_drift() -> None:
    timebase = BoardTimebase(0)
    for k in range(100):
        timebase.sync(_drifting(5.0)(k * 1_000_000), k * 1_000_000)
    assert timebase.drift_ppm is not None
    for k in range(100, 200):  # the module restarted: its counter began again elsewhere
        timebase.sync(_drifting(5.0, start=7)(k * 1_000_000), k * 1_000_000)
    assert timebase.drift_ppm is None  # hundreds of ppm "drift" is refused: the plain mapping again
    timebase.sync(_drifting(5.0, start=7)(10), 5)  # host time went back (a new clock): the estimate restarts
    assert timebase.drift_ppm is None
