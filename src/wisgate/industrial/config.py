"""The industrial gateway's configuration: ModBUS buses, devices and points, and WisBlock IO modules.

A device lists its points, or names a template (shipped in ``industrial/templates/`` or defined under
``[industrial.modbus.templates.NAME]``) and adds its own. Everything a poll would trip over later is
refused here, one line each: overlapping points, a type wider than its span, an unknown port or template.
"""

from __future__ import annotations

import functools
import re
import tomllib
from importlib import resources
from typing import Annotated, Any, Literal

from pydantic import Field, Strict, ValidationError, field_validator, model_validator

from wisgate.board.expander_lines import RELAY_LINE, SLOT_LINE_OFFSET
from wisgate.industrial.modbus.datatypes import WIDTH, DataType, Encoding, Order
from wisgate.services.readings import slug
from wisgate.settings import Host, Settings

Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
Table = Literal["holding", "input", "coil", "discrete"]
BIT_TABLES = ("coil", "discrete")
#: the WisBlock RS485 module (RAK5802) reaches the CM4 as a CH340 behind the board's USB hub (rak-software.md §5)
SLOT_PORTS = {"wisblock1": "/dev/ttyUSB0", "wisblock2": "/dev/ttyUSB1"}


class Section(Settings):
    pass


def reading_name(device: str, point: str) -> str:
    """The reading a device's point publishes (history, API, metrics, MQTT)."""
    return f"modbus.{device}.{point}"


class PointSection(Section):
    """One value of a device: where it lives, how it is encoded, what it means."""

    name: Name
    label: str = ""
    table: Table = "holding"
    address: Annotated[int, Field(ge=0, le=0xFFFF)]
    #: default: u16 on registers, bool on coils and discrete inputs
    type: Annotated[DataType, Strict(False)] | None = None
    #: registers spanned (strings and bit patterns; for other types it must not be less than theirs)
    count: Annotated[int, Field(ge=1, le=125)] | None = None
    #: one bit (0 = least significant) of a bit pattern or integer
    bit: Annotated[int, Field(ge=0, le=63)] | None = None
    byte_order: Order = "big"
    word_order: Order = "big"
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""
    #: decimals shown
    digits: Annotated[int, Field(ge=0, le=9)] = 1
    #: a read that moved this much or less from the value published is not published (nor historised);
    #: the latest read is still in the API's ``latest``. For numbers (not bool, string or bit points).
    deadband: Annotated[float, Field(ge=0)] = 0.0
    writable: bool = False
    #: engineering range a write must stay in
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PointSection:
        bits = self.table in BIT_TABLES
        dtype = self.dtype
        if bits and dtype is not DataType.BOOL:
            raise ValueError(f"a {self.table} holds one bit: its type is bool, not {dtype}")
        if not bits and dtype is DataType.BOOL:
            raise ValueError(f"bool is for coils and discrete inputs; a {self.table} register is u16, bits...")
        if dtype is DataType.STRING and self.count is None:
            raise ValueError("a string needs count (its length in registers)")
        width = WIDTH.get(dtype)
        if width is not None and self.count is not None and self.count < width:
            raise ValueError(f"type {dtype} spans {width} registers, wider than its count = {self.count}")
        if self.address + self.span > 0x10000:
            raise ValueError(f"address {self.address} + {self.span} registers runs past 65535")
        if self.writable and self.table in ("input", "discrete"):
            raise ValueError(f"{self.table} {'registers' if self.table == 'input' else 'inputs'} are read-only")
        if self.bit is not None and (self.bit >= 16 * self.span or dtype in (DataType.STRING, DataType.BOOL)
                                     or dtype in (DataType.F32, DataType.F64)):
            raise ValueError(f"bit {self.bit} does not exist in a {self.span}-register {dtype}")
        if self.bit is not None and self.writable:
            raise ValueError("a single bit of a register is read-only (write the whole register)")
        if self.scale == 0:
            raise ValueError("scale must not be 0")
        if self.deadband and (dtype in (DataType.STRING, DataType.BOOL, DataType.BITS) or self.bit is not None):
            raise ValueError(f"deadband is for numbers, not a {'bit' if self.bit is not None else dtype} point")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    @property
    def dtype(self) -> DataType:
        if self.type is not None:
            return self.type
        return DataType.BOOL if self.table in BIT_TABLES else DataType.U16

    @property
    def span(self) -> int:
        """Registers (or bits, on coils and discrete inputs) the point occupies."""
        return max(self.count or 0, WIDTH.get(self.dtype, 1))

    @property
    def encoding(self) -> Encoding:
        return Encoding(self.dtype, self.span, self.byte_order, self.word_order)


class TemplateSection(Section):
    description: str = ""
    points: list[PointSection]


