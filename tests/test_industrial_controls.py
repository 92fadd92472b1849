"""What each industrial point is to a publisher, and command values checked against its limits."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wisgate.industrial.config import DeviceSection, WisblockSection
from wisgate.industrial.controls import WriteError, controls_of, parse_command


def device(*points: dict[str, Any]) -> DeviceSection:
    return DeviceSection.model_validate({"name": "dev", "points": list(points)})


CONTROLS = controls_of([device(
    {"name": "setpoint", "address": 0, "scale": 0.1, "offset": -10, "writable": True, "max": 80},
    {"name": "raw", "address": 1, "type": "u32", "writable": True},
    {"name": "gain", "address": 3, "type": "f32", "writable": True, "digits": 3},
    {"name": "temp", "table": "input", "address": 0, "type": "i16"},
    {"name": "flag", "address": 5, "bit": 2},
    {"name": "run", "table": "coil", "address": 0, "writable": True},
    {"name": "lamp", "table": "coil", "address": 1},
    {"name": "door", "table": "discrete", "address": 0},
    {"name": "label", "address": 10, "type": "string", "count": 4, "writable": True})],
    [WisblockSection.model_validate({"name": "pump", "slot": 2, "module": "RAK13007"}),
     WisblockSection.model_validate({"name": "tank", "slot": 1, "module": "RAK5801"})])


def test_kinds_and_limits() -> None:
    kinds = {name.removeprefix("modbus.dev."): c.kind for name, c in CONTROLS.items()}
    assert kinds == {"setpoint": "number", "raw": "number", "gain": "number", "temp": "sensor", "flag": "binary",
                     "run": "switch", "lamp": "binary", "door": "binary", "label": "text",
                     "wisblock.pump.relay": "switch", "wisblock.tank.current": "sensor",
                     "wisblock.tank.value": "sensor"}
    setpoint = CONTROLS["modbus.dev.setpoint"]
    # u16 0..65535 scaled by 0.1 and offset -10; max from the point
    assert (setpoint.minimum, setpoint.maximum, setpoint.step) == (-10.0, 80.0, pytest.approx(0.1))
    raw = CONTROLS["modbus.dev.raw"]
    assert (raw.minimum, raw.maximum, raw.step) == (0, 2**32 - 1, 1.0)
    assert CONTROLS["modbus.dev.gain"].step == pytest.approx(0.001)
    assert CONTROLS["modbus.dev.label"].max_length == 8


def test_switch_and_text_commands() -> None:
    run = CONTROLS["modbus.dev.run"]
    assert [parse_command(run, t) for t in ("ON", "off", " 1 ", "false")] == [True, False, True, False]
    with pytest.raises(WriteError, match="takes ON or OFF, not 'maybe'"):
        parse_command(run, "maybe")
    assert parse_command(CONTROLS["modbus.dev.label"], "ABCDEFGH") == "ABCDEFGH"
    with pytest.raises(WriteError, match="holds 8 characters, not 9"):
        parse_command(CONTROLS["modbus.dev.label"], "ABCDEFGHI")
    with pytest.raises(WriteError, match="read-only"):
        parse_command(CONTROLS["modbus.dev.temp"], "1")


@given(st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20))
def test_number_commands_are_in_range_or_refused(value: float | str) -> None:
    setpoint = CONTROLS["modbus.dev.setpoint"]
    text = repr(value) if isinstance(value, float) else value
    try:
        parsed = parse_command(setpoint, text)
    except WriteError as exc:
        assert str(exc)
        return
    assert isinstance(parsed, float) and math.isfinite(parsed) and -10.0 <= parsed <= 80.0
