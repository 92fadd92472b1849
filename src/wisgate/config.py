"""The daemon's configuration: one TOML file, validated once at the edge.

Every section is optional; defaults run the simulated board where there is no ``/dev/i2c-1``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from wisgate.board.rak7391 import ONBOARD_ADDRESSES
from wisgate.errors import ConfigError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BoardSection(Section):
    #: ``auto`` (hardware if /dev/i2c-1 exists, else simulated), ``sim`` or a ``/dev/i2c-N`` path.
    bus: str = "auto"
    #: Onboard devices moved by resistor options, e.g. ``adc = 0x48``.
    addresses: dict[str, Annotated[int, Field(ge=0x03, le=0x77)]] = {}

    @field_validator("bus")
    @classmethod
    def _bus(cls, value: str) -> str:
        if value not in ("auto", "sim") and not value.startswith("/dev/i2c-"):
            raise ValueError(f"must be 'auto', 'sim' or a /dev/i2c-N path, not {value!r}")
        return value

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(ONBOARD_ADDRESSES))
        if unknown:
            raise ValueError(f"unknown onboard device(s) {unknown}; known: {sorted(ONBOARD_ADDRESSES)}")
        return value


class MonitorSection(Section):
    #: Seconds between two readings of every sensor.
    interval_s: Annotated[float, Field(gt=0.05, le=3600)] = 5.0


class DisplaySection(Section):
    enabled: bool = True
    #: Seconds between two screen updates.
    interval_s: Annotated[float, Field(gt=0.05, le=3600)] = 1.0
    #: On the simulated board, save what the OLED shows to this PNG after each update.
    png: Path | None = None


class Config(Section):
    board: BoardSection = BoardSection()
    monitor: MonitorSection = MonitorSection()
    display: DisplaySection = DisplaySection()
    log_level: str = "INFO"


def _describe(error: ValidationError, source: str) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    return f"{source}: " + "; ".join(problems)


def parse_config(data: dict[str, Any], *, source: str = "config") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None


def load_config(path: Path | None) -> Config:
    """The configuration in ``path``, or the defaults when ``path`` is None."""
    if path is None:
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, source=str(path))
