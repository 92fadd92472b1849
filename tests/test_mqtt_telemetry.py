"""MQTT telemetry and Home Assistant discovery against a real Mosquitto (Debian package ``mosquitto``).

Each test starts its own broker on a free loopback port (see test_mqtt_forwarder.Broker) and watches the
topics with an ordinary MQTT client, as Home Assistant would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from test_mqtt_forwarder import Broker, make_pki, running  # the real Mosquitto, started by the tests

from wisgate.api.mqtt.service import Telemetry
from wisgate.api.mqtt.settings import TelemetrySettings
from wisgate.clock import WallClock
from wisgate.lora.core.gateway import Gateway
from wisgate.services.events import Event, EventKind
from wisgate.services.readings import failed, number, text
from wisgate.services.state import BoardState, FanState, PowerState, ServiceHealth

SERIAL = "0123A1B2C3D4E5F6EE"
ID = SERIAL.lower()
NODE = f"wisgate_{ID}"
BASE = f"wisgate/{ID}"
ENTITY_CATEGORIES = {"config", "diagnostic"}
STATE_CLASSES = {"measurement", "total", "total_increasing"}


def board_state() -> BoardState:
    now = time.time()
    state = BoardState()
    state.put_readings([
        number("cpu.temperature", "CPU temperature", 48.25, "°C", "cpu", now),
        number("pcb.humidity", "PCB humidity", 41.0, "%RH", "temperature_sensor", now),
        number("fan.rpm", "fan speed", 2400, "RPM", "fan", now, digits=0),
        number("adc.ain1", "AIN1", 1.79912, "V", "adc", now, digits=4),
        text("secure_element.serial", "serial number", SERIAL, "secure_element", now),
        number("wisblock.tank.current", "tank current", 12.0, "mA", "wisblock1", now, digits=3),
        failed("modbus.meter.power", "meter power", "modbus.meter", now, "timeout", unit="W"),
    ])
    state.fan = FanState(48.25, 35.0, 2400, "curve", None, now)
    state.power = PowerState("ok", None, None, 0, 0, None, 30.0, None, None, 12.1, True, now)
    for name in ("monitor", "fan", "buzzer", "display", "lora"):
        state.services[name] = ServiceHealth(name, "running", 0, None, None, None, now)
    gateway = Gateway("0016c001ff1a7391", [], clock=WallClock())
    gateway.stats.module(0).channel(868_100_000).received = 5
    gateway.stats.module(2).channel(2_403_000_000).received = 1
    state.lora.gateway = gateway
    return state


def settings(broker: Broker, **extra: Any) -> TelemetrySettings:
    base: dict[str, Any] = {"port": broker.port, "reconnect_min_s": 0.05, "reconnect_max_s": 0.2,
                            "interval_s": 0.1, "birth_delay_max_s": 0.2}
    base.update(extra)
    return TelemetrySettings(**base)


class Watcher:
    """An MQTT client that keeps every message and the latest payload of every topic."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.messages: list[aiomqtt.Message] = []
        self.latest: dict[str, bytes] = {}
        self.arrived = asyncio.Event()

    async def collect(self) -> None:
        async for message in self.client.messages:
            self.messages.append(message)
            self.latest[str(message.topic)] = bytes(message.payload)  # type: ignore[arg-type]
            self.arrived.set()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.arrived.clear()
                await self.arrived.wait()

    def json(self, topic: str) -> Any:
        return json.loads(self.latest[topic])

    def config(self, component: str, object_id: str) -> dict[str, Any]:
        loaded: dict[str, Any] = self.json(f"homeassistant/{component}/{NODE}/{object_id}/config")
        return loaded

    def configs(self) -> dict[str, bytes]:
        return {t: p for t, p in self.latest.items() if t.startswith("homeassistant/") and t.endswith("/config")}

    def live(self, prefix: str) -> list[aiomqtt.Message]:
        """Messages published while we were subscribed (not the broker's retained copies)."""
        return [m for m in self.messages if str(m.topic).startswith(prefix) and not m.retain]


@contextlib.asynccontextmanager
async def watching(broker: Broker, *topics: str) -> AsyncIterator[Watcher]:
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        watcher = Watcher(client)
        for topic in topics or ("homeassistant/#", "wisgate/#"):
            await client.subscribe(topic, qos=1)
        task = asyncio.create_task(watcher.collect())
        try:
            yield watcher
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task


def telemetry(broker: Broker, state: BoardState, **extra: Any) -> Telemetry:
    grace = extra.pop("stale_grace_s", 30.0)
    return Telemetry(settings(broker, **extra), state, WallClock(), override_s=60.0, gateway_id="0016c001ff1a7391",
                     serial_wait_s=1.0, stale_grace_s=grace)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    (tmp_path / "broker").mkdir()
    made = Broker(tmp_path / "broker").start()
    yield made
    made.stop()


