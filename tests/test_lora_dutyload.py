"""Each module's duty-cycle load per regulated sub-band: airtime accepted for transmission over the rolling
hour against ETSI EN 300 220's limits, minute by minute, and as the traffic log reports it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wisgate.lora.core.dutyload import ETSI, WINDOW_S, DutyLoad, regulation_for
from wisgate.lora.core.traffic import TrafficLog
from wisgate.lora.core.types import LoraModulation, TxClass, TxOutcome, TxRequest, TxResult

T0 = 1_800_000_000.0  # a whole minute (epoch s)


def test_rx2_in_band_p_counts_against_ten_percent() -> None:
    load = DutyLoad()
    load.add(0, 869_525_000, 36.0, T0 + 5)  # 36 s of the 360 s band P allows an hour
    load.add(0, 869_525_000, 18.0, T0 + 65)
    [band] = load.summary(T0 + 70)["bands"]
    assert (band["board"], band["band"], band["limit"]) == (0, "P", 0.1)
    assert band["used_s"] == pytest.approx(54.0) and band["budget_s"] == pytest.approx(360.0)
    assert band["load"] == pytest.approx(0.15)
    assert band["series"][-2:] == [pytest.approx(0.1), pytest.approx(0.15)] and band["series"][0] == 0


def test_modules_and_bands_are_apart_and_unregulated_frequencies_are_not_counted() -> None:
    load = DutyLoad()
    load.add(0, 868_100_000, 0.36, T0)  # band M, 1 %: 1 % of its 36 s
    load.add(1, 868_100_000, 3.6, T0)  # another module in the same band: 10 %
    load.add(1, 867_100_000, 0.72, T0)  # band L, 1 %
    load.add(2, 2_403_000_000, 5.0, T0)  # 2.4 GHz: no duty cycle
    summary = load.summary(T0 + 1)
    assert summary["regulation"] == "ETSI EN 300 220" and summary["window_s"] == WINDOW_S
    loads = {(b["board"], b["band"]): b["load"] for b in summary["bands"]}
    assert loads == {(0, "M"): pytest.approx(0.01), (1, "L"): pytest.approx(0.02), (1, "M"): pytest.approx(0.1)}


def test_an_emission_leaves_the_window_after_an_hour() -> None:
    load = DutyLoad()
    load.add(0, 869_525_000, 36.0, T0)
    assert load.summary(T0 + WINDOW_S - 1)["bands"][0]["load"] == pytest.approx(0.1)
    # gone from the window, still in the series' first minutes until those leave the chart too
    later = load.summary(T0 + WINDOW_S)["bands"][0]
    assert later["used_s"] == 0 and later["series"][0] == pytest.approx(0.1) and later["series"][-1] == 0
    assert load.summary(T0 + 2 * WINDOW_S)["bands"] == []


def test_only_eu868_has_the_limits() -> None:
    assert regulation_for("EU868") is ETSI and regulation_for("EU868-16") is ETSI
    for region in ("US915-FSB1+2", "AU915", "IN865", "AS923", "KR920"):
        assert regulation_for(region) is None
    load = DutyLoad(regulation_for("IN865"))
    load.add(0, 865_062_500, 10.0, T0)  # band L's range, but India has no duty-cycle rule
    assert load.summary(T0) == {"regulation": None, "window_s": WINDOW_S, "bands": []}


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.floats(0, 3 * WINDOW_S), st.floats(0.001, 5.0)), max_size=60))
def test_the_load_is_the_airtime_of_the_last_sixty_minutes(emissions: list[tuple[int, float, float]]) -> None:
    load = DutyLoad()
    for board, offset, airtime in sorted(emissions, key=lambda e: e[1]):
        load.add(board, 869_525_000, airtime, T0 + offset)
    now = T0 + 3 * WINDOW_S
    last_minute = now // 60 * 60
    for band in load.summary(now)["bands"]:
        expected = sum(air for b, offset, air in emissions
                       if b == band["board"] and last_minute - WINDOW_S < (T0 + offset) // 60 * 60 <= last_minute)
        assert band["used_s"] == pytest.approx(expected, abs=1e-5)
        assert band["load"] == pytest.approx(expected / 360.0, abs=1e-5)


def test_the_traffic_log_counts_the_downlinks_a_module_accepted() -> None:
    log = TrafficLog()
    accept = TxRequest(bytes(17), 869_525_000, 27, LoraModulation(12, 125_000), TxClass.A, count_us=1, board=0)
    log.add_downlink(accept, TxResult(TxOutcome.OK, board=1), T0)
    log.add_downlink(accept, TxResult(TxOutcome.TOO_LATE, board=0), T0)  # never on air
    [band] = log.summary(T0 + 1)["duty_cycle"]["bands"]
    assert band["board"] == 1 and band["band"] == "P"  # the module that took it, not the one asked
    assert band["used_s"] == pytest.approx(accept.airtime_us() / 1e6)
