"""Configuration sections generated from a module allocation (reference §1.7, §1.8, §3.1).

* Semtech ``global_conf.json``: ``SX130x_conf`` (radio_0/1 centre and TX range, chan_multiSF_N,
  chan_Lora_std, chan_FSK) for SX130x boards, ``radio_conf`` (chan_0..2, tx) for the 2.4 GHz board.
* ChirpStack Concentratord TOML, as a dict: ``[gateway]`` region/model and
  ``[gateway.concentrator]`` multi_sf_channels / lora_std / fsk, or ``channels`` for the 2g4 binary.
Board-specific calibration (RSSI offsets, TX gain tables) belongs to the board profile and is left out.

Each module's interface is its slot's on the RAK7391 (reference rak7391-board.md "Concentrators", RAK's
examples): board 0 in mPCIe #1 on ``/dev/spidev0.0`` with reset GPIO17, board 1 in mPCIe #2 on
``/dev/spidev0.1`` with reset GPIO6; further modules are USB variants (``/dev/ttyACM*``). An SX1280
(2.4 GHz) module is a tty: ``/dev/ttyAMA0`` in mPCIe #2 (RAK's dual-band example), else USB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wisgate.lora.plans.allocation import IfChannel, Module, ModuleAllocation

MULTI_SF_SPREADING_FACTORS = [7, 8, 9, 10, 11, 12]
GPIO_CHIP = "/dev/gpiochip0"


@dataclass(frozen=True, slots=True)
class Wiring:
    """How the host reaches a module: bus, device path, reset line, and the slot it sits in."""

    slot: str
    com_type: str  # "SPI" or "USB" (lora_pkt_fwd's com_type); the 2.4 GHz board is always a tty
    com_path: str
    reset_gpio: int | None


def wiring(module: Module) -> Wiring:
    """The slot wiring of ``module`` (its ``com_path`` wins when set explicitly)."""
    board = module.board
    if module.spec.is_2g4:
        if board == 1:
            found = Wiring("mPCIe #2", "UART", "/dev/ttyAMA0", None)
        else:
            found = Wiring("USB", "USB", f"/dev/ttyACM{max(board - 2, 0)}", None)
    elif board == 0:
        found = Wiring("mPCIe #1", "SPI", "/dev/spidev0.0", 17)
    elif board == 1:
        found = Wiring("mPCIe #2", "SPI", "/dev/spidev0.1", 6)
    else:
        found = Wiring("USB", "USB", f"/dev/ttyACM{board - 2}", None)
    if module.com_path:
        found = Wiring(found.slot, found.com_type, module.com_path, found.reset_gpio)
    return found


def describe_wiring(module: Module) -> str:
    w = wiring(module)
    reset = f", reset GPIO{w.reset_gpio}" if w.reset_gpio is not None else ""
    return f"{w.slot}: {w.com_path}{reset}"
RADIO_TYPE = "SX1250"


def _radio(alloc: ModuleAllocation, radio: int) -> dict[str, Any]:
    centres = alloc.radio_centres_hz
    centre = centres[radio]
    fallback = next((c for c in centres if c is not None), alloc.module.band_min_hz)
    module = alloc.module
    # radio 0 drives the PA on SX1302 reference designs
    tx = module.tx_enabled and radio == 0
    section: dict[str, Any] = {
        "enable": centre is not None,
        "type": RADIO_TYPE,
        "freq": centre if centre is not None else fallback,
        "tx_enable": tx,
    }
    if tx:
        section["tx_freq_min"] = module.tx_freq_min_hz
        section["tx_freq_max"] = module.tx_freq_max_hz
    return section


def _if(placed: IfChannel | None) -> dict[str, Any]:
    if placed is None:
        return {"enable": False}
    return {"enable": True, "radio": placed.radio, "if": placed.if_hz}


def semtech_global_conf(alloc: ModuleAllocation) -> dict[str, Any]:
    """The board section of a lora_pkt_fwd ``global_conf.json`` for this module."""
    module = alloc.module
    if module.spec.is_2g4:
        radio_conf: dict[str, Any] = {"tty_path": wiring(module).com_path, "lorawan_public": True}
        for i in range(module.spec.channels_2g4):
            if i < len(alloc.channels_2g4):
                ch = alloc.channels_2g4[i]
                radio_conf[f"chan_{i}"] = {
                    "enable": True,
                    "freq": ch.frequency_hz,
                    "bandwidth": ch.bandwidth_hz,
                    "spread_factor": ch.spreading_factor,
                }
            else:
                radio_conf[f"chan_{i}"] = {"enable": False}
        radio_conf["tx"] = {
            "enable": module.tx_enabled,
            "tx_freq_min": module.tx_freq_min_hz or module.band_min_hz,
            "tx_freq_max": module.tx_freq_max_hz or module.band_max_hz,
        }
        return {"radio_conf": radio_conf}
    w = wiring(module)
    conf: dict[str, Any] = {
        "com_type": w.com_type,
        "com_path": w.com_path,
        "lorawan_public": True,
        "clksrc": 0,
        "full_duplex": False,
    }
    for radio in range(module.spec.radios):
        conf[f"radio_{radio}"] = _radio(alloc, radio)
    conf["chan_multiSF_All"] = {"spreading_factor_enable": MULTI_SF_SPREADING_FACTORS}
    for i in range(module.spec.multi_sf):
        conf[f"chan_multiSF_{i}"] = _if(alloc.multi_sf[i] if i < len(alloc.multi_sf) else None)
    std = _if(alloc.lora_std)
    if alloc.lora_std is not None:
        std.update(
            bandwidth=alloc.lora_std.channel.bandwidth_hz,
            spread_factor=alloc.lora_std.channel.spreading_factor,
            implicit_hdr=False,
        )
    conf["chan_Lora_std"] = std
    fsk = _if(alloc.fsk)
    if alloc.fsk is not None:
        fsk.update(bandwidth=alloc.fsk.channel.bandwidth_hz, datarate=alloc.fsk.channel.datarate_bps)
    conf["chan_FSK"] = fsk
    return {"SX130x_conf": conf}


def concentratord_section(alloc: ModuleAllocation, region: str) -> dict[str, Any]:
    """The ``[gateway]`` table of this module's Concentratord TOML configuration."""
    module = alloc.module
    concentrator: dict[str, Any]
    if module.spec.is_2g4:
        concentrator = {
            "channels": [
                {"frequency": ch.frequency_hz, "bandwidth": ch.bandwidth_hz, "spreading_factor": ch.spreading_factor}
                for ch in alloc.channels_2g4
            ]
        }
    else:
        concentrator = {"multi_sf_channels": [p.channel.frequency_hz for p in alloc.multi_sf]}
        if alloc.lora_std is not None:
            ch = alloc.lora_std.channel
            concentrator["lora_std"] = {
                "frequency": ch.frequency_hz,
                "bandwidth": ch.bandwidth_hz,
                "spreading_factor": ch.spreading_factor,
            }
        if alloc.fsk is not None:
            ch = alloc.fsk.channel
            concentrator["fsk"] = {
                "frequency": ch.frequency_hz,
                "bandwidth": ch.bandwidth_hz,
                "datarate": ch.datarate_bps,
            }
    w = wiring(module)
    gateway: dict[str, Any] = {"region": region, "com_dev_path": w.com_path}
    if w.reset_gpio is not None:
        gateway.update(sx1302_reset_chip=GPIO_CHIP, sx1302_reset_pin=w.reset_gpio)
    if module.model:
        gateway["model"] = module.model
    gateway["concentrator"] = concentrator
    return {"gateway": gateway}
