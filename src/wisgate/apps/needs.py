"""The hardware an app may ask for, abstractly: what each kind means, the variables it hands the app's
compose file, and the setting that lets a user pick among the board's choices.

``hardware.py`` resolves a need to device nodes on this board; this module is only the vocabulary, so the
linter and the manifest can use it without touching the host.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class NeedKind(StrEnum):
    CONCENTRATOR_SPI = "concentrator-spi"
    I2C = "i2c"
    GPIO = "gpio"
    WISBLOCK_SERIAL = "wisblock-serial"
    USB_SERIAL = "usb-serial"
    ACCELERATOR = "accelerator"
    TUN = "tun"


@dataclass(frozen=True)
class KindInfo:
    summary: str
    #: Variables the resolved need provides to the compose file and shipped files.
    variables: tuple[str, ...]
    #: The user's choice for this need (``--set NAME=...``) and its default; None: nothing to choose.
    choice: str | None = None
    choice_default: str = ""
    choice_help: str = ""
    #: Whether two apps may hold it at once (a bus yes, a radio or a tty no).
    shared: bool = False


KINDS: dict[NeedKind, KindInfo] = {
    NeedKind.CONCENTRATOR_SPI: KindInfo(
        "one SPI LoRa concentrator slot (mPCIe #1 or #2): its spidev, the reset line on gpiochip0",
        ("SPI_DEVICE", "RESET_GPIO", "GPIO_CHIP", "SLOT"),
        choice="SLOT", choice_default="auto",
        choice_help="concentrator slot: 1 (mPCIe #1, /dev/spidev0.0, reset GPIO17), 2 (mPCIe #2, /dev/spidev0.1, "
        "reset GPIO6) or auto (the first free one)",
    ),
    NeedKind.I2C: KindInfo("the I2C bus of the onboard chips and WisBlock slots", ("I2C_DEVICE",), shared=True),
    NeedKind.GPIO: KindInfo("the GPIO chips (CM4 lines and the two expanders)", ("GPIO_CHIPS",), shared=True),
    NeedKind.WISBLOCK_SERIAL: KindInfo(
        "WisBlock IO slot serial ports (CH340 behind the USB hub: /dev/ttyUSB0 slot 1, /dev/ttyUSB1 slot 2)",
        ("SERIAL_DEVICE", "SERIAL_DEVICES"),
        choice="SERIAL_SLOTS", choice_default="auto",
        choice_help="WisBlock serial slots: 1, 2, 1,2 or auto (the free ones, as many as the app needs)",
    ),
    NeedKind.USB_SERIAL: KindInfo(
        "a USB serial adapter (e.g. a Zigbee coordinator); give a stable /dev/serial/by-id path",
        ("USB_SERIAL_DEVICE",),
        choice="USB_SERIAL", choice_default="/dev/ttyACM0",
        choice_help="host path of the USB serial device (prefer /dev/serial/by-id/...: USB numbering can change)",
    ),
    NeedKind.ACCELERATOR: KindInfo(
        "the AI accelerator in mPCIe #3 (from the board description: Coral-TPU or Hailo-8)",
        ("ACCELERATOR_DEVICE",),
    ),
    NeedKind.TUN: KindInfo("the TUN device for VPNs (/dev/net/tun)", (), shared=True),
}


def provided_variables(kinds: list[NeedKind]) -> set[str]:
    names: set[str] = set()
    for kind in kinds:
        info = KINDS[kind]
        names.update(info.variables)
        if info.choice:
            names.add(info.choice)
    return names
