"""smbus2's ``SMBus`` API over any :class:`~wisgate.bus.i2c.I2CBus`, so smbus2-based libraries
(luma.oled, many sensor packages) run unchanged on the simulated board or on ``/dev/i2c-N``.

Each call is the transaction the SMBus 3.0 specification (§6.5) gives it, sent as plain I2C
messages: the register or command code is the first byte written, words are little endian,
and reads follow a repeated START. smbus2 reaches the same bytes through the kernel's
``I2C_SMBUS`` ioctl; here they go through :meth:`I2CBus.transfer`.

Limits, named rather than hidden:

* SMBus block reads (``read_block_data``, ``block_process_call``) need the controller to read
  the count byte and then exactly that many bytes. Our bus reads fixed lengths, so the adapter
  reads the count and the 32-byte maximum in the same transaction and keeps ``count`` bytes:
  the first bytes on the wire are the SMBus ones, the extra reads are what a device returns
  past its block (harmless for register files, not for FIFOs). The Pi's i2c-bcm2835 cannot do
  these two commands at all, so this is more than smbus2 offers on the board.
* PEC is not implemented: enabling it raises :class:`~wisgate.errors.UnsupportedError`.
* ``force`` is accepted everywhere for compatibility and changes nothing: the Linux backend's
  own guard against addresses owned by a kernel driver still applies.
"""

from __future__ import annotations

import ctypes
import errno
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any, Protocol

from smbus2 import I2cFunc

from wisgate.bus.errnos import closed_error, with_errno
from wisgate.bus.i2c import I2CBus, Message, Read, Write, check_address
from wisgate.errors import BusError, UnsupportedError

#: Longest SMBus block (count byte excluded), as in smbus2 and the kernel.
BLOCK_MAX = 32
#: Messages the kernel accepts in one I2C_RDWR call.
RDWR_MAX_MESSAGES = 42
#: i2c_msg flag: this message reads (uapi/linux/i2c.h).
I2C_M_RD = 0x0001

FUNCS = (
    I2cFunc.I2C
    | I2cFunc.SMBUS_QUICK
    | I2cFunc.SMBUS_BYTE
    | I2cFunc.SMBUS_BYTE_DATA
    | I2cFunc.SMBUS_WORD_DATA
    | I2cFunc.SMBUS_PROC_CALL
    | I2cFunc.SMBUS_BLOCK_DATA
    | I2cFunc.SMBUS_BLOCK_PROC_CALL
    | I2cFunc.SMBUS_I2C_BLOCK
)

Data = bytes | bytearray | Sequence[int] | Iterable[int]


class RdwrMessage(Protocol):
    """What :meth:`SMBusAdapter.i2c_rdwr` reads from smbus2's ``i2c_msg`` (a ctypes structure)."""

    addr: int
    flags: int
    len: int
    buf: Any


def _word(value: int) -> bytes:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"SMBus word 0x{value:X} does not fit 16 bits")
    return value.to_bytes(2, "little")


def _block(data: Data) -> bytes:
    raw = bytes(data)
    if len(raw) > BLOCK_MAX:
        raise ValueError(f"Data length cannot exceed {BLOCK_MAX} bytes (got {len(raw)})")
    return raw


