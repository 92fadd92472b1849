"""Fan control from CPU temperature, in closed loop with the simulated CM4 and fan."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from wisgate.chips.emc2301 import EMC2301
from wisgate.config import parse_config
from wisgate.errors import ConfigError
from wisgate.services.events import EventKind
from wisgate.services.fan import FanCurve, PiController, fan_service
from wisgate.services.supervisor import Supervisor
from wisgate.sim.board import SimBoard
from wisgate.sim.target import SimTarget


def test_curve_interpolates_and_holds_with_hysteresis() -> None:
    curve = FanCurve(((45, 0), (50, 30), (60, 60), (70, 100)))
    assert curve.interpolate(40) == 0 and curve.interpolate(55) == 45 and curve.interpolate(90) == 100
    assert curve.interpolate(45.5) == 30  # 3 % would not start the fan: the minimum running duty
    assert curve.next_duty(44, running=True) == 30  # within 3 °C below the first step: keep running
    assert curve.next_duty(41.5, running=True) == 0
    assert curve.next_duty(44, running=False) == 0


def test_bad_curves_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"fan\.curve"):
        parse_config({"fan": {"curve": [[60, 10], [50, 20]]}})
    with pytest.raises(ValueError, match="0-100"):
        FanCurve(((40, 0), (50, 150)))


def test_closed_loop_cools_a_loaded_cpu_and_feeds_the_watchdog() -> None:
    board = SimBoard(realtime=True)
    board.cpu.load = 1.0
    target = SimTarget(board)
    supervisor = Supervisor(target)
    supervisor.add("fan", fan_service(FanCurve(), 0.2))

    jobs: list[asyncio.Task[None]] = []

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def fast_forward() -> None:
            # ten simulated minutes per wall 0.1 s: the plant settles while the service keeps up
            jobs.append(loop.create_task(target.worker.run(lambda: board.advance(60))))  # the simulation's thread
            if not stop.is_set():
                loop.call_later(0.1, fast_forward)

        loop.call_later(0.3, fast_forward)
        loop.call_later(2.5, stop.set)
        await supervisor.run(stop)

    asyncio.run(main())
    state = supervisor.state.fan
    assert state is not None
    # uncooled at full load the CPU settles at 83 °C; the curve holds it in its 50-70 °C range
    assert 50 <= board.cpu_temperature.read_celsius() <= 70
    assert 30 <= state.duty_percent <= 100 and state.rpm > 1000 and state.fault is None and state.mode == "curve"
    assert supervisor.services[0].restarts == 0


def simulate(policy: PiController, loads: list[float], minutes_each: float = 5) -> list[tuple[float, float]]:
    """(CPU °C, duty %) every 2 s of a simulated run through the real driver and chip model."""
    board = SimBoard()
    board.cpu.temperature_c = 45.0
    fan = EMC2301.open(board.bus, clock=board.clock)
    trace = []
    for load in loads:
        board.cpu.load = load
        for _ in range(int(minutes_each * 30)):
            celsius = board.cpu_temperature.read_celsius()
            duty = policy.duty(celsius, board.clock.monotonic())
            fan.set_duty(duty)
            trace.append((celsius, duty))
            board.advance(2.0)
    return trace


def test_closed_loop_holds_the_target_with_little_airflow_and_few_changes() -> None:
    trace = simulate(PiController(target_c=60), [1.0, 0.3, 0.8, 0.1, 1.0, 0.5])
    assert max(c for c, _ in trace) <= 62  # never above the target + 2 °C
    duties = [d for _, d in trace]
    changes = sum(1 for a, b in itertools.pairwise(duties) if a != b)
    assert changes <= 4
    assert sum(duties) / len(duties) < 16  # the step curve 50/60/70 -> 30/60/100 % averages 18.5 % here


def test_closed_loop_full_speed_when_critical_and_integrator_does_not_wind_up() -> None:
    policy = PiController(target_c=60, critical_c=75)
    assert policy.duty(50, 0) == 0  # below the target a stopped fan stays stopped
    assert policy.duty(76, 2) == 100
    for t in range(4, 400, 2):  # long above the target at full output: the integral must not run away
        policy.duty(70, t)
    falling = [policy.duty(55, t) for t in range(400, 440, 2)]
    assert falling[-1] == policy.min_duty  # back to the minimum within 40 s, not minutes of stored windup
    with pytest.raises(ValueError, match="critical_c"):
        PiController(target_c=70, critical_c=65)


def test_a_blocked_fan_is_a_stall_event_and_its_recovery_another() -> None:
    board = SimBoard(realtime=True)
    board.cpu.load = 1.0
    board.cpu.temperature_c = 70.0
    target = SimTarget(board)
    supervisor = Supervisor(target)
    supervisor.add("fan", fan_service(FanCurve(), 0.2))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.call_later(1.0, lambda: loop.create_task(target.worker.run(board.fan.block)))
        loop.call_later(3.0, lambda: loop.create_task(target.worker.run(board.fan.unblock)))
        loop.call_later(6.0, stop.set)
        await supervisor.run(stop)

    asyncio.run(main())
    kinds = [e.kind for e in supervisor.state.events.recent if e.source == "fan"]
    assert kinds[:2] == [EventKind.FAN_STALL, EventKind.FAN_OK], kinds


class GoneSensor:
    """A thermal zone that cannot be read (the driver unloaded, the file gone)."""

    def read_celsius(self) -> float:
        raise OSError(19, "No such device")


class GoneCpuTarget(SimTarget):
    def cpu_temperature(self) -> GoneSensor:
        return GoneSensor()


def test_an_unreadable_cpu_temperature_runs_the_fan_at_full_speed() -> None:
    target = GoneCpuTarget(SimBoard(realtime=True))
    supervisor = Supervisor(target)
    supervisor.add("fan", fan_service(PiController(), 0.05))

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.3, stop.set)
        await supervisor.run(stop)

    try:
        asyncio.run(main())
        state = supervisor.state.fan
        assert state is not None and state.mode == "failsafe" and state.duty_percent == 100 and state.cpu_c is None
    finally:
        target.close()
