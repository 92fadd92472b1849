"""The simulated board's ModBUS field devices: polled by default when no bus is configured, values that
follow the simulated room and change with time."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from wisgate.clock import SimClock
from wisgate.config import parse_config
from wisgate.services.daemon import build_supervisor
from wisgate.sim.environment import Climate
from wisgate.sim.modbus_field import HEATING_TAU_S, SimFieldDevices
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


def test_the_heating_controller_takes_writes_and_its_flow_follows() -> None:
    """Written through the gateway as a user would: the setpoint and pump read back, and the flow
    temperature (first order, 120 s) heads for the setpoint with the pump on and for the room with it off."""
    target = SimTarget.open()
    target.board.env.climate.ambient_c = 20.0
    config = parse_config({"lora": {"enabled": False}, "api": {"enabled": False}, "display": {"enabled": False}})
    supervisor = build_supervisor(target, config)
    state = supervisor.state

    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {}
        stop = asyncio.Event()
        daemon = asyncio.create_task(supervisor.run(stop))
        for _ in range(100):
            await asyncio.sleep(0.1)
            if state.value("modbus.heating.flow_temp") is not None:
                break
        gateway = state.industrial
        assert gateway is not None
        out["kinds"] = {n: c.kind for n, c in gateway.controls.items() if n.startswith("modbus.heating.")}
        out["first"] = state.value("modbus.heating.flow_temp")
        out["setpoint"] = (await gateway.set_value("modbus.heating.setpoint", 60.0)).value
        out["pump"] = (await gateway.set_value("modbus.heating.pump", False)).value
        stop.set()
        await daemon
        return out

    try:
        out = asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        target.close()
    assert out["kinds"] == {"modbus.heating.setpoint": "number", "modbus.heating.pump": "switch",
                            "modbus.heating.flow_temp": "sensor"}
    assert out["first"] == pytest.approx(20.0, abs=1.0)  # it starts at the room's temperature
    assert out["setpoint"] == 60.0 and out["pump"] == 0.0

    clock = SimClock()
    field = SimFieldDevices(clock, Climate(ambient_c=20.0))
    assert field.flow_value(clock.monotonic()) == 20.0
    clock.advance(HEATING_TAU_S)
    assert field.flow_value(clock.monotonic()) == pytest.approx(20 + 35 * (1 - math.exp(-1)))  # setpoint 55
    field.pump = False
    clock.advance(10 * HEATING_TAU_S)
    assert field.flow_value(clock.monotonic()) == pytest.approx(20.0, abs=0.01)
