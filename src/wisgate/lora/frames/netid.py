"""DevAddr and NetID: address types and prefixes (LoRaWAN Backend Interfaces 1.0 §13, Table 3).

A DevAddr starts with ``type`` one-bits and a zero, then the NwkID (the NetID's low bits), then
the NwkAddr. Filters such as ChirpStack's ``dev_addr_prefixes`` ("26000000/7") use the prefix.
"""

from __future__ import annotations

from typing import NamedTuple

from wisgate.lora.errors import ParseError

# NwkID width for DevAddr type 0..7 (type prefix is type+1 bits, the rest is NwkAddr)
NWKID_BITS = (6, 6, 9, 11, 12, 13, 15, 17)


class DevAddrPrefix(NamedTuple):
    value: int  # the prefix bits, left-aligned in 32 bits
    length: int  # number of significant leading bits

    def __str__(self) -> str:
        return f"{self.value:08x}/{self.length}"

    def matches(self, dev_addr: int) -> bool:
        mask = (0xFFFFFFFF << (32 - self.length)) & 0xFFFFFFFF
        return (dev_addr & mask) == self.value


def dev_addr_type(dev_addr: int) -> int:
    """Address type 0..7 from the count of leading one-bits."""
    for addr_type in range(8):
        if not dev_addr & (0x80000000 >> addr_type):
            return addr_type
    raise ParseError(f"DevAddr {dev_addr:08X} starts with eight one-bits: no NetID type (RFU)")


def dev_addr_nwk_id(dev_addr: int) -> int:
    """The NwkID field of a DevAddr (the NetID's least significant bits)."""
    addr_type = dev_addr_type(dev_addr)
    bits = NWKID_BITS[addr_type]
    shift = 32 - (addr_type + 1) - bits
    return (dev_addr >> shift) & ((1 << bits) - 1)


def net_id_type(net_id: int) -> int:
    if not 0 <= net_id <= 0xFFFFFF:
        raise ValueError(f"NetID {net_id:#x} is not 24-bit")
    return net_id >> 21


def dev_addr_prefix(net_id: int) -> DevAddrPrefix:
    """The DevAddr prefix a network with this NetID hands out, e.g. TTN 0x000013 -> 26000000/7."""
    addr_type = net_id_type(net_id)
    bits = NWKID_BITS[addr_type]
    nwk_id = net_id & ((1 << bits) - 1)
    length = addr_type + 1 + bits
    type_bits = ((1 << addr_type) - 1) << 1  # type ones then a zero
    value = ((type_bits << bits) | nwk_id) << (32 - length)
    return DevAddrPrefix(value & 0xFFFFFFFF, length)


def dev_addr_in_net(dev_addr: int, net_id: int) -> bool:
    return dev_addr_prefix(net_id).matches(dev_addr)
