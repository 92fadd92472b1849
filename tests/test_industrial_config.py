"""The industrial device map: templates expand into devices; every mistake is one line naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wisgate.config import parse_config
from wisgate.errors import ConfigError
from wisgate.industrial.config import reading_name, shipped_templates
from wisgate.industrial.modbus.codec import DataType
from wisgate.services.readings import slug
from wisgate.tomlfile import parse_toml


def config(text: str) -> Any:
    return parse_config(parse_toml(text, source="t.toml"), source="t.toml")


def error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        config(text)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


BUS = """
[[industrial.modbus.buses]]
name = "line1"
port = "wisblock1"
baudrate = 19200
[[industrial.modbus.buses.devices]]
name = "meter"
device_id = 3
"""


def test_template_points_with_device_overrides() -> None:
    parsed = config(BUS + 'template = "energy-meter"\n[[industrial.modbus.buses.devices.points]]\n'
                    'name = "voltage"\ntable = "input"\naddress = 0\ntype = "f32"\nword_order = "little"\n')
    bus = parsed.industrial.modbus.buses[0]
    assert bus.serial_port == "/dev/ttyUSB0"
    device = bus.devices[0]
    names = [p.name for p in device.points]
    assert set(names) == {p.name for p in shipped_templates()["energy-meter"].points}
    voltage = next(p for p in device.points if p.name == "voltage")
    assert voltage.word_order == "little"
    assert voltage.span == 2 and voltage.dtype is DataType.F32


def test_inline_template() -> None:
    parsed = config("""
[industrial.modbus.templates.pump]
points = [{ name = "speed", address = 10, type = "u16", writable = true, min = 0, max = 3000, unit = "rpm" }]
[[industrial.modbus.buses]]
name = "plc"
host = "127.0.0.1"
tcp_port = 5020
devices = [{ name = "pump1", template = "pump" }, { name = "pump2", device_id = 2, template = "pump" }]
""")
    devices = parsed.industrial.modbus.buses[0].devices
    assert [d.points[0].max for d in devices] == [3000, 3000]


def test_coils_default_to_bool() -> None:
    parsed = config(BUS + 'points = [{ name = "run", table = "coil", address = 0, writable = true }]')
    assert parsed.industrial.modbus.buses[0].devices[0].points[0].dtype is DataType.BOOL


@pytest.mark.parametrize(("extra", "expected"), [
    ('points = [{ name = "a", address = 0, type = "f32" }, { name = "b", address = 1 }]',
     "industrial.modbus: device 'meter': points 'a' (holding 0-1) and 'b' (from 1) overlap"),
    ('points = [{ name = "a", address = 0, type = "f64", count = 2 }]',
     "type f64 spans 4 registers, wider than its count = 2"),
    ('points = [{ name = "a", address = 0, type = "string" }]', "a string needs count"),
    ('points = [{ name = "a", table = "input", address = 0, writable = true }]', "input registers are read-only"),
    ('points = [{ name = "a", table = "coil", address = 0, type = "u16" }]', "its type is bool, not u16"),
    ('points = [{ name = "a", address = 0, type = "u17" }]', "type: should be"),
    ('points = [{ name = "a", address = 65535, type = "u32" }]', "runs past 65535"),
    ('template = "no-such"', "unknown template 'no-such'; known: energy-meter, th-sensor"),
    ("", "device 'meter' has no points"),
    ('points = [{ name = "a", table = "coil", address = 0, deadband = 1 }]', "deadband is for numbers, not a bool"),
    ('points = [{ name = "a", address = 0, type = "bits", bit = 2, deadband = 1 }]',
     "deadband is for numbers, not a bit"),
])
def test_bad_points_are_one_line(extra: str, expected: str) -> None:
    assert expected in error(BUS + extra)


def test_unknown_port() -> None:
    message = error(BUS.replace('"wisblock1"', '"ttyUSB0"') + 'template = "th-sensor"')
    assert "industrial.modbus.buses[0].port: unknown port 'ttyUSB0'" in message


def test_serial_device_ids() -> None:
    assert "device ids on a serial line are 1-247 (0 is broadcast), not 0" in error(
        BUS.replace("device_id = 3", "device_id = 0") + 'template = "th-sensor"')


def test_port_or_host() -> None:
    message = error(BUS.replace('port = "wisblock1"', 'port = "/dev/ttyS0"\nhost = "x"') + 'template = "th-sensor"')
    assert "either port" in message


def test_repeated_device_ids_and_names() -> None:
    second = '[[industrial.modbus.buses.devices]]\nname = "{}"\ndevice_id = {}\ntemplate = "th-sensor"\n'
    first = BUS + 'template = "th-sensor"\n'
    assert "device ids repeat on this bus: [3]" in error(first + second.format("m2", 3))
    assert "device names must be unique; repeated: 'meter'" in error(first + second.format("meter", 4))


def test_wisblock_modules() -> None:
    parsed = config('[[industrial.wisblock]]\nname = "pressure"\nslot = 1\nmodule = "rak5801"\nrange = [0, 10]\n'
                    'unit = "bar"\n')
    assert parsed.industrial.wisblock[0].module == "RAK5801"
    assert "WisBlock slot 1 holds one module" in error(
        '[[industrial.wisblock]]\nname = "a"\nslot = 1\nmodule = "RAK5801"\n'
        '[[industrial.wisblock]]\nname = "b"\nslot = 1\nmodule = "RAK5811"\n')
    assert "range is for analog modules" in error(
        '[[industrial.wisblock]]\nname = "a"\nslot = 2\nmodule = "RAK13001"\nrange = [0, 1]\n')


def test_two_points_that_would_be_one_mqtt_entity_are_refused() -> None:
    """'.' becomes '_' in MQTT topics and Home Assistant ids, and names may hold '_': a_b.c and a.b_c collide."""
    message = error("""
