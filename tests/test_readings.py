"""Typed readings: a value that is no number (NaN, an infinity) is an error reading, never a number."""

from __future__ import annotations

import asyncio
import math

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from wisgate.api.http import create_app
from wisgate.bus.thermal_zone import CpuTemperature
from wisgate.config import ApiSection
from wisgate.services.fan import PiController, fan_service
from wisgate.services.monitor import monitor_service
from wisgate.services.readings import Reading, format_value, number
from wisgate.services.supervisor import Supervisor
from wisgate.sim.board import SimBoard
from wisgate.sim.target import SimTarget


@pytest.mark.parametrize(("value", "reason"), [(math.nan, "NaN"), (math.inf, "+inf"), (-math.inf, "-inf")])
def test_a_non_finite_value_becomes_an_error_reading(value: float, reason: str) -> None:
    reading = number("cpu.temperature", "CPU temperature", value, "°C", "cpu", 1.0)
    assert reading.value is None and not reading.ok and reading.number is None
    assert reading.error == f"sensor returned {reason}" and format_value(reading) == "ERROR"
    # a reason the probe already gave is kept
    kept = Reading("x", "x", value, "", "cpu", 1.0, error="bus gone")
    assert kept.value is None and kept.error == "bus gone"


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_finite_value_stays_a_number(value: float) -> None:
    reading = number("adc.ain0", "AIN0", value, "V", "adc", 1.0)
    assert reading.ok and reading.number == value


class NanSensor:
    """A CPU temperature source gone bad: it answers, but with NaN."""

    def read_celsius(self) -> float:
        return math.nan


class NanCpuTarget(SimTarget):
    def cpu_temperature(self) -> CpuTemperature:
        return NanSensor()


def test_a_nan_from_a_sensor_is_an_error_reading_in_the_status_and_the_fan_runs_full() -> None:
    target = NanCpuTarget(SimBoard())
    supervisor = Supervisor(target)
    supervisor.add("monitor", monitor_service(0.05, skip=("power",)))
    supervisor.add("fan", fan_service(PiController(), 0.05))

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.4, stop.set)
        await supervisor.run(stop)

    try:
        asyncio.run(main())
        client = TestClient(create_app(supervisor.context, ApiSection(), stale_after_s=3600))
        response = client.get("/api/status")
        assert response.status_code == 200, response.text
        body = response.json()
        rows = {r["name"]: r for r in body["readings"]}
        cpu = rows["cpu.temperature"]
        assert not cpu["ok"] and "number" not in cpu and "sensor returned NaN" in str(cpu), cpu
        assert rows["pcb.temperature"]["ok"]  # the other sensors still read
        # a temperature that is no number is one that cannot be read: full airflow
        assert body["fan"]["mode"] == "failsafe" and body["fan"]["duty_percent"] == 100
        assert body["fan"]["cpu_c"] is None
    finally:
        target.close()
