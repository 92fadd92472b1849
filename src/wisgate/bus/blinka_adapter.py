"""CircuitPython's ``busio.I2C`` API over any :class:`~wisgate.bus.i2c.I2CBus`, so Adafruit drivers
(through ``adafruit_bus_device.I2CDevice``) run unchanged on the simulated board or ``/dev/i2c-N``
without Blinka's ``board`` module or its platform detection.

Semantics follow the CircuitPython ``busio.I2C`` reference rather than Blinka's Linux shim,
which skips the lock check:

* every bus operation, ``scan`` included, needs the lock taken with :meth:`BlinkaI2C.try_lock`
  by the calling thread, else ``RuntimeError("Function requires lock")``;
* after :meth:`BlinkaI2C.deinit` every call raises ``ValueError``, as CircuitPython does;
* :meth:`BlinkaI2C.writeto_then_readfrom` is one transaction with a repeated START.

Bus failures are our typed errors (``OSError`` subclasses, see :mod:`wisgate.bus.errnos`), which
is what Adafruit drivers catch: ``I2CDevice`` turns an ``OSError`` while probing into
``ValueError("No I2C device at address")``.
"""

from __future__ import annotations

import threading
from collections.abc import MutableSequence, Sequence
from types import TracebackType
from typing import cast

from wisgate.bus.errnos import with_errno
from wisgate.bus.i2c import I2CBus, check_address

#: What CircuitPython's ``busio.I2C.scan`` probes (the reserved addresses left out).
SCAN_ADDRESSES = range(0x08, 0x78)
DEFAULT_FREQUENCY = 100_000

ReadableBuffer = bytes | bytearray | memoryview | str | Sequence[int]
WriteableBuffer = bytearray | memoryview | MutableSequence[int]


def _span(length: int, start: int, end: int | None) -> tuple[int, int]:
    """``start``/``end`` as CircuitPython reads them: like ``buf[start:end]``."""
    first, last, _ = slice(start, end).indices(length)
    return first, max(first, last)


def _out_bytes(buf: ReadableBuffer, start: int, end: int | None) -> bytes:
    if isinstance(buf, str):
        buf = buf.encode("latin-1")
    first, last = _span(len(buf), start, end)
    return bytes(buf[first:last])


def _store(buf: WriteableBuffer, first: int, data: bytes) -> None:
    try:
        view = memoryview(buf)  # type: ignore[arg-type]  # lists have no buffer; handled below
    except TypeError:
        items = cast(MutableSequence[int], buf)
        items[first : first + len(data)] = list(data)
        return
    view.cast("B")[first : first + len(data)] = data


def _buffer_len(buf: WriteableBuffer) -> int:
    try:
        return memoryview(buf).nbytes  # type: ignore[arg-type]
    except TypeError:
        return len(buf)


class BlinkaI2C:
    """Looks like ``busio.I2C``; talks to a borrowed :class:`I2CBus` (closed only if ``owns_bus``)."""

    def __init__(self, bus: I2CBus, *, frequency: int | None = None, owns_bus: bool = False) -> None:
        self.bus = bus
        self._requested_frequency = frequency
        self._owns_bus = owns_bus
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._alive = True

    @property
    def frequency(self) -> int:
        """The bus's own clock where the backend knows it (the simulated bus), else the one asked for.

        As on Blinka for Linux, asking changes nothing: the kernel sets the rate at boot.
        """
        actual = getattr(self.bus, "frequency", None)
        if isinstance(actual, int | float):
            return int(actual)
        return self._requested_frequency or DEFAULT_FREQUENCY

    # -- lock ----------------------------------------------------------------------------------

    def try_lock(self) -> bool:
        """Take the lock without waiting; False if it is held (by anyone, this thread included)."""
        self._check_alive()
        if not self._lock.acquire(blocking=False):
            return False
        self._owner = threading.get_ident()
        return True

    def unlock(self) -> None:
        """Release the lock; does nothing if it is not held."""
        if self._owner is None:
            return
        if self._owner != threading.get_ident():
            raise RuntimeError("I2C lock is held by another thread")
        self._owner = None
        self._lock.release()

    def _check_alive(self) -> None:
        if not self._alive:
            raise ValueError("Object has been deinitialized and can no longer be used. Create a new object.")

    def _check_locked(self) -> None:
        self._check_alive()
        if self._owner != threading.get_ident():
            raise RuntimeError("Function requires lock")

    # -- bus operations ------------------------------------------------------------------------

    def scan(self) -> list[int]:
        self._check_locked()
        with with_errno():
            return self.bus.scan(SCAN_ADDRESSES)

    def writeto(self, address: int, buffer: ReadableBuffer, *, start: int = 0, end: int | None = None) -> None:
        self._check_locked()
        data = _out_bytes(buffer, start, end)
        with with_errno():
            self.bus.write(check_address(address), data)

    def readfrom_into(
        self, address: int, buffer: WriteableBuffer, *, start: int = 0, end: int | None = None
    ) -> None:
        self._check_locked()
        first, last = _span(_buffer_len(buffer), start, end)
        with with_errno():
            data = self.bus.read(check_address(address), last - first)
        _store(buffer, first, data)

    def writeto_then_readfrom(
        self,
        address: int,
        buffer_out: ReadableBuffer,
        buffer_in: WriteableBuffer,
        *,
        out_start: int = 0,
        out_end: int | None = None,
        in_start: int = 0,
        in_end: int | None = None,
        stop: bool = False,
    ) -> None:
        """Write, then read after a repeated START: one transaction.

        ``stop=True`` (an old Blinka keyword) puts a STOP between them, as two transactions.
        """
        self._check_locked()
        out = _out_bytes(buffer_out, out_start, out_end)
        first, last = _span(_buffer_len(buffer_in), in_start, in_end)
        check_address(address)
        with with_errno():
            if stop:
                self.bus.write(address, out)
                data = self.bus.read(address, last - first)
            else:
                data = self.bus.write_read(address, out, last - first)
        _store(buffer_in, first, data)

    # -- lifetime ------------------------------------------------------------------------------

    def deinit(self) -> None:
        if not self._alive:
            return
        self._alive = False
        if self._owner is not None:
            self._owner = None
            self._lock.release()
        if self._owns_bus:
            self.bus.close()

    def __enter__(self) -> BlinkaI2C:
        self._check_alive()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.deinit()