[[industrial.modbus.buses]]
name = "plc"
host = "127.0.0.1"
[[industrial.modbus.buses.devices]]
name = "a_b"
points = [{ name = "c", address = 0 }]
[[industrial.modbus.buses]]
name = "plc2"
host = "127.0.0.2"
[[industrial.modbus.buses.devices]]
name = "a"
points = [{ name = "b_c", address = 0 }]
""")
    assert message == ("t.toml: industrial.modbus: device 'a_b' point 'c' and device 'a' point 'b_c' would share "
                       "the MQTT topic and Home Assistant id 'modbus_a_b_c' ('.' becomes '_'): rename one")


_WORDS = st.from_regex(r"[ab][ab-]{0,2}", fullmatch=True)


@st.composite
def device_points(draw: st.DrawFn) -> dict[str, list[str]]:
    """Devices and points, often cut from one '_'-joined text at different places (a_b + c, a + b_c)."""
    devices: dict[str, list[str]] = {}
    for _ in range(draw(st.integers(1, 5))):
        words = draw(st.lists(_WORDS, min_size=2, max_size=4))
        cut = draw(st.integers(1, len(words) - 1))
        device, point = "_".join(words[:cut]), "_".join(words[cut:])
        if point not in devices.setdefault(device, []):
            devices[device].append(point)
    return devices


@settings(max_examples=300, deadline=None)
@given(devices=device_points())
def test_accepted_point_names_each_have_their_own_mqtt_id(devices: dict[str, list[str]]) -> None:
    """Whatever the names: the configuration is refused naming the pair, or every point's id is its own."""
    raw = {"industrial": {"modbus": {"buses": [{"name": "plc", "host": "127.0.0.1", "devices": [
        {"name": device, "device_id": n + 1, "points": [{"name": p, "address": i} for i, p in enumerate(points)]}
        for n, (device, points) in enumerate(devices.items())]}]}}}
    pairs = [(d, p) for d, points in devices.items() for p in points]
    ids = [slug(reading_name(d, p)) for d, p in pairs]
    try:
        parse_config(raw, source="t.toml")
    except ConfigError as exc:
        assert "would share the MQTT topic and Home Assistant id" in str(exc)
        assert len(set(ids)) < len(ids)  # refused only when two would really share one
    else:
        assert len(set(ids)) == len(ids)
    # the ids of names without '_' are what they always were: every '.' a '_'
    for (device, point), made in zip(pairs, ids, strict=True):
        if "_" not in device + point:
            assert made == f"modbus_{device}_{point}"
