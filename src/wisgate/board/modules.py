"""Modules that fit the RAK7391's slots, with the slots each fits and a typical power draw.

Compatibility: datasheet tables "mPCIe Interfaces" and "M.2 Interface"; WisBlock IO modules from RAK's
RAK7391 Python examples (rak-software.md §5) unless ``source`` says otherwise.

Power: the datasheet gives no per-module figures. ``watts`` are OUR ESTIMATES of a module's draw while
working hard (radio transmitting, accelerator busy, drive writing), rounded up, from the module class's
commonly quoted figures; they are not measured on a RAK7391. A description can override any of them with
``watts`` in its slot entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

POWER_SOURCE = "estimate (typical busy draw, rounded up; not in the RAK7391 datasheet, not measured)"

_CONCENTRATOR_SLOTS = ("mpcie1", "mpcie2")
_WISBLOCK = ("wisblock1", "wisblock2")
_DATASHEET_MPCIE = "datasheet mPCIe table"
_DATASHEET_M2 = "datasheet M.2 table"
_WBPY = "RAK's RAK7391 examples (wisblock-python)"


@dataclass(frozen=True)
class Module:
    name: str
    description: str
    slots: tuple[str, ...]
    #: How the module talks to the CM4 in its slot.
    interface: str
    watts: float
    #: A LoRa gateway concentrator (counts toward the datasheet's "up to four" modules).
    lora_concentrator: bool = False
    uses_spi: bool = False
    source: str = _DATASHEET_MPCIE


def _concentrator(name: str, chip: str, interface: str, watts: float, source: str = _DATASHEET_MPCIE) -> Module:
    return Module(
        name,
        f"LoRa concentrator ({chip}, {interface})",
        _CONCENTRATOR_SLOTS,
        interface,
        watts,
        lora_concentrator=True,
        uses_spi=interface == "SPI",
        source=source,
    )


def _wisblock(name: str, description: str, watts: float, *, spi: bool = False, source: str = _WBPY) -> Module:
    return Module(name, f"WisBlock IO: {description}", _WISBLOCK, "WisBlock IO", watts, uses_spi=spi, source=source)


MODULES: tuple[Module, ...] = (
    _concentrator("RAK2247-SPI", "SX1301", "SPI", 2.0),
    _concentrator("RAK2247-USB", "SX1301", "USB", 2.0),
    _concentrator("RAK2287-SPI", "SX1302", "SPI", 1.5),
    _concentrator("RAK2287-USB", "SX1302", "USB", 1.5),
    _concentrator("RAK5146-SPI", "SX1303", "SPI", 1.5),
    _concentrator("RAK5146-USB", "SX1303", "USB", 1.5),
    _concentrator(
        "RAK5148",
        "SX1280, 2.4 GHz",
        "USB/UART",
        1.0,
        source="not in the datasheet table; RAK's dual-band example (mPCIe #2) and ChirpStack's RAK7391 target",
    ),
    Module("Zigbee-USB", "USB Zigbee module (datasheet: TBD)", _CONCENTRATOR_SLOTS, "USB", 0.5),
    Module("RAK8213-USB", "LTE Cat-M/NB-IoT modem", ("mpcie2", "mpcie3"), "USB", 2.0),
    Module("EC25", "Quectel LTE Cat 4 modem", ("mpcie2",), "USB", 3.5),
    Module("Hailo-8", "Hailo-8 AI accelerator", ("mpcie3",), "PCIe", 2.5),
    Module("Coral-TPU", "Google Coral Edge TPU accelerator", ("mpcie3",), "PCIe", 2.0),
    Module("IOCrest-SATA", "IO Crest 4-port SATA controller (drives not counted)", ("mpcie3",), "PCIe", 1.0),
    Module("I210AT", "Intel I210AT gigabit Ethernet", ("mpcie3",), "PCIe", 1.0),
    Module("M.2-E-adapter", "MiniPCIe to M.2 key-E adapter (count the card as a load)", ("mpcie3",), "PCIe", 0.0),
    Module("AX210", "Intel AX210 Wi-Fi 6E (via a key-E adapter)", ("mpcie3",), "PCIe", 2.5),
    Module("AX211", "Intel AX211 Wi-Fi 6E (via a key-E adapter)", ("mpcie3",), "PCIe", 2.5),
    Module("NVMe", "M.2 B-key NVMe drive", ("m2",), "PCIe", 5.0, source=_DATASHEET_M2),
    Module("RM510Q", "Quectel RM510Q 5G modem", ("m2",), "USB3/PCIe", 8.0, source=_DATASHEET_M2),
    Module(
        "JMB585-SATA", "JMB585-based SATA controller (drives not counted)", ("m2",), "PCIe", 1.5, source=_DATASHEET_M2
    ),
    _wisblock("RAK5801", "4-20 mA analog input", 0.3),
    _wisblock("RAK5811", "0-5 V analog input", 0.2),
    _wisblock("RAK5802", "RS485 (ModBUS)", 0.3),
    _wisblock(
        "RAK5804",
        "IO extension (I2C, UART, GPIO headers)",
        0.1,
        source="RAK docs: a WisBlock IO-slot module; no RAK7391 example",
    ),
    _wisblock("RAK13001", "relay output and opto input", 0.5),
    _wisblock("RAK13004", "PCA9685 PWM", 0.1),
    _wisblock("RAK13005", "LIN bus", 0.2),
    _wisblock("RAK13006", "CAN bus (SPI)", 0.3, spi=True, source="RAK13006 README in wisblock-python"),
    _wisblock("RAK13007", "relay output", 0.5),
    _wisblock("RAK13300", "SX1262 LoRa radio (a node radio, not a concentrator)", 0.5, spi=True),
)

MODULES_BY_NAME: dict[str, Module] = {m.name: m for m in MODULES}


def _norm(name: str) -> str:
    return re.sub(r"[\s_.\-]+", "", name).upper()


_BY_NORM: dict[str, Module] = {_norm(m.name): m for m in MODULES}
_ALIASES: dict[str, str] = {
    "QUECTELEC25": "EC25",
    "HAILO8": "Hailo-8",
    "CORAL": "Coral-TPU",
    "GOOGLECORAL": "Coral-TPU",
    "CORALTPU": "Coral-TPU",
    "JMB585": "JMB585-SATA",
    "QUECTELRM510Q": "RM510Q",
    "IOCREST": "IOCrest-SATA",
    "NVME": "NVMe",
}


def find_module(name: str) -> Module | None:
    """The catalogue entry for ``name`` (case, spaces, dots, dashes and underscores ignored), or None."""
    key = _norm(name)
    if key in _BY_NORM:
        return _BY_NORM[key]
    alias = _ALIASES.get(key)
    return MODULES_BY_NAME[alias] if alias else None


def suggestions(name: str) -> list[str]:
    """Catalogue names that start like ``name`` (``RAK5146`` -> the SPI and USB variants)."""
    key = _norm(name)
    return [m.name for m in MODULES if key and _norm(m.name).startswith(key)]
