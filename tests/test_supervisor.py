"""The supervisor keeps services running: a failing one is restarted, the others go on."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from wisgate.cli import cli
from wisgate.services.events import EventKind
from wisgate.services.monitor import monitor_service
from wisgate.services.supervisor import Context, Supervisor
from wisgate.target import open_target


def test_failing_service_is_restarted_and_others_keep_running() -> None:
    target = open_target("sim")
    supervisor = Supervisor(target)
    attempts: list[int] = []

    async def broken(_context: Context) -> None:
        attempts.append(1)
        raise RuntimeError("boom")

    supervisor.add("broken", broken)
    supervisor.add("monitor", monitor_service(0.1))

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(1.3, stop.set)
        await supervisor.run(stop)

    asyncio.run(main())
    broken_service = supervisor.services[0]
    assert len(attempts) == 2  # first run, then one restart after 1 s back-off
    assert broken_service.last_error == "RuntimeError: boom"
    readings = supervisor.state.readings
    assert readings["pcb.temperature"].unit == "°C"
    health = supervisor.state.services["broken"]
    assert health.state == "failed" and health.error == "RuntimeError: boom" and health.restarts == 2
    kinds = [e.kind for e in supervisor.state.events.recent if e.source == "broken"]
    assert kinds[:3] == [EventKind.SERVICE_FAILED, EventKind.SERVICE_RESTARTED, EventKind.SERVICE_FAILED]


def test_run_command_runs_and_stops(tmp_path: Path) -> None:
    config = tmp_path / "wisgate.toml"
    config.write_text("[monitor]\ninterval_s = 0.2\n[api]\nenabled = false\n[lora]\nenabled = false\n")
    result = CliRunner().invoke(cli, ["run", "--sim", "--config", str(config), "--duration", "0.5"])
    assert result.exit_code == 0, result.output
    assert "simulated RAK7391" in result.output
    assert "wisgate stopped" in result.output


def test_run_with_bad_config_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "wisgate.toml"
    config.write_text("[board]\nbus = 'com3'\n")
    proc = subprocess.run(
        [sys.executable, "-c", "from wisgate.cli import main; main()", "run", "--config", str(config)],
        capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0
    assert "board.bus" in proc.stderr and "Traceback" not in proc.stderr


def test_a_vanished_sensor_degrades_its_readings_not_the_daemon() -> None:
    from wisgate.services.environment import environment_service, limits
    from wisgate.services.fan import PiController, fan_service
    from wisgate.sim.target import SimTarget

    target = open_target("sim")
    assert isinstance(target, SimTarget)
    supervisor = Supervisor(target)
    supervisor.add("monitor", monitor_service(0.05))
    supervisor.add("environment", environment_service(limits(70, 85, 80, 2), 0.05))
    supervisor.add("fan", fan_service(PiController(), 0.1))
    address = target.addresses["temperature_sensor"]

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, lambda: target.board.bus.faults.vanish(address))
        loop.call_later(0.8, lambda: target.board.bus.faults.restore(address))
        loop.call_later(1.3, stop.set)
        await supervisor.run(stop)

    asyncio.run(main())
    state = supervisor.state
    events = [(e.kind, e.source) for e in state.events.recent]
    assert (EventKind.SENSOR_LOST, "temperature_sensor") in events
    assert (EventKind.SENSOR_BACK, "temperature_sensor") in events
    assert events.index((EventKind.SENSOR_LOST, "temperature_sensor")) < events.index(
        (EventKind.SENSOR_BACK, "temperature_sensor"))
    assert all(h.restarts == 0 for h in state.services.values())  # no service failed over it
    assert state.readings["pcb.temperature"].ok and state.fan is not None and state.fan.fault is None
    assert state.readings["cpu.temperature"].ok  # the other devices were read throughout
    assert "temperature_sensor.error" not in state.readings  # its failure went with the answer