class DeviceSection(Section):
    name: Name
    #: the ModBUS unit / slave address (1-247 on a serial line; TCP gateways forward it)
    device_id: Annotated[int, Field(ge=0, le=255)] = 1
    template: str | None = None
    points: list[PointSection] = []
    interval_s: Annotated[float, Field(gt=0.01, le=86_400)] = 5.0
    #: how long one request may wait for the answer
    timeout_s: Annotated[float, Field(gt=0, le=30)] = 1.0
    #: failed polls in a row before the device is disabled (then retried every retry_s)
    max_failures: Annotated[int, Field(ge=1, le=1000)] = 3
    retry_s: Annotated[float, Field(gt=0, le=86_400)] = 60.0
    #: unused registers a block read may span to join two points into one request
    max_gap: Annotated[int, Field(ge=0, le=100)] = 0
    #: registers (or coils) one request may read; some devices answer fewer than the spec's 125
    max_block: Annotated[int, Field(ge=1, le=125)] = 125


class BusSection(Section):
    """A serial line (RTU) or a TCP endpoint, with the devices on it."""

    name: Name
    #: a serial port: an absolute device path (/dev/ttyUSB0, /dev/serial/by-id/...) or a WisBlock slot
    #: (wisblock1, wisblock2)
    port: str | None = None
    #: or a ModBUS TCP server / gateway
    host: Host | None = None
    tcp_port: Annotated[int, Field(ge=1, le=65535)] = 502
    baudrate: Annotated[int, Field(ge=300, le=4_000_000)] = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    devices: list[DeviceSection] = []

    @field_validator("port")
    @classmethod
    def _port(cls, value: str | None) -> str | None:
        if value is None or value.startswith("/") or value in SLOT_PORTS:
            return value
        raise ValueError(f"unknown port {value!r}; give a device path (/dev/ttyUSB0, /dev/serial/by-id/...) or a "
                         f"WisBlock slot ({', '.join(SLOT_PORTS)})")

    @model_validator(mode="after")
    def _one_link(self) -> BusSection:
        if (self.port is None) == (self.host is None):
            raise ValueError("give either port (a serial line) or host (ModBUS TCP), not both or neither")
        ids = [d.device_id for d in self.devices]
        if self.port is not None and any(not 1 <= i <= 247 for i in ids):
            raise ValueError(f"device ids on a serial line are 1-247 (0 is broadcast), not "
                             f"{next(i for i in ids if not 1 <= i <= 247)}")
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"device ids repeat on this bus: {repeated}")
        return self

    @property
    def serial_port(self) -> str | None:
        return SLOT_PORTS.get(self.port, self.port) if self.port is not None else None

    @property
    def where(self) -> str:
        return self.serial_port or f"{self.host}:{self.tcp_port}"


@functools.cache
def shipped_templates() -> dict[str, TemplateSection]:
    """The templates in the package (``industrial/templates/NAME.toml``)."""
    out: dict[str, TemplateSection] = {}
    for item in resources.files("wisgate.industrial").joinpath("templates").iterdir():
        if item.name.endswith(".toml"):
            out[item.name.removesuffix(".toml")] = TemplateSection.model_validate(tomllib.loads(item.read_text()))
    return out


def overlaps(points: list[PointSection]) -> str | None:
    """The first pair of points that share a register, worded, or None.

    Points reading different bits of the same one register may share it."""
    ordered = sorted(points, key=lambda p: (p.table, p.address))
    for i, first in enumerate(ordered):
        end = first.address + first.span
        for second in ordered[i + 1:]:
            if second.table != first.table or second.address >= end:
                break
            split_bits = (first.bit is not None and second.bit is not None and first.bit != second.bit
                          and first.address == second.address and first.span == second.span == 1)
            if not split_bits:
                return (f"points {first.name!r} ({first.table} {first.address}-{end - 1}) and {second.name!r} "
                        f"(from {second.address}) overlap")
    return None


class ModbusSection(Section):
    buses: list[BusSection] = []
    templates: dict[str, TemplateSection] = {}

    @model_validator(mode="before")
    @classmethod
    def _expand_templates(cls, data: Any) -> Any:
        """Put each template's points into its devices, so every later check sees the whole device."""
        if not isinstance(data, dict):
            return data
        try:
            inline = {k: TemplateSection.model_validate(v) for k, v in (data.get("templates") or {}).items()}
        except (ValidationError, AttributeError):
            return data  # the field validation below words it
        known = {**shipped_templates(), **inline}
        for bus in data.get("buses") or []:
            for device in (bus.get("devices") or []) if isinstance(bus, dict) else []:
                if not isinstance(device, dict) or device.get("template") is None:
                    continue
                template = known.get(str(device["template"]))
                if template is None:
                    raise ValueError(f"device {device.get('name')!r}: unknown template {device['template']!r}; "
                                     f"known: {', '.join(sorted(known))}")
                own = list(device.get("points") or [])
                names = {p.get("name") for p in own if isinstance(p, dict)}
                inherited = [p.model_dump(exclude_defaults=True) for p in template.points if p.name not in names]
                device["points"] = inherited + own
        return data

    @model_validator(mode="after")
    def _devices(self) -> ModbusSection:
        seen: set[str] = set()
        for bus in self.buses:
            for device in bus.devices:
                if device.name in seen:
                    raise ValueError(f"device names must be unique; repeated: {device.name!r}")
                seen.add(device.name)
                names = [p.name for p in device.points]
                repeated = sorted({n for n in names if names.count(n) > 1})
                if repeated:
                    raise ValueError(f"device {device.name!r}: point names repeat: {repeated}")
                if not device.points:
                    raise ValueError(f"device {device.name!r} has no points (give points or a template)")
                clash = overlaps(device.points)
                if clash:
                    raise ValueError(f"device {device.name!r}: {clash}")
        _one_id_each(self.buses)
        return self