class SMBusAdapter:
    """Looks like ``smbus2.SMBus``; talks to a borrowed :class:`I2CBus` (closed only if ``owns_bus``)."""

    funcs = FUNCS

    def __init__(self, bus: I2CBus, *, force: bool = False, owns_bus: bool = False) -> None:
        self.bus = bus
        self.force = force
        #: Last address used, as smbus2 keeps it.
        self.address: int | None = None
        self._owns_bus = owns_bus
        self._closed = False

    # -- plumbing ------------------------------------------------------------------------------

    def _run(self, address: int, messages: Sequence[Message]) -> list[bytes]:
        if self._closed:
            raise closed_error(f"SMBus adapter on {self.bus.name}")
        self.address = check_address(address)
        with with_errno():
            return self.bus.transfer(messages)

    def _write(self, address: int, data: bytes) -> None:
        self._run(address, [Write(address, data)])

    def _write_read(self, address: int, data: bytes, length: int) -> bytes:
        return self._run(address, [Write(address, data), Read(address, length)])[0]

    def _block_reply(self, address: int, reply: bytes) -> list[int]:
        count = reply[0]
        if count > BLOCK_MAX:
            exc = BusError(f"SMBus block count {count} exceeds {BLOCK_MAX}", bus=self.bus.name, address=address)
            exc.errno = errno.EPROTO  # what the kernel reports for a bad count
            raise exc
        return list(reply[1 : 1 + count])

    # -- PEC -----------------------------------------------------------------------------------

    @property
    def pec(self) -> int:
        return 0

    @pec.setter
    def pec(self, enable: int | bool) -> None:
        self.enable_pec(bool(enable))

    def enable_pec(self, enable: bool = True) -> None:
        if enable:
            raise UnsupportedError("SMBus PEC (packet error checking) is not supported by the SMBus adapter")

    # -- SMBus commands ------------------------------------------------------------------------

    def write_quick(self, i2c_addr: int, force: bool | None = None) -> None:
        self._write(i2c_addr, b"")

    def read_byte(self, i2c_addr: int, force: bool | None = None) -> int:
        return self._run(i2c_addr, [Read(i2c_addr, 1)])[0][0]

    def write_byte(self, i2c_addr: int, value: int, force: bool | None = None) -> None:
        self._write(i2c_addr, bytes([value]))

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        return self._write_read(i2c_addr, bytes([register]), 1)[0]

    def write_byte_data(self, i2c_addr: int, register: int, value: int, force: bool | None = None) -> None:
        self._write(i2c_addr, bytes([register, value]))

    def read_word_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        return int.from_bytes(self._write_read(i2c_addr, bytes([register]), 2), "little")

    def write_word_data(self, i2c_addr: int, register: int, value: int, force: bool | None = None) -> None:
        self._write(i2c_addr, bytes([register]) + _word(value))

    def process_call(self, i2c_addr: int, register: int, value: int, force: bool | None = None) -> int:
        reply = self._write_read(i2c_addr, bytes([register]) + _word(value), 2)
        return int.from_bytes(reply, "little")

    def read_block_data(self, i2c_addr: int, register: int, force: bool | None = None) -> list[int]:
        reply = self._write_read(i2c_addr, bytes([register]), 1 + BLOCK_MAX)
        return self._block_reply(i2c_addr, reply)

    def write_block_data(self, i2c_addr: int, register: int, data: Data, force: bool | None = None) -> None:
        block = _block(data)
        self._write(i2c_addr, bytes([register, len(block)]) + block)

    def block_process_call(self, i2c_addr: int, register: int, data: Data, force: bool | None = None) -> list[int]:
        block = _block(data)
        reply = self._write_read(i2c_addr, bytes([register, len(block)]) + block, 1 + BLOCK_MAX)
        return self._block_reply(i2c_addr, reply)

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int, force: bool | None = None) -> list[int]:
        if not 0 <= length <= BLOCK_MAX:
            raise ValueError(f"Desired block length over {BLOCK_MAX} bytes (got {length})")
        return list(self._write_read(i2c_addr, bytes([register]), length))

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: Data, force: bool | None = None) -> None:
        self._write(i2c_addr, bytes([register]) + _block(data))

    # -- plain I2C -----------------------------------------------------------------------------

    def i2c_rdwr(self, *i2c_msgs: RdwrMessage) -> None:
        """Run smbus2 ``i2c_msg`` objects as one transaction; read messages get their bytes."""
        if not i2c_msgs:
            return
        if len(i2c_msgs) > RDWR_MAX_MESSAGES:
            raise ValueError(f"at most {RDWR_MAX_MESSAGES} messages per i2c_rdwr call (got {len(i2c_msgs)})")
        messages: list[Message] = []
        for msg in i2c_msgs:
            if msg.flags & ~I2C_M_RD:
                raise UnsupportedError(f"i2c_msg flags 0x{msg.flags:04X} (10-bit, NOSTART, RECV_LEN...) not supported")
            if msg.flags & I2C_M_RD:
                messages.append(Read(msg.addr, msg.len))
            else:
                messages.append(Write(msg.addr, _payload(msg)))
        replies = iter(self._run(i2c_msgs[0].addr, messages))
        for msg in i2c_msgs:
            if msg.flags & I2C_M_RD:
                _fill(msg, next(replies))

    # -- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        if not self._closed and self._owns_bus:
            self.bus.close()
        self._closed = True

    def __enter__(self) -> SMBusAdapter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _payload(msg: RdwrMessage) -> bytes:
    if isinstance(msg.buf, bytes | bytearray | memoryview):
        return bytes(msg.buf[: msg.len])
    return ctypes.string_at(msg.buf, msg.len)


def _fill(msg: RdwrMessage, data: bytes) -> None:
    """Copy a reply into a read message's own buffer, as the kernel does."""
    if isinstance(msg.buf, bytearray | memoryview):
        msg.buf[: len(data)] = data
    else:
        ctypes.memmove(msg.buf, data, len(data))
