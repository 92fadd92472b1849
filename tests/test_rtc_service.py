"""The daemon's RTC service: datasheet set-up (time valid, CLKOUT off) and the countdown watchdog."""

from __future__ import annotations

import asyncio
from datetime import datetime

from wisgate.chips.pcf85063a import PCF85063A, ClkoutFrequency
from wisgate.services.rtc import _watchdog_setting, prepare, rtc_service
from wisgate.services.supervisor import Supervisor
from wisgate.sim.board import SimBoard
from wisgate.sim.target import SimTarget


def test_prepare_sets_a_stopped_clock_and_switches_clkout_off() -> None:
    board = SimBoard(rtc_time=None)  # fresh chip: OS set, CLKOUT at 32768 Hz
    rtc = PCF85063A(board.bus, clock=board.clock)
    assert rtc.oscillator_stopped() and rtc.clkout() is ClkoutFrequency.HZ_32768
    done = prepare(rtc, datetime(2026, 11, 25, 12, 0, 0))
    assert len(done) == 2 and "CLKOUT switched off" in done[1]
    assert not rtc.oscillator_stopped()
    assert rtc.read_time() == datetime(2026, 11, 25, 12, 0, 0)
    assert rtc.clkout() is ClkoutFrequency.OFF
    assert prepare(rtc, datetime(2030, 1, 1)) == []  # nothing left to do, time kept


def test_watchdog_ranges() -> None:
    assert _watchdog_setting(30)[0] == 30
    value, source = _watchdog_setting(600)
    assert value == 10 and source.name == "HZ_1_60"


def test_watchdog_is_rearmed_while_running_and_stopped_on_a_clean_exit() -> None:
    board = SimBoard(realtime=True)
    int_line = board.lines.line("rtc.INT")
    target = SimTarget(board)
    supervisor = Supervisor(target)
    supervisor.add("rtc", rtc_service(1.0))

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(2.5, stop.set)
        await supervisor.run(stop)

    asyncio.run(main())
    assert int_line.read() is True  # re-armed every 1/3 s: never expired
    assert not any(level is False for _, level in int_line.history)
    board.advance(10)
    assert int_line.read() is True  # stopped on exit: no reset after a clean stop


def test_a_hung_daemon_lets_the_timer_expire() -> None:
    board = SimBoard()
    rtc = PCF85063A(board.bus, clock=board.clock)
    value, source = _watchdog_setting(5)
    rtc.set_timer(value, source, interrupt=True)
    board.advance(4.5)
    assert board.lines.line("rtc.INT").read() is True
    board.advance(1.0)
    assert board.lines.line("rtc.INT").read() is False  # INT low: the CM4 would be reset
