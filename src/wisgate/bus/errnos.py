"""The errno a third-party library expects on our bus errors (Linux ``Documentation/i2c/fault-codes.rst``).

Our bus errors are already ``OSError`` subclasses, but built from a message only, so their
``errno`` is ``None``. Libraries written for smbus2 or Blinka test it: luma.core turns
``EREMOTEIO``/``EIO`` into ``DeviceNotFoundError`` and re-raises anything else. The adapters
therefore stamp each error with the code the Raspberry Pi's i2c-bcm2835 driver returns for the
same failure (it reports every NACK, address or data, as ``EREMOTEIO``), keeping the typed error
itself so ``except NoDeviceError`` still works.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

from wisgate.errors import BusError, BusStuckError, BusTimeoutError, DeviceBusyError, NackError

#: First match wins; the inverse of LinuxI2CBus's errno-to-error mapping.
ERRNO_BY_ERROR: tuple[tuple[type[BusError], int], ...] = (
    (NackError, errno.EREMOTEIO),  # NoDeviceError included
    (BusTimeoutError, errno.ETIMEDOUT),
    (BusStuckError, errno.EAGAIN),
    (DeviceBusyError, errno.EBUSY),
)


def errno_for(exc: BusError) -> int:
    """The kernel's code when the error came from one, else the code for its type (EIO if none fits)."""
    cause = exc.__cause__
    if isinstance(cause, OSError) and cause.errno is not None:
        return cause.errno
    for kind, code in ERRNO_BY_ERROR:
        if isinstance(exc, kind):
            return code
    return errno.EIO


@contextmanager
def with_errno() -> Iterator[None]:
    """Give every :class:`BusError` raised inside an ``errno`` (the same object is re-raised)."""
    try:
        yield
    except BusError as exc:
        if exc.errno is None:
            exc.errno = errno_for(exc)
        raise


def closed_error(what: str) -> BusError:
    """Use after close, as a file descriptor would report it (``EBADF``)."""
    exc = BusError(f"{what} is closed")
    exc.errno = errno.EBADF
    return exc
