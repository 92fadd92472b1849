"""ModBUS RTU over a socat pseudo-terminal pair: a real serial line to a pymodbus RTU server."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from modbus_rig import FieldDevice, pty_pair, rtu_server

from wisgate.industrial.config import BusSection
from wisgate.industrial.modbus.poller import BusPoller
from wisgate.services.state import BoardState


def line(port: str, devices: list[dict[str, Any]], baudrate: int = 9600) -> BusSection:
    return BusSection.model_validate({"name": "rs485", "port": port, "baudrate": baudrate, "devices": devices})


def th_device(name: str, device_id: int, **extra: Any) -> dict[str, Any]:
    return {"name": name, "device_id": device_id, "template": "th-sensor", **extra}


def test_rtu_polling_write_dead_and_garbled(tmp_path: Path) -> None:
    from wisgate.industrial.config import ModbusSection

    sensors = [FieldDevice(i, inputs={1: 215 + i, 2: 480}) for i in (1, 2, 3)]
    sensors.append(FieldDevice(4, holding={10: 0}))

    async def main() -> tuple[BusPoller, BoardState]:
        with pty_pair(tmp_path) as (field, gateway):
            async with rtu_server(sensors, field, dead={9}, garbled={3}):
                section = ModbusSection.model_validate({"buses": [{
                    "name": "rs485", "port": gateway, "devices": [
                        th_device("t1", 1), th_device("t2", 2), th_device("noisy", 3, timeout_s=0.3),
                        th_device("gone", 9, timeout_s=0.3),
                        {"name": "valve", "device_id": 4, "points": [{"name": "opening", "address": 10,
                                                                       "writable": True, "max": 100}]}]}]})
                state = BoardState()
                poller = BusPoller(section.buses[0], state)
                for device in poller.devices:
                    await poller.poll(device)
                valve = poller.devices[4]
                point = valve.point("opening")
                assert point is not None
                back = await poller.write(valve, point, 65)
                assert back.value == 65
                poller.link.close()
                return poller, state

    poller, state = asyncio.run(asyncio.wait_for(main(), 30))
    assert state.value("modbus.t1.temperature") == pytest.approx(21.6)
    assert state.value("modbus.t2.humidity") == pytest.approx(48.0)
    now = time.monotonic()
    noisy, gone = poller.devices[2].health(now), poller.devices[3].health(now)
    assert noisy.status == gone.status == "failing"
    assert noisy.reason is not None and noisy.reason.startswith("CRC error")
    assert gone.reason == "timeout (no reply in 0.3 s) reading input 1-2"
    assert state.value("modbus.valve.opening") == 65


def test_rtu_dead_device_never_stalls_the_line(tmp_path: Path) -> None:
    live = [FieldDevice(i, inputs={0: i}) for i in (1, 2, 3, 4)]
    devices = [{"name": f"d{i}", "device_id": i, "interval_s": 0.1, "timeout_s": 0.3, "max_failures": 2,
                "retry_s": 1.0, "points": [{"name": "v", "table": "input", "address": 0}]} for i in (1, 2, 3, 4, 5)]

    async def main() -> BusPoller:
        with pty_pair(tmp_path) as (field, gateway):
            async with rtu_server(live, field, dead={5}):
                poller = BusPoller(line(gateway, devices, baudrate=115200), BoardState())
                task = asyncio.create_task(poller.run())
                await asyncio.sleep(2.5)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                return poller

    poller = asyncio.run(asyncio.wait_for(main(), 30))
    assert poller.devices[4].status == "disabled"
    assert all(d.requests >= 10 and d.status == "ok" for d in poller.devices[:4])
    assert poller.max_round_s < 0.3 + 0.2
