"""What a simulated I2C chip implements, as the bus sees it.

The simulated bus calls, for each transaction: :meth:`ack_address` at every START or repeated
START (False = NACK), then :meth:`write` or :meth:`read` with the bytes of that message, and
:meth:`stop` once at the STOP. A model computes every answer from the bytes it received and from
simulated time (``self.clock``), as the silicon would.
"""

from __future__ import annotations

from wisgate.clock import SimClock


class DataNack(Exception):
    """Raised by a model to NACK a data byte; ``accepted`` bytes were taken before it."""

    def __init__(self, accepted: int = 0) -> None:
        super().__init__(f"data NACK after {accepted} bytes")
        self.accepted = accepted


class I2CModel:
    """Base of every chip model: ACKs its address, ignores writes, reads 0xFF (released SDA)."""

    #: Part name for scans and messages.
    part: str = "I2C device"

    def __init__(self, clock: SimClock, address: int) -> None:
        self.clock = clock
        self.address = address

    def ack_address(self, read: bool) -> bool:
        return True

    def write(self, data: bytes) -> None:
        """Bytes of one write message; the first one after START is usually a register pointer."""

    def read(self, length: int) -> bytes:
        return b"\xff" * length

    def stop(self) -> None:
        """The STOP condition ended the transaction."""

    def power_on_reset(self) -> None:
        """Return to the power-on state (a power cycle of the board)."""
