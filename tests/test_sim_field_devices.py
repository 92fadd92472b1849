"""The simulated board's ModBUS field devices: polled by default when no bus is configured, values that
follow the simulated room and change with time."""

from __future__ import annotations

import asyncio

import pytest

from wisgate.config import parse_config
from wisgate.services.daemon import build_supervisor
from wisgate.sim.target import SimTarget


def test_the_daemon_polls_the_simulated_field_devices() -> None:
    target = SimTarget.open()
    target.board.env.climate.ambient_c = 18.0
    config = parse_config({"lora": {"enabled": False}, "api": {"enabled": False}, "display": {"enabled": False}})
    supervisor = build_supervisor(target, config)
    assert "industrial" in [s.name for s in supervisor.services]
    state = supervisor.state

    async def main() -> list[float | None]:
        stop = asyncio.Event()
        daemon = asyncio.create_task(supervisor.run(stop))
        for _ in range(100):
            await asyncio.sleep(0.1)
            if state.value("modbus.room.temperature") is not None and state.value("modbus.meter.voltage"):
                break
        values = [state.value(n) for n in ("modbus.room.temperature", "modbus.room.humidity",
                                           "modbus.meter.voltage", "modbus.meter.frequency",
                                           "modbus.meter.import_energy")]
        stop.set()
        await daemon
        return values

    try:
        celsius, humidity, volts, hertz, kwh = asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        target.close()
    assert celsius == pytest.approx(18.0, abs=0.35)
    assert humidity == pytest.approx(45.0)
    assert volts == pytest.approx(230, abs=3.01)
    assert hertz == pytest.approx(50, abs=0.03)
    assert kwh is not None and kwh >= 1234.5


def test_off_when_buses_are_configured_or_asked() -> None:
    target = SimTarget.open()
    try:
        config = parse_config({"industrial": {"sim_field_devices": False}})
        assert "industrial" not in [s.name for s in build_supervisor(target, config).services]
    finally:
        target.close()
