"""The RAK7391's module slots and what each one wires (datasheet "mPCIe Interfaces", "M.2 Interface",
"WisBlock IO Slots", "USB 2.0 Hub", "USB 3.0 Hub", "Ethernet", "Raspberry Pi HAT Connector").

SPI device names and reset lines come from RAK's own examples (rak-software.md §3, §5, §10), not the datasheet;
they are marked as such in ``spi_device``'s note.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SlotKind(StrEnum):
    MPCIE = "mpcie"
    M2 = "m2"
    WISBLOCK = "wisblock"
    HAT = "hat"


@dataclass(frozen=True)
class Slot:
    key: str
    label: str
    kind: SlotKind
    interfaces: tuple[str, ...]
    primary_use: str
    secondary_use: str = ""
    #: On the CM4's one PCIe lane, with the 2.5 GbE controller and the USB3 hub (datasheet "Ethernet").
    pcie_shared: bool = False
    #: The SPI device a module in this slot gets, from RAK's examples (None: no SPI evidenced).
    spi_device: str | None = None


SLOTS: tuple[Slot, ...] = (
    Slot(
        "mpcie1",
        "mPCIe #1",
        SlotKind.MPCIE,
        ("USB 2.0 (onboard hub)", "SPI (/dev/spidev0.0, reset GPIO17)", "I2C (external bus)"),
        "LoRaWAN",
        "Zigbee",
        spi_device="/dev/spidev0.0",
    ),
    Slot(
        "mpcie2",
        "mPCIe #2",
        SlotKind.MPCIE,
        (
            "USB 2.0 (onboard hub)",
            "SPI (/dev/spidev0.1, reset GPIO6)",
            "UART (/dev/ttyAMA0 in RAK's dual-band example)",
            "I2C (external bus)",
        ),
        "LoRaWAN",
        "Zigbee, 4G",
        spi_device="/dev/spidev0.1",
    ),
    Slot(
        "mpcie3",
        "mPCIe #3",
        SlotKind.MPCIE,
        ("PCIe (shared lane)", "USB 3.0 (onboard hub, itself on PCIe)", "I2C (external bus)"),
        "4G",
        "WiFi6, GbE, AI accelerators, SATA (via PCIe); adapters to M.2 A+E boards",
        pcie_shared=True,
    ),
    Slot(
        "m2",
        "M.2 B-key",
        SlotKind.M2,
        ("PCIe (shared lane)", "USB 3.0 (onboard hub, itself on PCIe)"),
        "NVMe drive",
        "SATA, 5G",
        pcie_shared=True,
    ),
    Slot(
        "wisblock1",
        "WisBlock IO slot 1",
        SlotKind.WISBLOCK,
        (
            "I2C (external bus)",
            "USB 2.0 (onboard hub)",
            "UART (CH340 behind the hub, /dev/ttyUSB0)",
            "GPIO (expander 0x26 lines 0-7)",
            "analog (ADC channel 1)",
            "SPI (/dev/spidev0.0 in RAK's RAK13300 example)",
        ),
        "WisBlock IO modules",
        spi_device="/dev/spidev0.0",
    ),
    Slot(
        "wisblock2",
        "WisBlock IO slot 2",
        SlotKind.WISBLOCK,
        (
            "I2C (external bus)",
            "USB 2.0 (onboard hub)",
            "UART (CH340 behind the hub, /dev/ttyUSB1)",
            "GPIO (expander 0x26 lines 8-15)",
            "analog (ADC channel 3)",
            "SPI (/dev/spidev0.1 in RAK's RAK13300 example)",
        ),
        "WisBlock IO modules",
        spi_device="/dev/spidev0.1",
    ),
    Slot(
        "hat",
        "Raspberry Pi HAT",
        SlotKind.HAT,
        ("40-pin header: I2C (external bus), SPI, UART, GPIO; ID_SC/ID_SD after removing R711/R712",),
        "any standard HAT",
    ),
)

SLOTS_BY_KEY: dict[str, Slot] = {s.key: s for s in SLOTS}
SLOT_KEYS: tuple[str, ...] = tuple(s.key for s in SLOTS)

#: What shares the CM4's single PCIe 2.0 lane (datasheet "Ethernet", "USB 3.0 Hub").
PCIE_SHARED_GROUP: tuple[str, ...] = ("2.5 GbE", "USB3 ports", "mPCIe #3", "M.2")

#: Datasheet "Ethernet": what the 2.5 GbE port reaches without tuning when the lane is shared.
ETHERNET_2G5_TYPICAL = "1.8-2.0 Gbps"


def slot_labels(keys: tuple[str, ...] | list[str]) -> str:
    """``mPCIe #1, mPCIe #2`` for the given slot keys, in board order."""
    return ", ".join(s.label for s in SLOTS if s.key in keys)