# -- discovery ---------------------------------------------------------------------------------------


def test_discovery_configs_for_every_sensor_and_control(broker: Broker) -> None:
    state = board_state()

    async def body() -> None:
        async with running(telemetry(broker, state)), watching(broker) as ha:
            await ha.wait_for(lambda: f"homeassistant/event/{NODE}/events/config" in ha.latest
                              and f"{BASE}/state/lora/2" in ha.latest)
            configs = ha.configs()
            assert all(m.retain for m in ha.messages)  # a late subscriber got them all: retained
            assert ha.latest[f"{BASE}/availability"] == b"online"
            ids = [json.loads(p)["unique_id"] for p in configs.values()]
            assert len(ids) == len(set(ids)) and all(i.startswith(f"{NODE}_") for i in ids)
            for topic, payload in configs.items():
                config = json.loads(payload)
                assert topic.split("/")[2] == NODE
                assert config["origin"]["name"] == "wisgate" and isinstance(config["origin"]["sw"], str)
                assert {"topic": f"{BASE}/availability"} in config["availability"]
                assert config.get("entity_category", "config") in ENTITY_CATEGORIES
                assert config.get("state_class", "measurement") in STATE_CLASSES
                assert isinstance(config["name"], str) and config["device"]["identifiers"]

            cpu = ha.config("sensor", "cpu_temperature")
            assert cpu["unique_id"] == f"{NODE}_cpu_temperature"
            assert (cpu["device_class"], cpu["state_class"], cpu["unit_of_measurement"]) == (
                "temperature", "measurement", "°C")
            assert cpu["device"]["identifiers"] == [NODE] and cpu["device"]["serial_number"] == SERIAL
            assert cpu["device"]["model_id"] == "RAK7391" and "via_device" not in cpu["device"]
            assert cpu["state_topic"] == f"{BASE}/reading/cpu_temperature" and "entity_category" not in cpu
            humidity = ha.config("sensor", "pcb_humidity")
            assert (humidity["device_class"], humidity["unit_of_measurement"]) == ("humidity", "%")
            assert ha.config("sensor", "fan_rpm")["entity_category"] == "diagnostic"
            serial = ha.config("sensor", "secure_element_serial")
            assert serial["entity_category"] == "diagnostic" and "state_class" not in serial

            tank = ha.config("sensor", "wisblock_tank_current")
            assert tank["device"]["via_device"] == NODE and tank["device"]["identifiers"] == [f"{NODE}_wisblock1"]
            assert (tank["device_class"], tank["unit_of_measurement"]) == ("current", "mA")
            meter = ha.config("sensor", "modbus_meter_power")
            assert meter["device"]["via_device"] == NODE and meter["device_class"] == "power"
            lora = ha.config("sensor", "lora2_received")
            assert lora["device"] == {"identifiers": [f"{NODE}_lora2"], "name": "LoRa module 2",
                                      "model": "LoRa concentrator", "manufacturer": "RAKwireless",
                                      "via_device": NODE}
            assert lora["state_class"] == "total_increasing"
            assert ha.config("sensor", "lora0_airtime_s")["device_class"] == "duration"

            duty = ha.config("number", "fan_duty_override")
            assert duty["command_topic"] == f"{BASE}/set/fan_duty" and (duty["min"], duty["max"]) == (0, 100)
            assert duty["entity_category"] == "config"
            oled = ha.config("text", "oled_text")
            assert oled["command_topic"] == f"{BASE}/set/oled" and oled["max"] == 5 * 21 + 4
            assert ha.config("button", "beep")["command_topic"] == f"{BASE}/set/beep"
            supply = ha.config("binary_sensor", "supply")
            assert supply["device_class"] == "power" and supply["payload_on"] == "ON"
            assert "control.override" in ha.config("event", "events")["event_types"]
            assert ha.config("sensor", "service_lora")["options"][:3] == ["starting", "running", "failed"]

            # the states the configs point at are there, retained
            assert ha.json(f"{BASE}/reading/cpu_temperature") == {
                "value": 48.2, "unit": "°C", "label": "CPU temperature", "ok": True, "error": None}
            assert ha.json(f"{BASE}/reading/modbus_meter_power")["ok"] is False
            assert ha.json(f"{BASE}/state/fan")["mode"] == "curve"
            assert ha.json(f"{BASE}/state/lora/0")["received"] == 5

    asyncio.run(body())


