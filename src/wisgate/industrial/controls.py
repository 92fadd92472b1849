"""What each industrial reading is to a publisher (MQTT, Home Assistant, the dashboard): a measurement, an
on/off input, or a control with its limits; and the errors a write through one ends in.

Pure: built from the configuration, no bus, no pymodbus, so publishers may import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from wisgate.industrial.config import BIT_TABLES, DeviceSection, PointSection, WisblockSection
from wisgate.industrial.modbus.datatypes import DataType

#: sensor: a number or text; binary: on/off (a coil or input read, a bit, a WisBlock input);
#: number, switch, text: writable
Kind = Literal["sensor", "binary", "number", "switch", "text"]

#: raw range of each integer type (before scale and offset)
INTEGER_RANGES = {
    DataType.U16: (0, 0xFFFF), DataType.I16: (-0x8000, 0x7FFF), DataType.U32: (0, 0xFFFF_FFFF),
    DataType.I32: (-0x8000_0000, 0x7FFF_FFFF), DataType.U64: (0, 2**64 - 1), DataType.I64: (-(2**63), 2**63 - 1),
}
#: the largest finite f32 (an f64 point without limits takes this too: no dashboard needs more)
F32_MAX = 3.4028234663852886e38


class WriteError(ValueError):
    """A write refused before it reached the device (unknown point, read-only, out of range, wrong type)."""


class WriteFailed(RuntimeError):
    """A write the device did not take (no reply, an exception code, no link); ``kind`` says which."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Control:
    #: the reading it is published as (``modbus.boiler.setpoint``, ``wisblock.pump.relay``)
    reading: str
    kind: Kind
    #: the ModBUS device or WisBlock module it belongs to
    owner: str
    #: engineering limits of a number (the point's min/max, else what its type and scaling can hold)
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    #: characters a text point holds
    max_length: int | None = None
    #: a ModBUS device's template or a WisBlock module's model
    model: str = ""

    @property
    def writable(self) -> bool:
        return self.kind in ("number", "switch", "text")


def number_limits(point: PointSection) -> tuple[float, float]:
    """The engineering range a write of ``point`` may take: its min/max where given, else its type's."""
    dtype = point.dtype
    if dtype in INTEGER_RANGES or dtype is DataType.BITS:
        low, high = INTEGER_RANGES.get(dtype, (0, 2 ** (16 * point.span) - 1))
        ends = sorted((low * point.scale + point.offset, high * point.scale + point.offset))
    else:
        ends = [-F32_MAX, F32_MAX]
    return (point.min if point.min is not None else ends[0], point.max if point.max is not None else ends[1])


def point_control(device: DeviceSection, point: PointSection) -> Control:
    owner, model = f"modbus.{device.name}", device.template or "ModBUS device"
    reading = f"modbus.{device.name}.{point.name}"
    dtype = point.dtype
    if dtype is DataType.BOOL or point.bit is not None:
        writable = point.writable and point.table in BIT_TABLES
        return Control(reading, "switch" if writable else "binary", owner, model=model)
    if dtype is DataType.STRING:
        return Control(reading, "text" if point.writable else "sensor", owner, max_length=2 * point.span, model=model)
    if not point.writable:
        return Control(reading, "sensor", owner, model=model)
    low, high = number_limits(point)
    integer = dtype in INTEGER_RANGES or dtype is DataType.BITS
    step = abs(point.scale) if integer else 10.0 ** -point.digits
    return Control(reading, "number", owner, low, high, step, model=model)


def module_controls(module: WisblockSection) -> list[Control]:
    """A relay module's relay (a switch) and input (on/off); an analog module's readings are sensors."""
    base, owner = f"wisblock.{module.name}", f"wisblock.{module.name}"
    if module.module in ("RAK5801", "RAK5811"):
        quantity = "current" if module.module == "RAK5801" else "voltage"
        return [Control(f"{base}.{q}", "sensor", owner, model=module.module) for q in (quantity, "value")]
    out = [Control(f"{base}.relay", "switch", owner, model=module.module)]
    if module.input_line is not None:
        out.append(Control(f"{base}.input", "binary", owner, model=module.module))
    return out


def controls_of(devices: list[DeviceSection], modules: list[WisblockSection]) -> dict[str, Control]:
    """Every industrial reading's control, by reading name."""
    out = {c.reading: c for d in devices for c in (point_control(d, p) for p in d.points)}
    out.update((c.reading, c) for m in modules for c in module_controls(m))
    return out


def parse_command(control: Control, text: str) -> float | str | bool:
    """A command's text as the value to write: a number within the control's limits, ON/OFF (or 1/0,
    true/false) for a switch, text of at most its length. Raises WriteError saying what was wrong."""
    if not control.writable:
        raise WriteError(f"{control.reading} is read-only")
    stripped = text.strip()
    if control.kind == "switch":
        words = {"on": True, "1": True, "true": True, "off": False, "0": False, "false": False}
        if stripped.lower() not in words:
            raise WriteError(f"{control.reading} takes ON or OFF, not {stripped[:40]!r}")
        return words[stripped.lower()]
    if control.kind == "text":
        if control.max_length is not None and len(text) > control.max_length:
            raise WriteError(f"{control.reading} holds {control.max_length} characters, not {len(text)}")
        return text
    try:
        value = float(stripped)
    except ValueError:
        raise WriteError(f"{control.reading}: {stripped[:40]!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise WriteError(f"{control.reading}: {stripped[:40]!r} is not a finite number")
    if control.minimum is not None and value < control.minimum:
        raise WriteError(f"{value:g} is below {control.reading}'s minimum {control.minimum:g}")
    if control.maximum is not None and value > control.maximum:
        raise WriteError(f"{value:g} is above {control.reading}'s maximum {control.maximum:g}")
    return value
