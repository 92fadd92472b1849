"""Power inputs and limits of the RAK7391 (datasheet "Power", "PSU Input", "PoE HAT", "USB 2.0 Hub",
"USB 3.0 Hub", "Full-Sized HDMI 2.0 Connector", "Fan Connector").

Datasheet facts are constants here; our own estimates carry ``ESTIMATE`` in their source note.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PowerInput(StrEnum):
    DC = "dc"
    PHOENIX = "phoenix"
    POE_AT = "poe-at"
    POE_BT = "poe-bt"


INPUT_LABELS: dict[PowerInput, str] = {
    PowerInput.DC: "DC jack",
    PowerInput.PHOENIX: "Phoenix terminal",
    PowerInput.POE_AT: "PoE 802.3at module",
    PowerInput.POE_BT: "PoE 802.3bt module",
}

#: Datasheet "PSU Input": DC jack and Phoenix terminal accept 10-28 V DC; only one input at a time.
DC_VOLTAGE_RANGE = (10.0, 28.0)
#: Datasheet "PoE HAT": PoE input 42-57 V; the module outputs 12 V.
POE_VOLTAGE_RANGE = (42.0, 57.0)
POE_OUTPUT_VOLTS = 12.0
#: Datasheet "PoE HAT": AT max 12 V 2.5 A (30 W), BT max 12 V 6 A (72 W).
POE_LIMIT_AMPS: dict[PowerInput, float] = {PowerInput.POE_AT: 2.5, PowerInput.POE_BT: 6.0}
POE_LIMIT_WATTS: dict[PowerInput, float] = {k: POE_OUTPUT_VOLTS * a for k, a in POE_LIMIT_AMPS.items()}

#: Datasheet "PSU Input": budget 25 W for the CM4.
CM4_BUDGET_WATTS = 25.0

ESTIMATE = "estimate, not in the datasheet"
#: The carrier's own chips (USB2 hubs, VL805 USB3 hub, ASM1184e PCIe switch, RTL8125 2.5 GbE, OLED, sensors).
BOARD_OVERHEAD_WATTS = 2.0
FAN_WATTS: dict[str, float] = {"5v": 1.0, "12v": 2.0}

USB_VOLTS = 5.0
#: Datasheet "USB 2.0 Hub" / "USB 3.0 Hub": VBUS current-limit switches, approximately.
USB2_LIMIT_MA = 500
USB3_LIMIT_MA = 1000
#: Datasheet "Full-Sized HDMI 2.0 Connector".
HDMI_LIMIT_MA = 500

#: Warn when the estimate reaches this share of the input's limit (estimates are rough).
MARGIN_WARNING = 0.9
#: A "12 V" load on a DC/Phoenix input gets the input voltage itself (datasheet "PSU Input" note); accept
#: a 12 V adapter within this tolerance.
TWELVE_VOLT_TOLERANCE = 0.6


def is_poe(source: PowerInput) -> bool:
    return source in POE_LIMIT_WATTS


@dataclass(frozen=True)
class PowerItem:
    label: str
    watts: float
    source: str


@dataclass(frozen=True)
class PowerBudget:
    items: tuple[PowerItem, ...]
    #: The input's limit in watts; None when unknown (DC/Phoenix without a supply rating).
    limit: float | None
    #: Where the limit comes from, e.g. "PoE 802.3at module, 12 V 2.5 A".
    limit_source: str

    @property
    def total(self) -> float:
        return sum(item.watts for item in self.items)

    def itemised(self) -> str:
        """``CM4 25 W + carrier board 2 W + ... = 31.5 W``."""
        parts = " + ".join(f"{item.label} {format_watts(item.watts)}" for item in self.items)
        return f"{parts} = {format_watts(self.total)}"


def format_watts(watts: float) -> str:
    return f"{watts:.1f}".rstrip("0").rstrip(".") + " W"
