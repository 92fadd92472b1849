"""Climate limits as events, the two status LEDs, and the RTC wake alarm armed before a shutdown."""

from __future__ import annotations

import asyncio
import datetime as dt

from wisgate.chips.pcf85063a import PCF85063A
from wisgate.services.environment import crossings, environment_service, limits
from wisgate.services.events import EventKind
from wisgate.services.leds import leds_service
from wisgate.services.monitor import monitor_service
from wisgate.services.power import arm_wake_alarm, power_service
from wisgate.services.settings import PowerSettings
from wisgate.services.state import LedOverride, PowerState
from wisgate.services.supervisor import Supervisor
from wisgate.sim.board import SimBoard
from wisgate.sim.target import SimTarget


def run(supervisor: Supervisor, seconds: float, *calls: tuple[float, object]) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for at, call in calls:
            loop.call_later(at, call)  # type: ignore[arg-type]
        loop.call_later(seconds, stop.set)
        await supervisor.run(stop)

    asyncio.run(main())


def test_a_value_at_the_limit_is_one_alarm_until_it_is_back_by_the_hysteresis() -> None:
    checks = limits(pcb_high_c=60, humidity_high_rh=80, cpu_high_c=80, hysteresis=2)
    active: set[str] = set()
    seen = [crossings(active, {"pcb.temperature": t}, checks) for t in (59, 60, 61, 59.5, 60.5, 57.9, 58)]
    flags = [[above for _, above in changes] for changes in seen]
    assert flags == [[], [True], [], [], [], [False], []]
    assert crossings(active, {"pcb.temperature": None}, checks) == []  # no reading: no change


def test_pcb_heat_is_an_over_temperature_event_and_its_end_another() -> None:
    board = SimBoard(realtime=True)
    target = SimTarget(board)
    supervisor = Supervisor(target)
    supervisor.add("monitor", monitor_service(0.05, skip=("power",)))
    supervisor.add("environment", environment_service(limits(50, 99, 120, 2), 0.05))

    def weather(ambient: float) -> None:
        def change() -> None:
            board.env.climate.ambient_c = ambient
            board.advance(3600)  # an hour of simulated time: the PCB follows the ambient

        asyncio.get_running_loop().create_task(target.worker.run(change))

    run(supervisor, 1.6, (0.3, lambda: weather(70)), (0.9, lambda: weather(20)))
    events = [(e.kind, e.source) for e in supervisor.state.events.recent if e.source == "pcb.temperature"]
    assert events == [(EventKind.OVER_TEMPERATURE, "pcb.temperature"), (EventKind.TEMPERATURE_OK, "pcb.temperature")]
    environment = supervisor.state.environment
    assert environment is not None and environment.alarms == () and environment.pcb_c is not None


def test_leds_beat_and_show_an_alarm() -> None:
    board = SimBoard(realtime=True)
    target = SimTarget(board)
    supervisor = Supervisor(target)
    supervisor.add("leds", leds_service(["heartbeat", "alarm"]))
    heartbeat, alarm = board.loads.led_lines["LED IO0_6"], board.loads.led_lines["LED IO0_7"]

    def supply_lost() -> None:
        supervisor.state.power = PowerState("lost", 0.0, 0.1, 1, 0, None, None, None, None, None, True, 0.0)

    run(supervisor, 2.5, (1.5, supply_lost))
    beats = [level for _, level in heartbeat.history]
    assert beats.count(True) >= 2 and beats.count(False) >= 2  # on and off at least twice in 2.5 s
    lit = [t for t, level in alarm.history if level]
    assert lit and lit[0] - alarm.history[0][0] >= 1.4  # the alarm LED came on with the loss, not before
    assert not heartbeat.read() and not alarm.read()  # dark after the daemon stopped


def test_wake_alarm_fires_at_the_time_armed() -> None:
    board = SimBoard(rtc_time=dt.datetime(2026, 12, 31, 23, 59, 0))
    rtc = PCF85063A(board.bus, clock=board.clock)
    when = arm_wake_alarm(rtc, 90)
    assert when == dt.datetime(2027, 1, 1, 0, 0, 30)
    interrupt = board.lines.line("rtc.INT")
    board.advance(89)
    assert interrupt.read() is True
    board.advance(2)
    assert interrupt.read() is False  # INT low: the CM4 would wake


def test_the_power_service_arms_the_wake_alarm_before_the_shutdown() -> None:
    board = SimBoard(realtime=True)
    target = SimTarget(board)
    supervisor = Supervisor(target)
    supervisor.add("power", power_service(PowerSettings(shutdown_after_s=0.3, wake_after_s=600)))
    rtc = PCF85063A(board.bus, clock=board.clock)
    before = rtc.read_time()
    run(supervisor, 1.2, (0.2, board.env.supply.cut))
    after = rtc.read_time()
    kinds = [e.kind for e in supervisor.state.events.recent if e.source == "power"]
    assert kinds.index(EventKind.WAKE_ALARM_SET) < kinds.index(EventKind.SHUTDOWN_RUN)
    alarm = rtc.alarm()
    # armed 600 s after some moment of the run: a minute may tick over between the arming and this check
    wake = dt.timedelta(seconds=600)
    assert (alarm.hour, alarm.minute) in {(t.hour, t.minute) for t in (before + wake, after + wake)}


def test_an_led_held_through_the_api_wins_over_its_role_until_the_hold_ends() -> None:
    board = SimBoard(realtime=True)
    target = SimTarget(board)
    supervisor = Supervisor(target)
    supervisor.add("leds", leds_service(["off", "off"]))
    led = board.loads.led_lines["LED IO0_6"]
    held_until: list[float] = []

    def hold() -> None:
        now = target.clock.monotonic()
        held_until.append(now + 0.8)
        supervisor.state.overrides.leds[6] = LedOverride(True, now + 0.8)

    run(supervisor, 2.5, (0.5, hold))
    lit = [t for t, level in led.history if level]
    dark = [t for t, level in led.history if not level and lit and t > lit[0]]
    assert lit and 0.4 <= lit[0] - led.history[0][0] <= 0.8  # held on soon after the hold began
    assert dark and 0.6 <= dark[0] - lit[0] <= 1.2  # its role (off) shows again when the hold ends
    assert 6 not in supervisor.state.overrides.leds  # an ended hold is forgotten
