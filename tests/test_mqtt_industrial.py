"""The industrial points on MQTT with Home Assistant discovery, against a real Mosquitto and a real pymodbus
server: discovery entities per point (sensor, binary_sensor, number, switch) on sub-devices, state updates,
a ``/set`` round trip (written, read back, published) and refused sets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from modbus_rig import FieldDevice, tcp_server
from test_mqtt_forwarder import Broker
from test_mqtt_telemetry import Watcher, running, watching

from wisgate.api.mqtt.service import Telemetry
from wisgate.api.mqtt.settings import TelemetrySettings
from wisgate.clock import WallClock
from wisgate.industrial.config import IndustrialSection
from wisgate.industrial.service import industrial_service
from wisgate.services.events import EventKind
from wisgate.services.supervisor import Supervisor
from wisgate.sim.target import SimTarget

NODE = "wisgate_gw1"
BASE = "wisgate/gw1"


def industrial(port: int) -> IndustrialSection:
    return IndustrialSection.model_validate({
        "modbus": {"buses": [{"name": "plc", "host": "127.0.0.1", "tcp_port": port, "devices": [
            {"name": "boiler", "device_id": 1, "interval_s": 0.2, "points": [
                {"name": "setpoint", "address": 5, "scale": 0.1, "unit": "°C", "writable": True, "min": 20,
                 "max": 80},
                {"name": "limit", "address": 6, "type": "i16", "writable": True},
                {"name": "flow_temp", "table": "input", "address": 0, "type": "i16", "scale": 0.1, "unit": "°C"},
                {"name": "energy", "table": "input", "address": 2, "type": "u32", "unit": "kWh", "digits": 0},
                {"name": "run", "table": "coil", "address": 0, "writable": True},
                {"name": "alarm", "table": "discrete", "address": 1}]}]}]},
        "wisblock": [{"name": "tank", "slot": 1, "module": "RAK5801", "range": [0, 4], "unit": "m",
                      "interval_s": 0.2},
                     {"name": "pump", "slot": 2, "module": "RAK13001", "input_line": 10}],
    })


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    (tmp_path / "broker").mkdir()
    made = Broker(tmp_path / "broker").start()
    yield made
    made.stop()


@contextlib.asynccontextmanager
async def gateway_and_telemetry(broker: Broker, boiler: FieldDevice) -> AsyncIterator[tuple[Supervisor, Telemetry]]:
    target = SimTarget.open()
    target.board.env.analog.set_current_loop(1, 12.0)
    try:
        async with tcp_server([boiler]) as port:
            supervisor = Supervisor(target)
            supervisor.add("industrial", industrial_service(industrial(port)))
            stop = asyncio.Event()
            daemon = asyncio.create_task(supervisor.run(stop))
            settings = TelemetrySettings(port=broker.port, device_id="gw1", interval_s=0.1, reconnect_min_s=0.05,
                                         reconnect_max_s=0.2)
            telemetry = Telemetry(settings, supervisor.state, WallClock(), override_s=60.0, serial_wait_s=0.2)
            try:
                async with running(telemetry):
                    yield supervisor, telemetry
            finally:
                stop.set()
                await daemon
    finally:
        target.close()


async def until(check: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


def config(ha: Watcher, component: str, object_id: str) -> dict[str, Any]:
    loaded: dict[str, Any] = ha.json(f"homeassistant/{component}/{NODE}/{object_id}/config")
    return loaded


def value(ha: Watcher, name: str) -> Any:
    topic = f"{BASE}/reading/{name}"
    return ha.json(topic)["value"] if topic in ha.latest else "absent"


def test_discovery_for_points_and_modules(broker: Broker) -> None:
    boiler = FieldDevice(1, holding={5: 550, 6: 7}, inputs={0: 612, 3: 1234}, coils={0: False})

    async def body() -> None:
        async with gateway_and_telemetry(broker, boiler), watching(broker) as ha:
            wanted = [("number", "modbus_boiler_setpoint"), ("number", "modbus_boiler_limit"),
                      ("sensor", "modbus_boiler_flow_temp"), ("sensor", "modbus_boiler_energy"),
                      ("switch", "modbus_boiler_run"), ("binary_sensor", "modbus_boiler_alarm"),
                      ("sensor", "wisblock_tank_current"), ("sensor", "wisblock_tank_value"),
                      ("switch", "wisblock_pump_relay"), ("binary_sensor", "wisblock_pump_input")]
            await ha.wait_for(lambda: all(f"homeassistant/{c}/{NODE}/{o}/config" in ha.latest for c, o in wanted),
                              timeout=15)
            setpoint = config(ha, "number", "modbus_boiler_setpoint")
            assert setpoint["command_topic"] == f"{BASE}/set/modbus_boiler_setpoint"
            assert setpoint["state_topic"] == f"{BASE}/reading/modbus_boiler_setpoint"
            assert (setpoint["min"], setpoint["max"], setpoint["step"]) == (20, 80, pytest.approx(0.1))
            assert (setpoint["unit_of_measurement"], setpoint["device_class"]) == ("°C", "temperature")
            assert setpoint["mode"] == "box" and "state_class" not in setpoint
            assert setpoint["device"] == {"identifiers": [f"{NODE}_modbus_boiler"], "name": "ModBUS boiler",
                                          "model": "ModBUS device", "via_device": NODE}
            # no min/max configured: the i16's own range
            limit = config(ha, "number", "modbus_boiler_limit")
            assert (limit["min"], limit["max"], limit["step"]) == (-32768, 32767, 1)
            flow = config(ha, "sensor", "modbus_boiler_flow_temp")
            assert (flow["device_class"], flow["state_class"], flow["unit_of_measurement"]) == (
                "temperature", "measurement", "°C")
            assert "command_topic" not in flow
            energy = config(ha, "sensor", "modbus_boiler_energy")
            assert (energy["device_class"], energy["state_class"]) == ("energy", "total_increasing")
            run = config(ha, "switch", "modbus_boiler_run")
            assert run["command_topic"] == f"{BASE}/set/modbus_boiler_run"
            assert (run["payload_on"], run["payload_off"], run["state_on"], run["state_off"]) == (
                "ON", "OFF", "ON", "OFF")
            alarm = config(ha, "binary_sensor", "modbus_boiler_alarm")
            assert alarm["payload_on"] == "ON" and "command_topic" not in alarm
            relay = config(ha, "switch", "wisblock_pump_relay")
            assert relay["command_topic"] == f"{BASE}/set/wisblock_pump_relay"
            assert relay["device"]["identifiers"] == [f"{NODE}_wisblock2"]
            assert relay["device"]["model"] == "RAK13001" and relay["device"]["via_device"] == NODE
            tank = config(ha, "sensor", "wisblock_tank_value")
            assert tank["device"]["model"] == "RAK5801" and tank["unit_of_measurement"] == "m"
            # nothing else is offered as a control: only writable points and relays have command topics
            commands = sorted(c["command_topic"].removeprefix(f"{BASE}/set/") for c in
                              (ha.json(t) for t in ha.configs()) if "command_topic" in c)
            assert commands == ["modbus_boiler_limit", "modbus_boiler_run", "modbus_boiler_setpoint",
                                "wisblock_pump_relay"]
            # the states they read, and a state update
            await ha.wait_for(lambda: value(ha, "modbus_boiler_flow_temp") == 61.2
                              and value(ha, "modbus_boiler_energy") == 1234 and value(ha, "modbus_boiler_alarm") == 0
                              and value(ha, "wisblock_tank_value") != "absent")
            assert value(ha, "wisblock_tank_value") == pytest.approx(2.0, abs=0.01)
            boiler.set_input(0, 655)
            await ha.wait_for(lambda: value(ha, "modbus_boiler_flow_temp") == 65.5)

    asyncio.run(asyncio.wait_for(body(), 60))


def test_set_round_trip_and_refusals(broker: Broker) -> None:
    boiler = FieldDevice(1, holding={5: 550, 6: 7}, inputs={0: 612}, coils={0: False})

    async def body() -> None:
        async with gateway_and_telemetry(broker, boiler) as (supervisor, telemetry), \
                watching(broker, f"{BASE}/#") as ha:
            state = supervisor.state
            events = state.events.subscribe()
            await ha.wait_for(lambda: value(ha, "modbus_boiler_setpoint") == 55.0 and
                              value(ha, "wisblock_pump_relay") == 0, timeout=15)
            publish = ha.client.publish
            await publish(f"{BASE}/set/modbus_boiler_setpoint", b"61.5", qos=1)
            await ha.wait_for(lambda: value(ha, "modbus_boiler_setpoint") == 61.5)
            assert telemetry.applied == 1
            # written to the device: a plain read of its register says so
            gateway = state.industrial
            assert gateway is not None
            found = gateway.find("boiler")
            assert found is not None
            assert await found[0].link.read("holding", 5, 1, 1, 1.0) == [615]
            kinds = []
            while (event := await events.get(5)) is not None and event.kind != EventKind.MODBUS_WRITE:
                kinds.append(event.kind)
            assert event is not None and event.data["read_back"] == 61.5, kinds

            # refused before anything is written: out of range, not a number, read-only, retained
            for topic, payload in ((f"{BASE}/set/modbus_boiler_setpoint", b"81"),
                                   (f"{BASE}/set/modbus_boiler_setpoint", b"warm"),
                                   (f"{BASE}/set/modbus_boiler_setpoint", b"nan"),
                                   (f"{BASE}/set/modbus_boiler_flow_temp", b"10"),
                                   (f"{BASE}/set/modbus_boiler_run", b"maybe")):
                await publish(topic, payload, qos=1)
            await until(lambda: telemetry.refused == 5)
            await asyncio.sleep(0.5)  # two more polls
            assert value(ha, "modbus_boiler_setpoint") == 61.5
            assert await found[0].link.read("holding", 5, 1, 1, 1.0) == [615]
            assert telemetry.applied == 1

            await publish(f"{BASE}/set/modbus_boiler_run", b"ON", qos=1)
            await publish(f"{BASE}/set/wisblock_pump_relay", b"ON", qos=1)
            await ha.wait_for(lambda: value(ha, "modbus_boiler_run") == 1 and value(ha, "wisblock_pump_relay") == 1)
            assert await found[0].link.read("coil", 0, 1, 1, 1.0) == [1]
            assert gateway.relays["pump"] is True
            assert telemetry.applied == 3

    asyncio.run(asyncio.wait_for(body(), 60))