def _one_id_each(buses: list[BusSection]) -> None:
    """MQTT topics and Home Assistant ids write ``modbus.DEVICE.POINT`` with ``_`` for the dots, and names may
    hold ``_`` themselves: device ``a_b`` point ``c`` and device ``a`` point ``b_c`` would be one entity."""
    ids: dict[str, tuple[str, str]] = {}
    for device in (d for bus in buses for d in bus.devices):
        for point in device.points:
            key = slug(reading_name(device.name, point.name))
            first = ids.setdefault(key, (device.name, point.name))
            if first != (device.name, point.name):
                raise ValueError(
                    f"device {first[0]!r} point {first[1]!r} and device {device.name!r} point {point.name!r} "
                    f"would share the MQTT topic and Home Assistant id {key!r} ('.' becomes '_'): rename one")


WisblockModule = Literal["RAK5801", "RAK5811", "RAK13001", "RAK13007"]


class WisblockSection(Section):
    """A WisBlock IO module in a slot. Lines and ADC channel default to RAK's slot wiring (docs/industrial.md)."""

    name: Name
    slot: Literal[1, 2]
    module: WisblockModule
    #: engineering values at the bottom and top of the signal (4-20 mA or 0-5 V), e.g. [0, 10] for 0-10 bar
    range: Annotated[tuple[float, float], Strict(False)] | None = None
    unit: str = ""
    digits: Annotated[int, Field(ge=0, le=9)] = 2
    interval_s: Annotated[float, Field(gt=0.05, le=3600)] = 1.0
    #: overrides of the slot wiring (expander 0x26 lines, SGM58031 channel)
    adc_channel: Annotated[int, Field(ge=0, le=3)] | None = None
    enable_line: Annotated[int, Field(ge=0, le=15)] | None = None
    relay_line: Annotated[int, Field(ge=0, le=15)] | None = None
    #: RAK13001's opto-isolated input: the expander 0x26 line it reaches (no RAK example shows which, so no
    #: default), read every 20 ms and debounced into events
    input_line: Annotated[int, Field(ge=0, le=15)] | None = None
    #: a change counts once the new level has held this long
    debounce_s: Annotated[float, Field(ge=0, le=10)] = 0.05
    #: the input reads 0 when its contact is closed
    active_low: bool = False

    @field_validator("module", mode="before")
    @classmethod
    def _module_name(cls, value: Any) -> Any:
        return re.sub(r"[\s_-]+", "", value).upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _range(self) -> WisblockSection:
        if self.range is not None and self.range[0] == self.range[1]:
            raise ValueError("range needs two different values (engineering value at the bottom and top)")
        if self.range is not None and self.module not in ("RAK5801", "RAK5811"):
            raise ValueError(f"range is for analog modules (RAK5801, RAK5811), not {self.module}")
        if self.input_line is not None and self.module != "RAK13001":
            raise ValueError(f"input_line is for the RAK13001's opto input, not {self.module}")
        relay = self.relay_line if self.relay_line is not None else RELAY_LINE + SLOT_LINE_OFFSET[self.slot]
        if self.input_line == relay:
            raise ValueError(f"input_line {self.input_line} is the relay's line")
        return self


class IndustrialSection(Section):
    """Field devices on ModBUS and WisBlock IO modules (docs/industrial.md)."""

    enabled: bool = True
    #: On the simulated board with no buses configured, poll its simulated field devices (an energy meter,
    #: a temperature/humidity transmitter and a heating controller on a loopback ModBUS TCP line).
    sim_field_devices: bool = True
    modbus: ModbusSection = ModbusSection()
    wisblock: list[WisblockSection] = []

    @model_validator(mode="after")
    def _slots(self) -> IndustrialSection:
        names = [m.name for m in self.wisblock]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"WisBlock module names repeat: {repeated}")
        slots = [m.slot for m in self.wisblock]
        taken = sorted({s for s in slots if slots.count(s) > 1})
        if taken:
            raise ValueError(f"WisBlock slot {taken[0]} holds one module, not {slots.count(taken[0])}")
        return self

    @property
    def configured(self) -> bool:
        return bool(self.modbus.buses or self.wisblock)
