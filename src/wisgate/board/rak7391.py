"""The RAK7391 WisGate Connect datasheet as data: onboard I2C devices and their addresses.

Datasheet sections "I2C" (default addresses, moving the external bus to i2c3), "ADC" and "GPIO Expander"
(resistor-selectable addresses) and "Jumpers" (J39). Slots, modules and power live beside this module.
"""

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


# --- Datasheet "I2C": where external devices sit and how to move them ------------------------------------------

#: Connectors whose I2C pins join the external segment of i2c1 (datasheet "I2C": WisBlock, HAT, mPCIe slots).
EXTERNAL_I2C_CONNECTORS: tuple[str, ...] = ("wisblock1", "wisblock2", "hat", "mpcie1", "mpcie2", "mpcie3")

#: The resistor change that moves every external connector to i2c3 (GPIO4/GPIO5); onboard devices stay on i2c1.
#: The datasheet names the RTC, ADC and expanders as staying; that the OLED, fan controller, SHTC3 and ATECC608A
#: stay too is inferred (they are onboard parts, not connectors).
EXTERNAL_BUS_MOVE = (
    "move the external bus to i2c3: move the 0 Ω resistors R718/R719 to R716/R717, raise R720/R721 to 4.7K "
    "and remove R722/R723 (WisBlock, HAT and mPCIe I2C then sit on i2c3, GPIO4/GPIO5; enable it with "
    "dtoverlay=i2c3), while the onboard devices stay on i2c1"
)

#: Datasheet "I2C": removing these frees the HAT's ID_SC/ID_SD pins for a HAT ID EEPROM.
HAT_ID_RESISTORS = ("R711", "R712")


# --- Datasheet "ADC": the fitted resistor selects the SGM58031 address (R648 is fitted by default) ---------------

ADC_ADDRESS_RESISTORS: dict[int, str] = {0x48: "R650", 0x49: "R647", 0x4A: "R649", 0x4B: "R648"}


# --- Datasheet "GPIO Expander": three address pins per TPT29555, each set by one of two 4.7K resistors -----------


@dataclass(frozen=True)
class AddressStrap:
    """One address pin: fitting ``one`` (and leaving ``zero`` NC) sets the bit, the reverse clears it."""

    one: str
    zero: str


#: Address pins A0, A1, A2 of each expander. Derived from the datasheet tables row by row; the tables' typos
#: ("4.7" for "4.7K" in the 0x21/0x25 rows, U133's 0x27 row repeating U134's resistors) are corrected here.
EXPANDER_STRAPS: dict[str, tuple[AddressStrap, AddressStrap, AddressStrap]] = {
    "expander1": (AddressStrap("R701", "R704"), AddressStrap("R702", "R705"), AddressStrap("R703", "R706")),
    "expander2": (AddressStrap("R633", "R634"), AddressStrap("R635", "R636"), AddressStrap("R637", "R638")),
}

EXPANDER_BASE_ADDRESS = 0x20


def expander_resistors(expander: str, address: int) -> str:
    """The resistor fit for ``address``, e.g. ``R701=4.7K, R704=NC, R702=NC, R705=4.7K, R703=4.7K, R706=NC``."""
    offset = address - EXPANDER_BASE_ADDRESS
    if not 0 <= offset <= 7:
        raise ValueError(f"{expander}: 0x{address:02X} is not a TPT29555 address (0x20-0x27)")
    fits: list[str] = []
    for bit, strap in enumerate(EXPANDER_STRAPS[expander]):
        is_set = bool(offset >> bit & 1)
        fits.append(f"{strap.one}={'4.7K' if is_set else 'NC'}, {strap.zero}={'NC' if is_set else '4.7K'}")
    return ", ".join(fits)


# --- Datasheet "Jumpers": header J39 ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Jumper:
    pins: tuple[int, int]
    #: Name used in board descriptions.
    key: str
    #: Name printed in the datasheet.
    name: str
    function: str


J39_JUMPERS: tuple[Jumper, ...] = (
    Jumper((1, 2), "emmc-flash", "eMMC Flash", "forces USB booting, to flash a new image to the eMMC"),
    Jumper((3, 4), "eeprom-nwp", "EEPROM_nWP", "write-protects the EEPROM on the CM4"),
    Jumper((5, 6), "wifi-off", "WiFi OFF", "disables Wi-Fi"),
    Jumper((7, 8), "bt-off", "BT OFF", "disables Bluetooth"),
    Jumper((9, 10), "wake-up", "Wake up", "enables wake-up/reset of the CM4 by the RTC alarm"),
    Jumper((11, 12), "buzzer-on", "Buzzer ON", "enables the buzzer (GPIO13)"),
)

JUMPERS_BY_KEY: dict[str, Jumper] = {j.key: j for j in J39_JUMPERS}
