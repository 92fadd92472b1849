"""Simulated ModBUS field devices: an energy meter, a temperature/humidity transmitter and a heating
controller on a loopback ModBUS TCP line, so ``wisgate run`` on the simulated board has field values to
poll, and points to write, out of the box.

They are real pymodbus servers. The meter and transmitter hold the register layouts of the shipped
templates (energy-meter, th-sensor); their values change with time and follow the simulated room (the
climate's ambient). The heating controller is no real model (its template, ``sim-heating``, comes with
the simulation): a writable flow setpoint and a pump coil, and a flow temperature that approaches the
setpoint while the pump runs and the room's temperature while it is off.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from functools import partial
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from wisgate.clock import Clock
from wisgate.industrial.modbus.codec import DataType as Type
from wisgate.industrial.modbus.codec import Encoding, encode
from wisgate.sim.environment import Climate

METER_ID = 1
SENSOR_ID = 2
HEATING_ID = 3
F32 = Encoding(Type.F32)
#: the flow temperature's time constant (a first-order approach to the setpoint or the room)
HEATING_TAU_S = 120.0
HEATING_TEMPLATE: dict[str, Any] = {
    "description": "simulated heating controller (no real model): flow setpoint, pump, flow temperature",
    "points": [
        {"name": "setpoint", "table": "holding", "address": 0, "scale": 0.1, "unit": "°C", "writable": True,
         "min": 30, "max": 80},
        {"name": "pump", "table": "coil", "address": 0, "writable": True},
        {"name": "flow_temp", "table": "input", "address": 0, "type": "i16", "scale": 0.1, "unit": "°C",
         "deadband": 0.2},
    ],
}


class SimFieldDevices:
    """(name, device id, template) of each device, and the line's start/stop."""

    devices: tuple[tuple[str, int, str], ...] = (("meter", METER_ID, "energy-meter"), ("room", SENSOR_ID, "th-sensor"),
                                                 ("heating", HEATING_ID, "sim-heating"))
    #: templates of devices that are no real model
    templates: dict[str, dict[str, Any]] = {"sim-heating": HEATING_TEMPLATE}

    def __init__(self, clock: Clock, climate: Climate) -> None:
        self.clock = clock
        self.climate = climate
        self._energy_kwh = 1234.5
        self._last_t: float | None = None
        self.setpoint_c = 55.0
        self.pump = True
        self.flow_c: float | None = None
        self._flow_t: float | None = None
        self._server: ModbusTcpServer | None = None
        self._task: asyncio.Task[None] | None = None

    def meter_values(self, t: float) -> dict[int, float]:
        """Input register address -> value, the SDM120-class layout of the energy-meter template."""
        volts = 230.0 + 3.0 * math.sin(2 * math.pi * t / 600)
        amps = 2.0 + 1.5 * math.sin(2 * math.pi * t / 120) ** 2
        power_factor = 0.95
        watts = volts * amps * power_factor
        if self._last_t is not None and t > self._last_t:
            self._energy_kwh += watts * (t - self._last_t) / 3.6e6
        self._last_t = t
        return {0x00: volts, 0x06: amps, 0x0C: watts, 0x1E: power_factor,
                0x46: 50.0 + 0.02 * math.sin(2 * math.pi * t / 30), 0x48: self._energy_kwh}

    def sensor_values(self, t: float) -> dict[int, int]:
        celsius = self.climate.ambient_c + 0.3 * math.sin(2 * math.pi * t / 300)
        return {1: round(celsius * 10) & 0xFFFF, 2: round(self.climate.ambient_rh * 10)}

    def flow_value(self, t: float) -> float:
        """The flow temperature at ``t``: first order towards the setpoint (pump on) or the room (off)."""
        target = self.setpoint_c if self.pump else self.climate.ambient_c
        if self.flow_c is None or self._flow_t is None:
            self.flow_c = self.climate.ambient_c
        elif t > self._flow_t:
            self.flow_c = target + (self.flow_c - target) * math.exp(-(t - self._flow_t) / HEATING_TAU_S)
        self._flow_t = t
        return self.flow_c

    async def _heating(self, function: int, start: int, address: int, count: int, registers: list[int],
                       values: list[int] | list[bool] | None) -> ExcCodes | None:
        now = self.clock.monotonic()
        self.flow_value(now)  # up to now under the old setting
        if function in (6, 16) and values is not None and start <= 0 < start + len(values):
            self.setpoint_c = values[0 - start] / 10
        elif function in (5, 15) and values is not None and start <= 0 < start + len(values):
            self.pump = bool(values[0 - start])
        elif function == 4 and start <= 0 < start + len(registers):
            registers[0 - start] = round(self.flow_value(now) * 10) & 0xFFFF
        return None

    async def _meter(self, function: int, start: int, address: int, count: int, registers: list[int],
                     values: list[int] | list[bool] | None) -> ExcCodes | None:
        if function == 4:
            for at, value in self.meter_values(self.clock.monotonic()).items():
                for i, word in enumerate(encode(value, F32)):
                    if start <= at + i < start + len(registers):
                        registers[at + i - start] = word
        return None

    async def _sensor(self, function: int, start: int, address: int, count: int, registers: list[int],
                      values: list[int] | list[bool] | None) -> ExcCodes | None:
        if function == 4:
            for at, value in self.sensor_values(self.clock.monotonic()).items():
                if start <= at < start + len(registers):
                    registers[at - start] = value
        return None

    async def start(self) -> int:
        """Serve on a free loopback port; returns it."""
        empty: list[SimData] = [SimData(0, values=[False] * 16, datatype=DataType.BITS)]
        meter = SimDevice(METER_ID, simdata=(empty, empty, [SimData(0, count=0x50, values=0,
                                                                     datatype=DataType.REGISTERS)],
                                             [SimData(0, count=0x50, values=0, datatype=DataType.REGISTERS)]),
                          action=partial(SimFieldDevices._meter, self))
        sensor = SimDevice(SENSOR_ID, simdata=(empty, empty, [SimData(0, count=8, values=0,
                                                                       datatype=DataType.REGISTERS)],
                                               [SimData(0, count=8, values=0, datatype=DataType.REGISTERS)]),
                           action=partial(SimFieldDevices._sensor, self))
        heating = SimDevice(HEATING_ID, simdata=(
            [SimData(0, values=[self.pump] + [False] * 15, datatype=DataType.BITS)], empty,
            [SimData(0, values=[round(self.setpoint_c * 10)] + [0] * 7, datatype=DataType.REGISTERS)],
            [SimData(0, count=8, values=0, datatype=DataType.REGISTERS)]),
            action=partial(SimFieldDevices._heating, self))
        self._server = ModbusTcpServer([meter, sensor, heating], address=("127.0.0.1", 0))
        self._task = asyncio.create_task(self._server.serve_forever(), name="sim modbus field")
        for _ in range(500):
            listener = getattr(self._server, "transport", None)
            sockets = getattr(listener, "sockets", None)
            if sockets:
                return int(sockets[0].getsockname()[1])
            await asyncio.sleep(0.01)
        raise RuntimeError("the simulated ModBUS field devices did not start listening")

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
