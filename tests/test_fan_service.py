"""Fan control from CPU temperature, in closed loop with the simulated CM4 and fan."""

from __future__ import annotations

import asyncio

import pytest

from wisgate.config import parse_config
from wisgate.errors import ConfigError
from wisgate.services.fan import FanCurve, fan_service
from wisgate.services.supervisor import Supervisor
from wisgate.sim.board import SimBoard
from wisgate.sim.target import SimTarget


def test_curve_interpolates_and_holds_with_hysteresis() -> None:
    curve = FanCurve(((45, 0), (50, 30), (60, 60), (70, 100)))
    assert curve.duty(40) == 0 and curve.duty(55) == 45 and curve.duty(90) == 100
    assert curve.duty(45.5) == 30  # 3 % would not start the fan: the minimum running duty
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