def test_a_changed_reading_is_published_and_an_unchanged_one_is_not(broker: Broker) -> None:
    state = board_state()

    async def body() -> None:
        async with running(telemetry(broker, state)), watching(broker, f"{BASE}/reading/#") as ha:
            await ha.wait_for(lambda: f"{BASE}/reading/cpu_temperature" in ha.latest)
            await asyncio.sleep(0.5)  # five rounds with nothing new
            assert ha.live(BASE) == []
            now = time.time()
            state.put_readings([number("cpu.temperature", "CPU temperature", 51.0, "°C", "cpu", now),
                                number("fan.rpm", "fan speed", 2400.2, "RPM", "fan", now, digits=0)])
            await ha.wait_for(lambda: ha.json(f"{BASE}/reading/cpu_temperature")["value"] == 51.0)
            await asyncio.sleep(0.3)
            # the rpm rounds to the same value: not sent again
            assert [str(m.topic) for m in ha.live(BASE)] == [f"{BASE}/reading/cpu_temperature"]
            state.put_readings([failed("cpu.error", "cpu", "cpu", time.time() + 1, "thermal zone unreadable")])
            await ha.wait_for(lambda: ha.json(f"{BASE}/reading/cpu_temperature")["ok"] is False)
            assert ha.json(f"{BASE}/reading/cpu_temperature")["error"] == "thermal zone unreadable"

    asyncio.run(body())


# -- commands ----------------------------------------------------------------------------------------


def test_commands_round_trip_and_bad_ones_are_refused(broker: Broker) -> None:
    state = board_state()
    sender = telemetry(broker, state)

    async def body() -> None:
        bus = state.events.subscribe()
        # a command left retained on the broker would run at every reconnect: it is refused
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            await client.publish(f"{BASE}/set/fan_duty", b"10", qos=1, retain=True)
        async with running(sender), watching(broker, f"{BASE}/#") as ha:
            await ha.wait_for(lambda: f"{BASE}/state/overrides" in ha.latest and sender.refused == 1)
            assert state.overrides.fan is None
            await ha.client.publish(f"{BASE}/set/fan_duty", b"", qos=1, retain=True)
            for bad in (b"nan", b"inf", b"150", b"-1", b"fast", b"\xff", b"1e400"):
                await ha.client.publish(f"{BASE}/set/fan_duty", bad, qos=1)
            await ha.client.publish(f"{BASE}/set/oled", b"x" * 22, qos=1)
            await ha.client.publish(f"{BASE}/set/fan_duty", b"42.5", qos=1)
            await ha.wait_for(lambda: ha.json(f"{BASE}/state/overrides")["fan_duty"] == 42.5)
            assert sender.refused == 9 and sender.applied == 1
            assert state.overrides.fan is not None and state.overrides.fan.duty == 42.5
            assert state.overrides.fan.until > time.monotonic() + 50
            event = await bus.get(timeout=2)
            assert event is not None and event.kind is EventKind.OVERRIDE and event.source == "mqtt"
            await ha.wait_for(lambda: any(json.loads(m.payload)["event_type"] == "control.override"  # type: ignore[arg-type]
                                          for m in ha.live(f"{BASE}/event")))

            await ha.client.publish(f"{BASE}/set/oled", b"Hello|from HA", qos=1)
            await ha.wait_for(lambda: ha.json(f"{BASE}/state/overrides")["oled"] == "Hello|from HA")
            assert state.overrides.oled is not None and state.overrides.oled.lines == ("Hello", "from HA")
            await ha.client.publish(f"{BASE}/set/beep", b"PRESS", qos=1)
            await ha.client.publish(f"{BASE}/set/fan_auto", b"PRESS", qos=1)
            await ha.wait_for(lambda: ha.json(f"{BASE}/state/overrides")["fan_duty"] is None)
            kinds: list[Event] = []
            while (got := await bus.get(timeout=0.5)) is not None:
                kinds.append(got)
            assert EventKind.BEEP in [e.kind for e in kinds]

    asyncio.run(body())


# -- restarts ----------------------------------------------------------------------------------------


