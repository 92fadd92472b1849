"""TPT29555 16-bit I2C GPIO expander model (PCA9555/TCA9555 register compatible).

Datasheet (PCA9555 family) "Register descriptions" and "Interrupt output"; notes in chips.md.
Command byte 0-7 selects Input 0/1 (read only: pin level XOR polarity), Output 0/1 (reset 0xFF),
Polarity inversion 0/1 (reset 0x00), Configuration 0/1 (1 = input, reset 0xFF). Consecutive bytes
alternate within the register pair (0↔1, 2↔3...). Pins are numbered 0-15: port 0 is 0-7, port 1 8-15
(the Linux gpiochip line numbers).

Physics kept deliberately small: an output pin is at its Output bit; an input pin is at the level
the simulation drives on it (:meth:`TPT29555Model.set_input`), or high when nothing drives it (the
chip's internal 100 kΩ pull-ups). The open-drain INT pin is asserted (low) while any input pin of a
port differs from what that port's Input register showed when last read; reading the port clears it.
"""

from __future__ import annotations

from collections.abc import Callable

from wisgate.clock import SimClock
from wisgate.sim.lines import SimLine
from wisgate.sim.registers import ByteRegisterModel

INPUT0, INPUT1, OUTPUT0, OUTPUT1, POLARITY0, POLARITY1, CONFIG0, CONFIG1 = range(8)

PinListener = Callable[[int], None]
"""Called with the 16 pin levels (bit n = pin n) whenever any of them changes."""


class TPT29555Model(ByteRegisterModel):
    part = "TPT29555"
    size = 8
    resets = {OUTPUT0: 0xFF, OUTPUT1: 0xFF, CONFIG0: 0xFF, CONFIG1: 0xFF}
    writable = {INPUT0: 0x00, INPUT1: 0x00}

    def __init__(self, clock: SimClock, address: int = 0x27, *, interrupt: SimLine | None = None) -> None:
        self.interrupt = interrupt
        self.listeners: list[PinListener] = []
        #: pin -> level forced from outside (a switch, a WisBlock module's output); absent = floating
        self._driven: dict[int, bool] = {}
        self._last_read = [0xFF, 0xFF]
        self._levels = 0xFFFF
        super().__init__(clock, address)

    def power_on_reset(self) -> None:
        super().power_on_reset()
        self._levels = self._compute_levels()
        # the Input registers power up showing the pins, so no interrupt is pending
        self._last_read = [self._levels & 0xFF, self._levels >> 8]
        self._refresh()

    # -- the simulation side -------------------------------------------------------------------

    def set_input(self, pin: int, level: bool | None) -> None:
        """Drive ``pin`` from outside (True/False), or release it (None: the pull-up takes it high)."""
        if not 0 <= pin <= 15:
            raise ValueError(f"{self.part} has pins 0-15, not {pin}")
        if level is None:
            self._driven.pop(pin, None)
        else:
            self._driven[pin] = bool(level)
        self._refresh()

    def levels(self) -> int:
        """The 16 pin levels, bit n = pin n."""
        return self._levels

    def level(self, pin: int) -> bool:
        return bool(self._levels >> pin & 1)

    def is_output(self, pin: int) -> bool:
        return not self._word(CONFIG0) >> pin & 1

    def on_pins_changed(self, listener: PinListener) -> None:
        self.listeners.append(listener)

    # -- registers -----------------------------------------------------------------------------

    def next_pointer(self, reg: int) -> int:
        return reg ^ 1

    def on_read(self, reg: int) -> int:
        if reg in (INPUT0, INPUT1):
            port_levels = self._levels >> (8 * reg) & 0xFF
            self._last_read[reg] = port_levels
            self._refresh()
            return port_levels ^ self.regs[POLARITY0 + reg]
        return self.regs[reg]

    def on_write(self, reg: int, value: int, written: int) -> None:
        if reg in (OUTPUT0, OUTPUT1, CONFIG0, CONFIG1):
            self._refresh()

    # -- internals -----------------------------------------------------------------------------

    def _word(self, low_reg: int) -> int:
        return self.regs[low_reg] | self.regs[low_reg + 1] << 8

    def _compute_levels(self) -> int:
        inputs = self._word(CONFIG0)
        outside = 0xFFFF  # pulled up unless driven
        for pin, level in self._driven.items():
            if not level:
                outside &= ~(1 << pin)
        return (self._word(OUTPUT0) & ~inputs | outside & inputs) & 0xFFFF

    def interrupt_pending(self) -> bool:
        for port in (0, 1):
            watched = self.regs[CONFIG0 + port]
            now = self._levels >> (8 * port) & 0xFF
            if (now ^ self._last_read[port]) & watched:
                return True
        return False

    def _refresh(self) -> None:
        old, self._levels = self._levels, self._compute_levels()
        if self.interrupt is not None:
            self.interrupt.drive(not self.interrupt_pending())  # open drain, active low
        if self._levels != old:
            for listener in list(self.listeners):
                listener(self._levels)
