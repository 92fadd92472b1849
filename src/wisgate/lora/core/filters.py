"""Uplink filters, applied before dedup: CRC status, LoRaWAN-only, DevAddr prefixes / NetIDs, JoinEUI ranges.

Each check answers with the reason it drops a frame (counted per reason in the stats), or "".
Proprietary frames pass the address filters (they carry no address); join requests are judged by
JoinEUI only and data frames by DevAddr only, as ChirpStack's forwarders do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from wisgate.lora.core.types import CrcStatus
from wisgate.lora.frames.netid import DevAddrPrefix, dev_addr_prefix
from wisgate.lora.frames.phy import DataFrame, Frame, JoinRequest


def parse_prefix(text: str) -> DevAddrPrefix:
    """``26000000/7`` → DevAddrPrefix; errors name the text."""
    try:
        value_text, length_text = text.split("/")
        value, length = int(value_text, 16), int(length_text)
    except ValueError:
        raise ValueError(f"DevAddr prefix {text!r} is not like 26000000/7") from None
    if not 0 <= length <= 32 or not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"DevAddr prefix {text!r}: length must be 0..32 and value 32-bit")
    mask = (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF
    if value & ~mask:
        raise ValueError(f"DevAddr prefix {text!r} has bits set beyond its length")
    return DevAddrPrefix(value, length)


@dataclass(frozen=True)
class UplinkFilter:
    forward_crc_ok: bool = True
    forward_crc_bad: bool = False
    forward_crc_none: bool = False
    lorawan_only: bool = True
    dev_addr_prefixes: Sequence[DevAddrPrefix] = ()
    net_ids: Sequence[int] = ()
    #: Inclusive (first, last) JoinEUI ranges; empty = every JoinEUI.
    join_eui_ranges: Sequence[tuple[int, int]] = ()
    _prefixes: tuple[DevAddrPrefix, ...] = field(init=False, repr=False, default=())

    def __post_init__(self) -> None:
        prefixes = tuple(self.dev_addr_prefixes) + tuple(dev_addr_prefix(n) for n in self.net_ids)
        object.__setattr__(self, "_prefixes", prefixes)

    def check_crc(self, status: CrcStatus) -> str:
        """The drop reason for a reception with this CRC status, or ""."""
        if status is CrcStatus.OK:
            return "" if self.forward_crc_ok else "crc-ok"
        if status is CrcStatus.BAD:
            return "" if self.forward_crc_bad else "crc-bad"
        return "" if self.forward_crc_none else "crc-none"

    def check_frame(self, parsed: Frame | None) -> str:
        """The drop reason for a parsed frame (None: not LoRaWAN), or ""."""
        if parsed is None:
            return "not-lorawan" if self.lorawan_only else ""
        if (
            isinstance(parsed, DataFrame)
            and parsed.uplink
            and self._prefixes
            and not any(p.matches(parsed.dev_addr) for p in self._prefixes)
        ):
            return "dev-addr"
        if (
            isinstance(parsed, JoinRequest)
            and self.join_eui_ranges
            and not any(lo <= parsed.join_eui <= hi for lo, hi in self.join_eui_ranges)
        ):
            return "join-eui"
        return ""
