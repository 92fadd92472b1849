"""The simulated I2C bus: routes transactions to chip models, injects faults, keeps time and stats.

Every transfer takes the time it would on the wire (9 bits per byte at ``frequency``), so a
full OLED frame costs about 23 ms of simulated time at 400 kHz, as on the board.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from wisgate.bus.i2c import I2CBus, Message, Read, Write, check_address
from wisgate.clock import SimClock
from wisgate.errors import BusStuckError, BusTimeoutError, NackError, NoDeviceError
from wisgate.sim.device import DataNack, I2CModel

#: How long a controller waits on a stretched clock before giving up (Linux i2c-bcm2835: 35 ms).
CLOCK_STRETCH_TIMEOUT = 0.035


@dataclass
class TrafficStats:
    """Bytes and transactions seen per address (address bytes included in ``wire_bytes``)."""

    transactions: int = 0
    written: int = 0
    read: int = 0
    wire_bytes: int = 0
    nacks: int = 0


@dataclass
class _Fault:
    kind: str  # "nack" | "timeout" | "corrupt"
    remaining: int | None  # None = until cleared
    xor: int = 0x01


@dataclass
class Faults:
    """Fault injection on the simulated bus. Counts of ``None`` mean "until cleared"."""

    per_address: dict[int, list[_Fault]] = field(default_factory=lambda: defaultdict(list))
    vanished: set[int] = field(default_factory=set)
    stuck: bool = False

    def nack(self, address: int, count: int | None = None) -> None:
        """The device NACKs its address (e.g. a glitch, or held in reset)."""
        self.per_address[address].append(_Fault("nack", count))

    def timeout(self, address: int, count: int | None = None) -> None:
        """The device stretches the clock past the controller's timeout."""
        self.per_address[address].append(_Fault("timeout", count))

    def corrupt(self, address: int, count: int | None = 1, xor: int = 0x01) -> None:
        """Flip bits (``xor``) in the last byte of the next ``count`` reads: tests CRC checks."""
        self.per_address[address].append(_Fault("corrupt", count, xor))

    def vanish(self, address: int) -> None:
        """The device is unplugged or unpowered until :meth:`restore`."""
        self.vanished.add(address)

    def restore(self, address: int) -> None:
        self.vanished.discard(address)

    def stick(self) -> None:
        """A device holds SDA low: every transfer fails until :meth:`release`."""
        self.stuck = True

    def release(self) -> None:
        self.stuck = False

    def clear(self) -> None:
        self.per_address.clear()
        self.vanished.clear()
        self.stuck = False

    def take(self, address: int, kind: str) -> _Fault | None:
        for fault in self.per_address.get(address, []):
            if fault.kind == kind:
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.per_address[address].remove(fault)
                return fault
        return None


class SimI2CBus(I2CBus):
    """I2C bus of the simulated board."""

    def __init__(self, clock: SimClock, *, name: str = "sim", frequency: float = 400_000) -> None:
        self.name = name
        self.clock = clock
        self.frequency = frequency
        self.devices: dict[int, I2CModel] = {}
        self.faults = Faults()
        self.stats: defaultdict[int, TrafficStats] = defaultdict(TrafficStats)
        #: Called with each transaction's messages before they run (for tracing in tests).
        self.listeners: list[Callable[[Sequence[Message]], None]] = []

    def attach(self, model: I2CModel) -> I2CModel:
        if model.address in self.devices:
            other = self.devices[model.address]
            raise ValueError(
                f"address 0x{model.address:02X} already taken by {other.part} on the simulated bus"
            )
        self.devices[check_address(model.address)] = model
        return model

    def detach(self, address: int) -> None:
        self.devices.pop(address, None)

    def transfer(self, messages: Sequence[Message]) -> list[bytes]:
        if not messages:
            return []
        # the models catch up with wall time here, on the thread that uses the bus (a daemon's bus worker)
        self.clock.sync()
        for listener in self.listeners:
            listener(messages)
        if self.faults.stuck:
            self._spend(1)
            raise BusStuckError("SDA held low; bus recovery needed", bus=self.name)
        results: list[bytes] = []
        touched: list[I2CModel] = []
        wire = 0
        try:
            for message in messages:
                address = check_address(message.address)
                stats = self.stats[address]
                stats.wire_bytes += 1
                wire += 1
                model = self._route(address)
                if model is None or not model.ack_address(isinstance(message, Read)):
                    stats.nacks += 1
                    raise NoDeviceError("no acknowledge", bus=self.name, address=address)
                if model not in touched:
                    touched.append(model)
                if isinstance(message, Write):
                    try:
                        model.write(message.data)
                    except DataNack as nack:
                        stats.wire_bytes += nack.accepted + 1
                        wire += nack.accepted + 1
                        stats.nacks += 1
                        raise NackError(
                            f"data byte {nack.accepted} not acknowledged", bus=self.name, address=address
                        ) from None
                    size = len(message.data)
                    stats.written += size
                else:
                    data = bytearray(model.read(message.length))
                    corrupt = self.faults.take(address, "corrupt")
                    if corrupt and data:
                        data[-1] ^= corrupt.xor
                    size = len(data)
                    stats.read += size
                    results.append(bytes(data))
                stats.wire_bytes += size
                wire += size
                stats.transactions += 1
        finally:
            for model in touched:
                model.stop()
            self._spend(wire)
        return results

    def _route(self, address: int) -> I2CModel | None:
        if address in self.faults.vanished:
            return None
        if self.faults.take(address, "nack"):
            return None
        if self.faults.take(address, "timeout"):
            self.clock.advance(CLOCK_STRETCH_TIMEOUT)
            raise BusTimeoutError("clock stretched past the controller timeout", bus=self.name, address=address)
        return self.devices.get(address)

    def _spend(self, wire_bytes: int) -> None:
        """Advance simulated time by what the bytes take on the wire (START/STOP ignored)."""
        self.clock.advance(wire_bytes * 9 / self.frequency)

    def reset_stats(self) -> None:
        self.stats.clear()
