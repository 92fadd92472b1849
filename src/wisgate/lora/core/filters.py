"""Uplink filters, applied before dedup: CRC status, LoRaWAN-only, DevAddr prefixes / NetIDs, JoinEUI ranges.

Each check answers with the reason it drops a frame (counted per reason in the stats), or "".
Proprietary frames pass the address filters (they carry no address); join requests are judged by
JoinEUI only and data frames by DevAddr only, as ChirpStack's forwarders do.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import AfterValidator, Field, Strict

from wisgate.lora.core.types import CrcStatus
from wisgate.lora.frames.netid import DevAddrPrefix, dev_addr_prefix
from wisgate.lora.frames.phy import DataFrame, Frame, JoinRequest
from wisgate.settings import Settings


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


def _check_prefix(text: str) -> str:
    parse_prefix(text)
    return text


def _check_eui_range(pair: tuple[str, str]) -> tuple[str, str]:
    for eui in pair:
        if not re.fullmatch(r"[0-9A-Fa-f]{16}", eui):
            raise ValueError(f"JoinEUI {eui!r} is not 16 hex digits")
    if int(pair[0], 16) > int(pair[1], 16):
        raise ValueError(f"JoinEUI range {list(pair)} runs backwards (first > last)")
    return pair


class FilterSettings(Settings):
    """The filter as configured (``[lora.filters]``, ``[lora.udp.filters]``); :meth:`build` makes the filter."""

    forward_crc_bad: bool = False
    lorawan_only: bool = True
    #: e.g. ["26000000/7"]
    dev_addr_prefixes: list[Annotated[str, AfterValidator(_check_prefix)]] = []
    net_ids: list[Annotated[int, Field(ge=0, le=0xFFFFFF)]] = []
    #: inclusive JoinEUI ranges as hex strings, e.g. [["70b3d57ed0000000", "70b3d57ed0ffffff"]]
    join_eui_ranges: list[Annotated[tuple[str, str], Strict(False), AfterValidator(_check_eui_range)]] = []

    def build(self) -> UplinkFilter:
        return UplinkFilter(
            forward_crc_bad=self.forward_crc_bad,
            lorawan_only=self.lorawan_only,
            dev_addr_prefixes=[parse_prefix(p) for p in self.dev_addr_prefixes],
            net_ids=self.net_ids,
            join_eui_ranges=[(int(lo, 16), int(hi, 16)) for lo, hi in self.join_eui_ranges],
        )