def test_broker_restart_without_its_data_gets_discovery_and_states_back(broker: Broker) -> None:
    state = board_state()
    sender = telemetry(broker, state)

    async def body() -> None:
        async with running(sender):
            async with watching(broker) as ha:
                await ha.wait_for(lambda: f"{BASE}/state/lora/2" in ha.latest
                                  and f"homeassistant/event/{NODE}/events/config" in ha.latest)
                before = ha.configs()
            broker.stop()
            for stored in broker.workdir.glob("*.db"):
                stored.unlink()  # the broker comes back with no retained messages at all
            await asyncio.sleep(0.3)
            assert not sender.connected.is_set()
            broker.start()
            async with asyncio.timeout(5):
                await sender.connected.wait()
            async with watching(broker) as ha:
                await ha.wait_for(lambda: ha.configs() == before and f"{BASE}/state/lora/2" in ha.latest)
                assert ha.latest[f"{BASE}/availability"] == b"online"
                assert ha.json(f"{BASE}/reading/cpu_temperature")["value"] == 48.2
            assert sender.connects == 2

            # a broker that kept its data: nothing is sent again but the states
            async with watching(broker, "homeassistant/#") as ha:
                await ha.wait_for(lambda: len(ha.configs()) == len(before))
                broker.stop()
                await asyncio.sleep(0.3)
                broker.start()
                async with asyncio.timeout(5):
                    while sender.connects < 3:
                        await asyncio.sleep(0.05)
            async with watching(broker, "homeassistant/#") as ha:
                await ha.wait_for(lambda: ha.configs() == before)

    asyncio.run(body())


def test_home_assistant_online_resends_configs_after_a_delay(broker: Broker) -> None:
    state = board_state()

    async def body() -> None:
        async with running(telemetry(broker, state)), watching(broker, "homeassistant/#") as ha:
            await ha.wait_for(lambda: f"homeassistant/event/{NODE}/events/config" in ha.latest)
            count = len(ha.configs())
            assert ha.live("homeassistant/") == []
            sent = time.monotonic()
            await ha.client.publish("homeassistant/status", b"online", qos=1)
            await ha.wait_for(lambda: len(ha.live(f"homeassistant/sensor/{NODE}")) > 0)
            assert time.monotonic() - sent < 2
            await ha.wait_for(lambda: len({str(m.topic) for m in ha.live("homeassistant/") if m.payload}) == count)

    asyncio.run(body())


def test_stale_configs_are_cleared_and_the_will_says_offline(broker: Broker) -> None:
    state = board_state()
    ghost = f"homeassistant/sensor/{NODE}/old_sensor/config"
    other = "homeassistant/sensor/wisgate_someoneelse/cpu_temperature/config"

    async def body() -> None:
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            for topic in (ghost, other):
                await client.publish(topic, b'{"name": "gone"}', qos=1, retain=True)
        async with running(telemetry(broker, state, stale_grace_s=0.2)), \
                watching(broker, "homeassistant/#", f"{BASE}/availability") as ha:
            await ha.wait_for(lambda: ha.latest.get(ghost) == b"")
            assert ha.latest[other] == b'{"name": "gone"}'  # another board's config is left alone
        async with watching(broker, f"{BASE}/availability") as ha:
            await ha.wait_for(lambda: ha.latest.get(f"{BASE}/availability") == b"offline")

    asyncio.run(body())


def test_credentials_and_tls_with_a_client_certificate(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "secured").mkdir()
    pki = make_pki(tmp_path)
    secured = Broker(tmp_path / "secured", users={"wisgate": "right-password"}, tls=pki).start()
    state = board_state()

    async def body() -> None:
        refused = telemetry(secured, state, port=secured.auth_port, username="wisgate", password="wrong-password")
        task = asyncio.create_task(refused.run())
        await asyncio.sleep(0.8)
        assert not refused.connected.is_set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for port, extra in ((secured.auth_port, {"username": "wisgate", "password": "right-password"}),
                            (secured.tls_port, {"ca_file": pki.ca, "cert_file": pki.client_cert,
                                                "key_file": pki.client_key})):
            async with running(telemetry(secured, state, port=port, **extra)):
                pass

    try:
        asyncio.run(body())
    finally:
        secured.stop()
    warnings = [r.getMessage() for r in caplog.records if r.name == "wisgate.mqtt" and r.levelname == "WARNING"]
    assert len(warnings) == 1 and f"{secured.auth_port}" in warnings[0], warnings
    assert "wrong-password" not in caplog.text and "right-password" not in caplog.text


def test_turning_discovery_off_removes_the_boards_entities(broker: Broker) -> None:
    state = board_state()

    async def body() -> None:
        async with running(telemetry(broker, state)), watching(broker, "homeassistant/#") as ha:
            await ha.wait_for(lambda: len(ha.configs()) > 30)
        async with watching(broker, "homeassistant/#") as ha, \
                running(telemetry(broker, state, discovery=False, stale_grace_s=0.2)):
            await ha.wait_for(lambda: len(ha.configs()) > 30 and not any(ha.configs().values()))
        async with watching(broker, "homeassistant/#", f"{BASE}/reading/#") as ha:
            await ha.wait_for(lambda: f"{BASE}/reading/cpu_temperature" in ha.latest)
            assert ha.configs() == {}  # nothing retained is left

    asyncio.run(body())
