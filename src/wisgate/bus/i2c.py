"""The I2C bus protocol drivers see, and nothing more.

A backend **must** implement :meth:`I2CBus.transfer`: a list of messages run as one combined
transaction (START, messages joined by repeated STARTs, one STOP), and raise the typed errors
of :mod:`wisgate.errors` (:class:`NoDeviceError` for an address NACK, :class:`NackError` for a
data NACK, :class:`BusTimeoutError`, :class:`BusStuckError`).

A backend **may** override :meth:`probe` (scan uses it; the default sends a zero-length write,
the SMBus "quick" command), :meth:`close`, :meth:`bound_driver` (which kernel driver owns an
address; none by default) and :attr:`number` (N of ``/dev/i2c-N``; None where there is none).

Drivers use :meth:`write`, :meth:`read` and :meth:`write_read` and never know which backend
is behind them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType

from wisgate.errors import NoDeviceError

#: 7-bit addresses i2cdetect scans by default (0x00-0x02 and 0x78-0x7F are reserved).
SCAN_RANGE = range(0x03, 0x78)


@dataclass(frozen=True, slots=True)
class Write:
    """Send ``data`` to ``address`` (empty data = address only, the SMBus quick command)."""

    address: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Read:
    """Read ``length`` bytes from ``address``."""

    address: int
    length: int


Message = Write | Read


def check_address(address: int) -> int:
    if not 0 <= address <= 0x7F:
        raise ValueError(f"I2C address 0x{address:X} is not a 7-bit address")
    return address


class I2CBus(ABC):
    """One I2C bus. Subclasses are backends; see the module docstring for the contract."""

    #: A short human name for messages, like ``/dev/i2c-1`` or ``sim``.
    name: str = "i2c"

    @abstractmethod
    def transfer(self, messages: Sequence[Message]) -> list[bytes]:
        """Run ``messages`` as one transaction; return the bytes of each :class:`Read`, in order."""

    def write(self, address: int, data: bytes | bytearray | Iterable[int]) -> None:
        self.transfer([Write(check_address(address), bytes(data))])

    def read(self, address: int, length: int) -> bytes:
        return self.transfer([Read(check_address(address), length)])[0]

    def write_read(self, address: int, data: bytes | bytearray | Iterable[int], length: int) -> bytes:
        """Write, then read after a repeated START (no STOP between them)."""
        check_address(address)
        return self.transfer([Write(address, bytes(data)), Read(address, length)])[0]

    def probe(self, address: int) -> bool:
        """True if something acknowledges ``address``."""
        try:
            self.transfer([Write(check_address(address), b"")])
        except NoDeviceError:
            return False
        return True

    def scan(self, addresses: Iterable[int] = SCAN_RANGE) -> list[int]:
        """Addresses that acknowledge, ascending."""
        return [a for a in addresses if self.probe(a)]

    def bound_driver(self, address: int) -> str | None:
        """Name of the kernel driver that owns ``address``, if any (raw I2C would race it)."""
        return None

    @property
    def number(self) -> int | None:
        """N of ``/dev/i2c-N`` where the bus is a Linux adapter."""
        return None

    def close(self) -> None:
        """Release the bus. Buses passed in by a caller are borrowed and never closed by drivers."""

    def __enter__(self) -> I2CBus:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
