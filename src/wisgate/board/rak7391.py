"""The RAK7391 WisGate Connect datasheet as data: onboard I2C devices and their addresses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OnboardDevice:
    name: str
    part: str
    role: str
    address: int
    #: Up to 5 characters for the scan grid.
    tag: str
    #: Addresses the board's resistor options allow (datasheet "I2C", "ADC", "GPIO Expander").
    alternatives: tuple[int, ...] = ()


ONBOARD_DEVICES: tuple[OnboardDevice, ...] = (
    OnboardDevice("oled", "SSD1306", "OLED screen", 0x3C, "OLED"),
    OnboardDevice("expander1", "TPT29555", "GPIO expander #1 (U134)", 0x27, "IOX1", tuple(range(0x20, 0x28))),
    OnboardDevice("expander2", "TPT29555", "GPIO expander #2 (U133)", 0x26, "IOX2", tuple(range(0x20, 0x28))),
    OnboardDevice("adc", "SGM58031", "ADC", 0x4B, "ADC", (0x48, 0x49, 0x4A, 0x4B)),
    OnboardDevice("fan", "EMC2301", "fan controller", 0x2F, "FAN"),
    OnboardDevice("temperature_sensor", "SHTC3", "PCB temperature sensor", 0x70, "SHTC3"),
    OnboardDevice("rtc", "PCF85063A", "real-time clock", 0x51, "RTC"),
    OnboardDevice("secure_element", "ATECC608A", "secure IC", 0x60, "ATECC"),
)

ONBOARD_ADDRESSES: dict[str, int] = {d.name: d.address for d in ONBOARD_DEVICES}
ONBOARD_BY_NAME: dict[str, OnboardDevice] = {d.name: d for d in ONBOARD_DEVICES}
