"""Shared by the LoRa tests: frames, Concentratord events, and two simulated modules with a gateway on them."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path

from chirpstack_api import gw

from wisgate.clock import SimClock
from wisgate.lora.backends.concentratord.client import ConcentratordBackend
from wisgate.lora.backends.concentratord.wire import uplink_from_proto
from wisgate.lora.core.filters import UplinkFilter
from wisgate.lora.core.gateway import Gateway, ModuleLink
from wisgate.lora.core.jit import JitQueue
from wisgate.lora.core.types import UplinkFrame
from wisgate.lora.frames.crypto import build_data_frame
from wisgate.lora.frames.phy import MType
from wisgate.sim.concentratord import SimConcentratord, SimModule

KEY = bytes(16)
WALL0 = 1_764_000_000.0


def data(dev_addr: int, fcnt: int) -> bytes:
    """An unconfirmed uplink with a valid MIC (keys all zero)."""
    return build_data_frame(
        mtype=MType.UNCONFIRMED_DATA_UP, dev_addr=dev_addr, fcnt32=fcnt, nwk_skey=KEY, app_skey=KEY,
        payload=b"hello", fport=1,
    ).to_bytes()


def proto_event(payload: bytes, count_us: int, *, freq: int = 868_100_000, snr: float = 5.0, rssi: int = -90,
                channel: int = 0, crc: int = gw.CRC_OK) -> gw.UplinkFrame:
    """A Concentratord uplink event at SF7BW125, heard at the module counter ``count_us``."""
    frame = gw.UplinkFrame(phy_payload=payload)
    frame.tx_info.frequency = freq
    frame.tx_info.modulation.lora.spreading_factor = 7
    frame.tx_info.modulation.lora.bandwidth = 125_000
    frame.tx_info.modulation.lora.code_rate = gw.CR_4_5
    frame.rx_info.context = count_us.to_bytes(4, "big")
    frame.rx_info.snr = snr
    frame.rx_info.rssi = rssi
    frame.rx_info.channel = channel
    frame.rx_info.crc_status = crc
    return frame


def event(board: int, payload: bytes, count_us: int, *, freq: int = 868_100_000, snr: float = 5.0, rssi: int = -90,
          channel: int = 0, crc: int = gw.CRC_OK) -> UplinkFrame:
    """That event as board ``board``'s backend hands it to the gateway."""
    return uplink_from_proto(
        proto_event(payload, count_us, freq=freq, snr=snr, rssi=rssi, channel=channel, crc=crc), board
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Rig:
    """Board 0 (EU868, TX-capable) and board 1 (RX only) as simulated Concentratords over ZeroMQ, and a
    gateway on them. ``modules=False`` leaves the daemons out (a gateway whose modules are gone)."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        gateway_id: str = "aa555a0000000000",
        modules: bool = True,
        uplink_filter: UplinkFilter | None = None,
        tx_powers: Sequence[int] = (12, 14, 16, 20, 27),
    ) -> None:
        self.clock = SimClock(50.0)
        self.daemons: list[SimConcentratord] = []
        links = []
        for board, offset in ((0, 123_456), (1, 0xFFFF_F000)):
            events, commands = f"ipc://{tmp_path}/e{board}", f"ipc://{tmp_path}/c{board}"
            tx_max = 870_000_000 if board == 0 else 0
            if modules:
                self.daemons.append(SimConcentratord(
                    SimModule(f"{board:016x}", board=board, counter_offset_us=offset, tx_max_hz=tx_max,
                              tx_powers=tuple(tx_powers)),
                    clock=self.clock, event_url=events, command_url=commands,
                ).start())
            links.append(ModuleLink(
                board, ConcentratordBackend(board=board, event_url=events, command_url=commands),
                JitQueue(board=board, tx_freq_min_hz=863_000_000 if board == 0 else 1,
                         tx_freq_max_hz=tx_max or 1, power_lut=(14, 20, 27)),
            ))
        self.gateway = Gateway(gateway_id, links, clock=self.clock, uplink_filter=uplink_filter)

    def wall(self) -> float:
        return WALL0 + self.clock.monotonic()

    def close(self) -> None:
        for link in self.gateway.links.values():
            link.backend.close()
        for daemon in self.daemons:
            daemon.stop()
