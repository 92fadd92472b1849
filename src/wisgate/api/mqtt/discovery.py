"""Home Assistant MQTT discovery: one config per sensor and control, computed from the board state.

One device for the board (identifiers ``wisgate_<id>``), with the LoRa modules, the WisBlock slots and
the ModBUS field devices as sub-devices (``via_device``). Every unique_id is ``wisgate_<id>_<object>``,
so entities keep their Home Assistant settings across restarts. Entities are per component
(``<prefix>/<component>/wisgate_<id>/<object>/config``), which every Home Assistant version reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wisgate import __version__
from wisgate.api.mqtt.payloads import OLED_SEPARATOR, encode, is_error_reading
from wisgate.api.mqtt.topics import Identity, slug
from wisgate.services.events import EventKind
from wisgate.services.readings import Reading
from wisgate.services.state import BoardState

if TYPE_CHECKING:
    from wisgate.industrial.controls import Control

ORIGIN = {"name": "wisgate", "sw": __version__}
#: the OLED panel: five lines of about 21 characters
OLED_LINES = 5
OLED_CHARS = 21
OLED_MAX = OLED_LINES * OLED_CHARS + (OLED_LINES - 1) * len(OLED_SEPARATOR)
PRESS = "PRESS"

#: unit → (device_class, unit Home Assistant expects)
UNIT_CLASSES: dict[str, tuple[str, str]] = {
    "°C": ("temperature", "°C"), "%RH": ("humidity", "%"), "V": ("voltage", "V"), "mV": ("voltage", "mV"),
    "A": ("current", "A"), "mA": ("current", "mA"), "W": ("power", "W"), "kW": ("power", "kW"),
    "Wh": ("energy", "Wh"), "kWh": ("energy", "kWh"), "Hz": ("frequency", "Hz"), "Pa": ("pressure", "Pa"),
    "hPa": ("pressure", "hPa"), "kPa": ("pressure", "kPa"), "bar": ("pressure", "bar"),
    "VA": ("apparent_power", "VA"), "var": ("reactive_power", "var"), "°F": ("temperature", "°F"),
    "mbar": ("pressure", "mbar"), "psi": ("pressure", "psi"), "m³": ("volume", "m³"), "L": ("volume", "L"),
    "m³/h": ("volume_flow_rate", "m³/h"), "L/min": ("volume_flow_rate", "L/min"), "lx": ("illuminance", "lx"),
    "varh": ("reactive_energy", "varh"), "kvarh": ("reactive_energy", "kvarh"),
}
#: counters that only grow (a decrease is a new cycle for Home Assistant)
TOTAL_CLASSES = {"energy", "reactive_energy"}
#: onboard devices whose readings are about the board's health rather than the site
DIAGNOSTIC_SOURCES = {"fan", "rtc", "secure_element", "expander1", "expander2", "power"}
SERVICE_STATES = ["starting", "running", "failed", "finished", "stopped"]
FAN_MODES = ["closed-loop", "curve", "manual", "failsafe"]
ON_OFF: dict[str, Any] = {"payload_on": "ON", "payload_off": "OFF"}


def board_device(identity: Identity) -> dict[str, Any]:
    device: dict[str, Any] = {
        "identifiers": [identity.node], "name": "RAK7391 WisGate Connect", "manufacturer": "RAKwireless",
        "model": "WisGate Connect", "model_id": "RAK7391", "sw_version": __version__,
    }
    if identity.serial:
        device["serial_number"] = identity.serial
    if identity.configuration_url:
        device["configuration_url"] = identity.configuration_url
    return device


def sub_device(identity: Identity, key: str, name: str, model: str) -> dict[str, Any]:
    return {"identifiers": [f"{identity.node}_{key}"], "name": name, "model": model,
            "manufacturer": "RAKwireless" if key.startswith(("lora", "wisblock")) else None,
            "via_device": identity.node}


class Builder:
    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.main = board_device(identity)
        self.configs: dict[str, bytes] = {}

    def add(self, component: str, object_id: str, name: str, device: dict[str, Any] | None = None,
            availability: list[dict[str, str]] | None = None, **keys: Any) -> None:
        ident = self.identity
        config: dict[str, Any] = {
            "unique_id": f"{ident.node}_{object_id}", "name": name,
            "device": {k: v for k, v in (device or self.main).items() if v is not None}, "origin": ORIGIN,
            "availability": [{"topic": ident.availability}, *(availability or [])], "qos": 1,
        }
        if availability:
            config["availability_mode"] = "all"
        config.update({k: v for k, v in keys.items() if v is not None})
        self.configs[ident.config(component, object_id)] = encode(config)


def _reading_device(builder: Builder, reading: Reading, state: BoardState) -> dict[str, Any] | None:
    source, ident = reading.source, builder.identity
    if source.startswith("wisblock") and source.removeprefix("wisblock").isdigit():
        slot = source.removeprefix("wisblock")
        modules = state.industrial.modules if state.industrial is not None else []
        model = next((m.module for m in modules if str(m.slot) == slot), "WisBlock IO")
        return sub_device(ident, f"wisblock{slot}", f"WisBlock slot {slot}", model)
    if source.startswith("modbus."):
        name = source.removeprefix("modbus.")
        control = _control(state, reading)
        model = control.model if control is not None else "ModBUS device"
        return sub_device(ident, f"modbus_{slug(name)}", f"ModBUS {name}", model)
    return None


def _control(state: BoardState, reading: Reading) -> Control | None:
    """The industrial control of ``reading`` (a ModBUS point, a WisBlock signal), None for other readings."""
    return state.industrial.controls.get(reading.name) if state.industrial is not None else None


def _add_reading(builder: Builder, reading: Reading, state: BoardState) -> None:
    ident = builder.identity
    topic = ident.reading(reading.name)
    control = _control(state, reading)
    kind = control.kind if control is not None else "sensor"
    numeric = reading.number is not None or (reading.value is None and reading.unit != "")
    keys: dict[str, Any] = {"state_topic": topic, "value_template": "{{ value_json.value }}",
                            "json_attributes_topic": topic,
                            "json_attributes_template": "{{ {'error': value_json.error} | tojson }}"}
    device_class, unit = UNIT_CLASSES.get(reading.unit, (None, reading.unit or None))
    if kind in ("binary", "switch"):
        keys.update(value_template="{{ 'ON' if value_json.value else 'OFF' }}", **ON_OFF)
        if kind == "switch":
            keys.update(command_topic=ident.command(slug(reading.name)), state_on="ON", state_off="OFF")
    elif kind == "number":
        assert control is not None
        keys.update(command_topic=ident.command(slug(reading.name)), min=_plain(control.minimum),
                    max=_plain(control.maximum), step=_plain(control.step), mode="box",
                    device_class=device_class, unit_of_measurement=unit)
    elif kind == "text":
        assert control is not None
        keys.update(command_topic=ident.command(slug(reading.name)), min=0, max=control.max_length, mode="text")
    elif numeric:
        keys.update(device_class=device_class, unit_of_measurement=unit,
                    state_class="total_increasing" if device_class in TOTAL_CLASSES else "measurement",
                    suggested_display_precision=reading.digits)
    if (not numeric and kind == "sensor") or reading.source in DIAGNOSTIC_SOURCES:
        keys["entity_category"] = "diagnostic"
    # a reading that failed makes its entity unavailable (not zero): the reason is in its attributes
    available = [{"topic": topic, "value_template": "{{ 'online' if value_json.ok else 'offline' }}"}]
    component = {"binary": "binary_sensor"}.get(kind, kind)
    builder.add(component, slug(reading.name), reading.label, _reading_device(builder, reading, state),
                available, **keys)


def _plain(value: float | None) -> float | int | None:
    """A whole number as an int (``20``, not ``20.0``), as Home Assistant shows it."""
    return int(value) if value is not None and value.is_integer() and abs(value) < 2**53 else value


def discovery_configs(state: BoardState, identity: Identity, *, events: bool = True) -> dict[str, bytes]:
    """Every discovery topic of the board with its config now."""
    b = Builder(identity)
    for reading in state.readings.values():
        if not is_error_reading(reading):
            _add_reading(b, reading, state)
    services = state.services
    if state.fan is not None or "fan" in services:
        fan = identity.state("fan")
        b.add("sensor", "fan_mode", "Fan mode", state_topic=fan, value_template="{{ value_json.mode }}",
              device_class="enum", options=FAN_MODES, entity_category="diagnostic")
        b.add("binary_sensor", "fan_fault", "Fan fault", state_topic=fan, device_class="problem",
              value_template="{{ 'ON' if value_json.fault else 'OFF' }}", entity_category="diagnostic", **ON_OFF)
        b.add("number", "fan_duty_override", "Fan duty", state_topic=fan,
              value_template="{{ value_json.duty_percent }}", command_topic=identity.command("fan_duty"),
              min=0, max=100, step=1, mode="slider", unit_of_measurement="%", entity_category="config")
        b.add("button", "fan_automatic", "Fan automatic", command_topic=identity.command("fan_auto"),
              payload_press=PRESS, entity_category="config")
    if state.power is not None or "power" in services:
        power = identity.state("power")
        b.add("binary_sensor", "supply", "Supply", state_topic=power, device_class="power",
              value_template="{{ 'ON' if value_json.supply == 'ok' else 'OFF' }}", **ON_OFF)
        b.add("sensor", "supply_losses", "Supply losses", state_topic=power, value_template="{{ value_json.losses }}",
              state_class="total_increasing", entity_category="diagnostic")
        b.add("sensor", "supply_voltage", "Supply voltage", state_topic=power, value_template="{{ value_json.volts }}",
              device_class="voltage", unit_of_measurement="V", state_class="measurement")
        b.add("sensor", "shutdown_in", "Shutdown in", state_topic=power,
              value_template="{{ value_json.shutdown_in_s }}", device_class="duration", unit_of_measurement="s",
              entity_category="diagnostic")
    if state.environment is not None:
        b.add("binary_sensor", "climate_alarm", "Climate alarm", state_topic=identity.state("environment"),
              device_class="problem", value_template="{{ 'ON' if value_json.alarms else 'OFF' }}",
              json_attributes_topic=identity.state("environment"), **ON_OFF)
    for name in services:
        b.add("sensor", f"service_{slug(name)}", f"Service {name}", state_topic=identity.state("services"),
              value_template=f"{{{{ value_json['{name}'].state }}}}", device_class="enum", options=SERVICE_STATES,
              entity_category="diagnostic")
    _add_lora(b, state)
    overrides = identity.state("overrides")
    if "display" in services:
        b.add("text", "oled_text", "OLED text", state_topic=overrides, value_template="{{ value_json.oled }}",
              command_topic=identity.command("oled"), min=0, max=OLED_MAX, mode="text", entity_category="config")
    if "buzzer" in services:
        b.add("button", "beep", "Beep", command_topic=identity.command("beep"), payload_press=PRESS)
    if events:
        b.add("event", "events", "Events", state_topic=identity.event, event_types=[str(k) for k in EventKind])
    return b.configs


def _add_lora(b: Builder, state: BoardState) -> None:
    gateway = state.lora.gateway
    if gateway is None:
        return
    identity = b.identity
    b.add("sensor", "lora_uplinks", "LoRa uplinks", state_topic=identity.state("lora"),
          value_template="{{ value_json.uplinks }}", state_class="total_increasing")
    for board in sorted(set(gateway.links) | set(gateway.stats.modules)):
        device = sub_device(identity, f"lora{board}", f"LoRa module {board}", "LoRa concentrator")
        topic = identity.state(f"lora/{board}")
        lora_sensors: tuple[tuple[str, str, dict[str, Any]], ...] = (
            ("received", "received", {}), ("crc_ok", "CRC ok", {}),
            ("crc_bad", "CRC errors", {"entity_category": "diagnostic"}), ("forwarded", "forwarded", {}),
            ("tx_ok", "transmitted", {}),
            ("airtime_s", "airtime", {"device_class": "duration", "unit_of_measurement": "s"}),
        )
        for key, name, extra in lora_sensors:
            b.add("sensor", f"lora{board}_{key}", f"LoRa {board} {name}", device, state_topic=topic,
                  value_template=f"{{{{ value_json.{key} }}}}", state_class="total_increasing", **extra)
