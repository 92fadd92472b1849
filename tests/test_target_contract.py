"""Every target keeps the same contract: one suite run against each backend (like gpiozero's real-pin tests).

The simulated target always runs; the hardware target runs only on a board (``/dev/i2c-1`` and a
``/dev/gpiochip*`` present) and is skipped elsewhere, saying which device is missing.
"""

from __future__ import annotations

import glob
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from wisgate.board.rak7391 import ONBOARD_ADDRESSES
from wisgate.clock import RealtimeSimClock, SimClock
from wisgate.hardware import HardwareTarget
from wisgate.sim.board import SimBoard
from wisgate.sim.chips.tpt29555 import TPT29555Model
from wisgate.sim.target import SimTarget
from wisgate.target import LineInUseError, Target, open_target

HARDWARE_BUS = "/dev/i2c-1"
#: a line every backend has and no kernel driver claims on RAKPiOS (the buzzer), opened as an input
LINE = "GPIO13"


def hardware_missing() -> str | None:
    missing = [d for d, there in ((HARDWARE_BUS, Path(HARDWARE_BUS).exists()),
                                  ("/dev/gpiochip*", bool(glob.glob("/dev/gpiochip*")))) if not there]
    return f"no RAK7391 here: {' and '.join(missing)} absent" if missing else None


@pytest.fixture(params=["sim", "hardware"])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    if request.param == "hardware":
        reason = hardware_missing()
        if reason:
            pytest.skip(reason)
        opened: Target = HardwareTarget(HARDWARE_BUS)
    else:
        opened = open_target("sim")
        assert isinstance(opened, SimTarget)
    try:
        yield opened
    finally:
        opened.close()


# -- lines -----------------------------------------------------------------------------------------


def test_same_owner_gets_the_same_line(target: Target) -> None:
    first = target.line(LINE, owner="alpha")
    assert target.line(LINE, owner="alpha") is first
    assert target.line_owner(LINE) == "alpha"
    assert isinstance(first.read(), bool)


def test_another_owner_is_told_who_holds_the_line(target: Target) -> None:
    target.line(LINE, owner="alpha")
    with pytest.raises(LineInUseError, match=rf"line {LINE} is in use by alpha \(asked for by beta\)"):
        target.line(LINE, owner="beta")
    assert target.line_owner(LINE) == "alpha"


def test_released_line_can_be_taken_again(target: Target) -> None:
    target.line(LINE, owner="alpha")
    target.release_line(LINE, "beta")  # not the holder: nothing happens
    assert target.line_owner(LINE) == "alpha"
    target.release_line(LINE, "alpha")
    assert target.line_owner(LINE) is None
    again = target.line(LINE, owner="beta")
    assert target.line_owner(LINE) == "beta" and isinstance(again.read(), bool)


def test_power_fail_input_is_reserved_for_its_owner(target: Target) -> None:
    line = target.power_fail_input(owner="power")
    assert line.read() is True  # the supply is present while the tests run
    with pytest.raises(LineInUseError, match="in use by power"):
        target.power_fail_input(owner="someone else")


# -- devices ---------------------------------------------------------------------------------------


def test_bus_scan_finds_the_onboard_devices(target: Target) -> None:
    found = set(target.bus.scan())
    # chips a kernel driver owns answer through the driver, not a raw probe; the secure element sleeps
    # until woken (a wake pulse), so a probe does not find it
    expected = {a for n, a in ONBOARD_ADDRESSES.items()
                if n != "secure_element" and target.bus.bound_driver(a) is None}
    assert expected, "every onboard device is bound to a kernel driver: nothing to scan for"
    assert expected <= found, f"missing {sorted(hex(a) for a in expected - found)}"


def test_cpu_temperature_is_plausible(target: Target) -> None:
    celsius = target.cpu_temperature().read_celsius()
    assert isinstance(celsius, float) and -40.0 <= celsius <= 110.0


def test_rtc_reads_a_time_that_moves_with_the_clock(target: Target) -> None:
    rtc = target.rtc()
    before = rtc.read_time()
    assert isinstance(before, datetime) and before.year >= 2000
    target.clock.sleep(2.2)  # the simulated clock jumps; the real one waits
    elapsed = (rtc.read_time() - before).total_seconds()
    assert 1.0 <= elapsed <= 4.0


