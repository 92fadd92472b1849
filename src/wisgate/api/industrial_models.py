"""Response bodies of the industrial endpoints, field by field: ModBUS buses, devices and points with their
latest readings, WisBlock IO modules, and what a write answers."""

from __future__ import annotations

from pydantic import Field

from wisgate.api.body import Body
from wisgate.api.models import ReadingOut


class BusOut(Body):
    name: str
    where: str = Field(description="the serial port or TCP address")
    requests: int
    failures: int
    last_round_s: float | None = Field(description="seconds the last polling round took")


class PointOut(Body):
    name: str
    table: str = Field(description="holding, input, coil or discrete")
    address: int
    type: str
    registers: int
    byte_order: str
    word_order: str
    scale: float
    offset: float
    unit: str
    digits: int
    deadband: float
    writable: bool
    min: float | None
    max: float | None
    reading: ReadingOut | None = Field(description="its latest reading (null before the first poll)")
    latest: bool | int | float | str | None = Field(description="the value of the latest read, before the deadband "
                                             "(null: the read failed, or none yet)")


class DeviceOut(Body):
    name: str
    bus: str
    device_id: int
    status: str = Field(description="unknown, ok, failing or disabled")
    reason: str | None = Field(description="why the last poll failed")
    failures: int = Field(description="polls failed in a row")
    requests: int
    errors: int
    error_rate: float
    last_ok: float | None
    poll_s: float | None
    next_poll_s: float
    points: list[PointOut]


class WisblockOut(Body):
    name: str
    slot: int
    module: str
    range: tuple[float, float] | None
    unit: str
    condition: str | None = Field(description="a broken loop or an out-of-range signal, while it lasts")
    adc_channel: int | None
    enable_line: int | None
    relay_line: int | None
    readings: list[ReadingOut]


class IndustrialOut(Body):
    buses: list[BusOut]
    devices: list[DeviceOut]
    wisblock: list[WisblockOut]


class PointWritten(Body):
    device: str
    point: str
    written: float | str
    read_back: ReadingOut


class RelaySet(Body):
    module: str
    on: bool
