"""SHTC3 model: 16-bit commands, sleep/idle/measuring states, CRC-8 results (datasheet §5)."""

from __future__ import annotations

from collections.abc import Callable

from wisgate.clock import SimClock
from wisgate.crc import crc8_sensirion
from wisgate.sim.device import DataNack, I2CModel

WAKEUP_TIME = 0.000240
MEASURE_NORMAL = 0.0121
MEASURE_LOW_POWER = 0.0008
#: Product code register value (bits 0x083F must read 0x0807).
ID_WORD = 0x0887

# command -> (temperature first, clock stretching, low power)
MEASURE_COMMANDS = {
    0x7CA2: (True, True, False),
    0x5C24: (False, True, False),
    0x7866: (True, False, False),
    0x58E0: (False, False, False),
    0x6458: (True, True, True),
    0x44DE: (False, True, True),
    0x609C: (True, False, True),
    0x401A: (False, False, True),
}


def with_crc(word: int) -> bytes:
    raw = (word & 0xFFFF).to_bytes(2, "big")
    return raw + bytes([crc8_sensirion(raw)])


class SHTC3Model(I2CModel):
    part = "SHTC3"

    def __init__(
        self,
        clock: SimClock,
        address: int = 0x70,
        *,
        temperature: Callable[[], float],
        humidity: Callable[[], float],
    ) -> None:
        super().__init__(clock, address)
        self.temperature = temperature
        self.humidity = humidity
        self.power_on_reset()

    def power_on_reset(self) -> None:
        # after power-up the chip is idle (awake) until told to sleep
        self.asleep = False
        self.ready_at = self.clock.monotonic() + WAKEUP_TIME
        self.output = b""
        self.pending: tuple[float, bool, bool] | None = None  # (done at, T first, stretching)
        self.buffer = bytearray()

    def _busy(self) -> bool:
        now = self.clock.monotonic()
        if self.pending and now >= self.pending[0]:
            self._finish()
        return now < self.ready_at or self.pending is not None

    def _finish(self) -> None:
        assert self.pending is not None
        _, t_first, _ = self.pending
        raw_t = round((self.temperature() + 45) * 65536 / 175)
        raw_rh = round(self.humidity() * 65536 / 100)
        raw_t = max(0, min(0xFFFF, raw_t))
        raw_rh = max(0, min(0xFFFF, raw_rh))
        first, second = (raw_t, raw_rh) if t_first else (raw_rh, raw_t)
        self.output = with_crc(first) + with_crc(second)
        self.pending = None

    def ack_address(self, read: bool) -> bool:
        self.buffer.clear()
        if self.asleep:
            return not read  # the interface listens for the wakeup command only
        if self.pending and self.pending[2] and read:
            # clock stretching: the read waits for the conversion inside the transfer
            self.clock.advance(max(0.0, self.pending[0] - self.clock.monotonic()))
        return not self._busy()

    def write(self, data: bytes) -> None:
        for index, byte in enumerate(data):
            self.buffer.append(byte)
            if len(self.buffer) == 2:
                code = int.from_bytes(self.buffer, "big")
                self.buffer.clear()
                if (self.asleep and code != 0x3517) or not self._command(code):
                    raise DataNack(index)

    def _command(self, code: int) -> bool:
        """Run ``code``; False for a command the chip does not know (it NACKs it)."""
        now = self.clock.monotonic()
        if code == 0x3517:
            if self.asleep:
                self.asleep = False
                self.ready_at = now + WAKEUP_TIME
        elif code == 0xB098:
            self.asleep = True
            self.output = b""
        elif code == 0x805D:
            self.output = b""
            self.ready_at = now + WAKEUP_TIME
        elif code == 0xEFC8:
            self.output = with_crc(ID_WORD)
        elif code in MEASURE_COMMANDS:
            t_first, stretching, low_power = MEASURE_COMMANDS[code]
            duration = MEASURE_LOW_POWER if low_power else MEASURE_NORMAL
            self.output = b""
            self.pending = (now + duration, t_first, stretching)
        else:
            return False
        return True

    def read(self, length: int) -> bytes:
        data = self.output[:length]
        self.output = self.output[length:]
        return data + b"\xff" * (length - len(data))