@pytest.mark.parametrize("name", ["expander1", "expander2"])
def test_expander_reads_its_pins(target: Target, name: str) -> None:
    expander = target.expander(name)
    pins = expander.read_pins()
    assert 0 <= pins <= 0xFFFF
    assert [expander.read_pin(p) for p in range(16)] == [bool(pins >> p & 1) for p in range(16)]


def test_sim_expander_reads_what_the_pins_carry() -> None:
    target = SimTarget(SimBoard())
    try:
        model = target.board.models["expander2"]
        assert isinstance(model, TPT29555Model)
        expander = target.expander("expander2")
        assert not expander.is_output(5)
        model.set_input(5, False)
        assert not expander.read_pin(5) and not expander.read_pins() >> 5 & 1
        model.set_input(5, True)
        assert expander.read_pin(5) and expander.read_pins() >> 5 & 1
    finally:
        target.close()


# -- the clock -------------------------------------------------------------------------------------


def test_clock_never_goes_backwards(target: Target) -> None:
    clock = target.clock
    seen = [clock.monotonic()]
    for _ in range(50):
        clock.sleep(0.001)
        seen.append(clock.monotonic())
        seen.append(clock.monotonic())
    assert seen == sorted(seen) and seen[-1] >= seen[0] + 0.05


def test_reading_the_simulated_clock_has_no_side_effect() -> None:
    target = SimTarget(SimBoard())
    try:
        assert type(target.clock) is SimClock
        t0 = target.clock.monotonic()
        time.sleep(0.02)
        assert target.clock.monotonic() == t0
        target.clock.advance(0.5)
        assert target.clock.monotonic() == t0 + 0.5
    finally:
        target.close()


def test_realtime_clock_moves_only_on_sync() -> None:
    target = open_target("sim", realtime=True)
    try:
        clock = target.clock
        assert isinstance(clock, RealtimeSimClock)
        clock.sync()
        t0 = clock.monotonic()
        time.sleep(0.05)
        assert clock.monotonic() == t0  # reading alone runs no simulation
        clock.sync()
        t1 = clock.monotonic()
        assert t1 >= t0 + 0.05
        clock.advance(10.0)  # a fast-forward still counts, and later syncs keep it
        assert clock.monotonic() >= t1 + 10.0
        t2 = clock.monotonic()
        clock.sync()
        assert clock.monotonic() >= t2
    finally:
        target.close()


# -- must and may ----------------------------------------------------------------------------------


def test_a_target_missing_a_must_method_cannot_be_made() -> None:
    class Bare(Target):
        @property
        def description(self) -> str:
            return "bare"

    assert {"cpu_temperature", "power_fail_input", "concentrators", "_open_line"} <= set(Target.__abstractmethods__)
    with pytest.raises(TypeError, match="abstract"):
        Bare()  # type: ignore[abstract]


def test_rtc_and_expanders_default_to_the_drivers_over_the_targets_own_bus() -> None:
    from wisgate.chips.pcf85063a import PCF85063A
    from wisgate.chips.tpt29555 import TPT29555

    assert not {"rtc", "expander"} & set(Target.__abstractmethods__)
    board = SimBoard()
    # a hardware target over a bus no kernel driver claims gets the same raw drivers as the simulated one
    for target in (SimTarget(board), HardwareTarget(SimBoard().bus)):
        try:
            rtc, expander = target.rtc(), target.expander("expander1")
            assert isinstance(rtc, PCF85063A) and isinstance(expander, TPT29555)
            assert rtc.bus is target.bus and expander.bus is target.bus
            assert rtc.address == target.addresses["rtc"] and expander.address == target.addresses["expander1"]
        finally:
            target.close()


def test_may_defaults_say_the_target_has_no_such_thing(tmp_path: Path) -> None:
    hardware = HardwareTarget(SimBoard().bus)  # the hardware target's defaults, over a bus that answers
    try:
        assert hardware.supply_powered() is None and hardware.runs_shutdown and not hardware.creates_missing_keys
        assert hardware.save_display(tmp_path / "oled.png") is False and hardware.display_path() is None
    finally:
        hardware.close()
    sim = SimTarget(SimBoard())
    try:
        powered = sim.supply_powered()
        assert powered is not None and powered()
        sim.board.env.supply.cut()
        sim.board.advance(60)  # past the ultracapacitors' hold-up
        assert not powered()
        assert not sim.runs_shutdown and sim.creates_missing_keys
        assert sim.save_display(tmp_path / "oled.png") and (tmp_path / "oled.png").stat().st_size > 0
    finally:
        sim.close()
