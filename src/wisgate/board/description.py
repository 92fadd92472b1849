"""A user's RAK7391 as TOML: power input, slot modules, external I2C devices, resistor options, jumpers, loads.

Validated once here (pydantic); every problem becomes one line naming its field, e.g.
``board.toml: power.input: expected one of 'dc', 'phoenix', 'poe-at', 'poe-bt'``. What the description *means*
for the board (collisions, budgets) is judged by ``wisgate.board.check``. See docs/board.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from wisgate.board.power import PowerInput
from wisgate.board.rak7391 import ADC_ADDRESS_RESISTORS, EXPANDER_BASE_ADDRESS, J39_JUMPERS, JUMPERS_BY_KEY
from wisgate.tomlfile import parse_toml, read_toml, validation_error

#: 7-bit addresses outside the reserved blocks (0x00-0x07, 0x78-0x7F).
I2C_FIRST, I2C_LAST = 0x08, 0x77


def _parse_address(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("an I2C address is a number such as 0x76, not true/false")
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            value = int(text, 16) if text.startswith("0x") else int(text, 10)
        except ValueError:
            raise ValueError(f"{value!r} is not an I2C address (write it as 0x76 or 118)") from None
    if isinstance(value, int) and not I2C_FIRST <= value <= I2C_LAST:
        raise ValueError(f"0x{value:02X} is outside the usable 7-bit range 0x08-0x77")
    return value


I2CAddress = Annotated[int, BeforeValidator(_parse_address)]

_JUMPER_PINS = {f"{j.pins[0]}-{j.pins[1]}": j.key for j in J39_JUMPERS}


def _parse_jumper(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    key = value.strip().lower().replace("_", "-").replace(" ", "-")
    key = _JUMPER_PINS.get(key, key)
    if key not in JUMPERS_BY_KEY:
        names = ", ".join(f"{j.key} ({j.pins[0]}-{j.pins[1]})" for j in J39_JUMPERS)
        raise ValueError(f"{value!r} is not a J39 jumper; use one of {names}")
    return key


JumperName = Annotated[str, BeforeValidator(_parse_jumper)]
FanVoltage = Literal["none", "5v", "12v"]
ExternalConnector = Literal["wisblock1", "wisblock2", "hat", "mpcie1", "mpcie2", "mpcie3"]
UsbPort = Literal["usb2", "usb3-1", "usb3-2"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _parse_inputs(value: Any) -> Any:
    values = value if isinstance(value, list) else [value]
    names = ", ".join(p.value for p in PowerInput)
    for item in values:
        if item not in tuple(PowerInput):
            raise ValueError(f"{item!r} is not a power input; use one of {names}")
    return values


class Power(_Strict):
    #: One input, or a list to describe a board wired to several (which the check rejects).
    input: Annotated[list[PowerInput], BeforeValidator(_parse_inputs)]
    #: Volts at the input connector: 10-28 V for DC/Phoenix, 42-57 V for PoE.
    voltage: float | None = Field(default=None, gt=0)
    #: The adapter's rating for DC/Phoenix (PoE limits are known from the datasheet).
    supply_watts: float | None = Field(default=None, gt=0)

    @property
    def inputs(self) -> list[PowerInput]:
        return self.input


class Board(_Strict):
    cm4: bool = True
    fan: FanVoltage = "none"
    #: Overrides the fan's estimated draw.
    fan_watts: float | None = Field(default=None, ge=0)
    #: i2c3 once the external connectors were moved by resistors (datasheet "I2C").
    external_i2c: Literal["i2c1", "i2c3"] = "i2c1"
    adc_address: I2CAddress = 0x4B
    expander1_address: I2CAddress = 0x27
    expander2_address: I2CAddress = 0x26
    jumpers: list[JumperName] = Field(default_factory=list)
    ethernet_2g5: bool = False
    hdmi_ma: int = Field(default=0, ge=0)

    @field_validator("adc_address")
    @classmethod
    def _adc_strap(cls, value: int) -> int:
        if value not in ADC_ADDRESS_RESISTORS:
            options = ", ".join(f"0x{a:02X} ({r})" for a, r in ADC_ADDRESS_RESISTORS.items())
            raise ValueError(f"the ADC's resistors allow only {options}")
        return value

    @field_validator("expander1_address", "expander2_address")
    @classmethod
    def _expander_strap(cls, value: int) -> int:
        if not EXPANDER_BASE_ADDRESS <= value <= EXPANDER_BASE_ADDRESS + 7:
            raise ValueError("a TPT29555's resistors allow only 0x20-0x27")
        return value


def _slot_shorthand(value: Any) -> Any:
    if value is None or isinstance(value, dict | SlotModule):
        return value
    if isinstance(value, str):
        return {"module": value}
    raise ValueError('a slot holds a module name ("RAK5146-SPI") or a table {module = "...", watts = 1.5}')


class SlotModule(_Strict):
    module: str = Field(min_length=1)
    #: Overrides the catalogue's estimated draw (required for modules the catalogue lacks).
    watts: float | None = Field(default=None, ge=0)


SlotEntry = Annotated[SlotModule | None, BeforeValidator(_slot_shorthand)]


class Slots(_Strict):
    mpcie1: SlotEntry = None
    mpcie2: SlotEntry = None
    mpcie3: SlotEntry = None
    m2: SlotEntry = None
    wisblock1: SlotEntry = None
    wisblock2: SlotEntry = None
    hat: SlotEntry = None

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    def filled(self) -> list[tuple[str, SlotModule]]:
        return [(key, entry) for key, entry in self if isinstance(entry, SlotModule)]


class I2CDevice(_Strict):
    name: str = Field(min_length=1)
    slot: ExternalConnector
    address: I2CAddress
    #: Other addresses the device can be strapped to (so a fix can name one).
    alternatives: list[I2CAddress] = Field(default_factory=list)


class UsbDevice(_Strict):
    name: str = Field(min_length=1)
    port: UsbPort
    ma: int | None = Field(default=None, ge=0)
    #: A catalogue module on a USB adapter (counts e.g. toward the concentrator limit).
    module: str | None = None


class Load(_Strict):
    name: str = Field(min_length=1)
    watts: float = Field(ge=0)
    #: "12v": the external 12 V pins (only true 12 V with PoE or a 12 V adapter); "5v": the 5 V pins.
    rail: Literal["5v", "12v", "input"] = "input"


class BoardDescription(_Strict):
    power: Power
    board: Board = Field(default_factory=Board)
    slots: Slots = Field(default_factory=Slots)
    i2c: list[I2CDevice] = Field(default_factory=list)
    usb: list[UsbDevice] = Field(default_factory=list)
    loads: list[Load] = Field(default_factory=list)


def parse_description(text: str, *, source: str = "board description") -> BoardDescription:
    """Parse TOML text; raises ConfigError with one line per problem."""
    return validate_description(parse_toml(text, source=source), source=source)


def validate_description(data: dict[str, Any], *, source: str) -> BoardDescription:
    try:
        return BoardDescription.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, BoardDescription, source) from None


def load_description(path: str | Path) -> BoardDescription:
    path = Path(path)
    return validate_description(read_toml(path), source=str(path))
