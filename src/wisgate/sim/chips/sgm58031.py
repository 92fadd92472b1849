"""SGM58031 16-bit delta-sigma ADC model (ADS1115 register compatible), notes in chips.md.

Pointer register (first byte written): 0 Conversion (RO), 1 Config, 2 Lo_thresh, 3 Hi_thresh,
4 Config1, 5 Chip ID (RO, 0x0080), 6 GN_Trim1. Registers are 16 bits, MSB first; a read with no
pointer write reads the register last selected. Behaviour follows the ADS111x datasheet §9.4
(operating modes) and §9.3.8 (comparator), which the SGM58031 copies:

- Single-shot (MODE=1, reset): powered down until OS=1 is written; OS reads 0 during the
  conversion, then 1; writing OS=1 while converting has no effect.
- Continuous (MODE=0): a new conversion starts when one ends. A Config write lets the ongoing
  conversion finish with the old settings; the next one uses the new settings (so a read soon
  after a channel change returns the old channel). Writing MODE=1 powers down after it.
- Conversion time is one period of the data rate (DR field, table chosen by Config1 DR_SEL).
  The result is the input averaged over the conversion (the digital filter), LSB = FS/32768,
  rounded to the nearest code and saturating at 0x7FFF / 0x8000. Offset, gain error, noise and
  the VDD + 0.3 V input limit are not modelled.
- Comparator: traditional (assert above Hi_thresh, release below Lo_thresh) or window (assert
  outside [Lo, Hi], release inside), after 1/2/4 consecutive conversions (COMP_QUE), active low or
  high, latching until the Conversion register is read. COMP_QUE=11 puts ALERT/RDY in high-Z (the
  pull-up holds it high). Hi_thresh MSB 1 with Lo_thresh MSB 0 makes it a conversion-ready pin:
  asserted at the end of a single-shot conversion until the next start, an 8 µs pulse per
  conversion in continuous mode.

Unconfirmed for the SGM58031 and chosen here: pointers 7-255 are NACKed; a read longer than two
bytes repeats the register; Config1 and GN_Trim1 reset to 0 and their PD/BURNOUT/EXT_REF bits are
stored but have no effect.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from wisgate.bitfield import Field
from wisgate.clock import SimClock
from wisgate.sim.device import DataNack, I2CModel
from wisgate.sim.lines import SimLine

CONVERSION, CONFIG, LO_THRESH, HI_THRESH, CONFIG1, CHIP_ID, GN_TRIM1 = range(7)

OS = Field(15)
MUX = Field(12, 3)
PGA = Field(9, 3)
MODE = Field(8)
DR = Field(5, 3)
COMP_MODE = Field(4)
COMP_POL = Field(3)
COMP_LAT = Field(2)
COMP_QUE = Field(0, 2)
DR_SEL = Field(7)  # in Config1

CONFIG_RESET = 0x8583
LO_RESET = 0x8000
HI_RESET = 0x7FFF
CHIP_ID_VALUE = 0x0080
CONFIG1_WRITABLE = 0x01F8  # PD, DR_SEL, BURNOUT, INT_DIO, BUS_FLEX, EXT_REF
GN_TRIM1_WRITABLE = 0x07FF

FULL_SCALE = (6.144, 4.096, 2.048, 1.024, 0.512, 0.256, 0.256, 0.256)
RATES = (
    (6.25, 12.5, 25.0, 50.0, 100.0, 200.0, 400.0, 800.0),  # DR_SEL = 0
    (7.5, 15.0, 30.0, 60.0, 120.0, 240.0, 480.0, 960.0),  # DR_SEL = 1
)
#: MUX code -> (positive input, negative input or None for GND)
INPUTS: tuple[tuple[int, int | None], ...] = (
    (0, 1), (0, 3), (1, 3), (2, 3), (0, None), (1, None), (2, None), (3, None),
)
QUEUE = (1, 2, 4)
READY_PULSE = 8e-6
#: Filter taps: the input is averaged over this many points across a conversion.
TAPS = 8
#: Conversions worked through one by one when time jumps; older ones are skipped.
MAX_CATCH_UP = 4096

Voltmeter = Callable[[int, float], float]
"""volts(channel, t): the voltage at AIN<channel> against GND at simulated time t."""


@dataclass
class _Conversion:
    start: float
    end: float
    mux: int
    pga: int


def signed16(value: int) -> int:
    return value - 0x10000 if value & 0x8000 else value


class SGM58031Model(I2CModel):
    part = "SGM58031"

    def __init__(
        self, clock: SimClock, address: int = 0x4B, *, volts: Voltmeter, alert: SimLine | None = None
    ) -> None:
        super().__init__(clock, address)
        self.volts = volts
        self.alert = alert
        self.power_on_reset()
        clock.observe(self._catch_up)

    def power_on_reset(self) -> None:
        self.config = CONFIG_RESET & ~OS.mask  # OS is status, computed on read
        self.lo = LO_RESET
        self.hi = HI_RESET
        self.config1 = 0
        self.gn_trim1 = 0
        self.conversion = 0
        self.pointer = CONVERSION
        self._received: list[int] = []
        self._fresh = True
        self._running: _Conversion | None = None
        self._catching_up = False
        self._alert_active = False
        self._exceeded_count = 0
        #: completed conversions, for tests: (time, code)
        self.results: list[tuple[float, int]] = []
        self._drive_alert()

    # -- bus side --------------------------------------------------------------------------------

    def ack_address(self, read: bool) -> bool:
        self._catch_up(self.clock.monotonic())
        self._fresh = not read
        self._received = []
        return True

    def write(self, data: bytes) -> None:
        for index, byte in enumerate(data):
            if self._fresh:
                if byte > GN_TRIM1:
                    raise DataNack(index)
                self.pointer = byte
                self._fresh = False
                continue
            self._received.append(byte)
            if len(self._received) == 2:  # the register updates on the LSB; further bytes are ignored
                self._write_register(self.pointer, self._received[0] << 8 | self._received[1])

    def read(self, length: int) -> bytes:
        value = self._read_register(self.pointer).to_bytes(2, "big")
        return (value * (length // 2 + 1))[:length]

    # -- registers -------------------------------------------------------------------------------

    def _read_register(self, reg: int) -> int:
        if reg == CONVERSION:
            if self._alert_active and COMP_LAT.get(self.config) and not self._ready_mode():
                self._alert_active = False
                self._drive_alert()
            return self.conversion
        if reg == CONFIG:
            return OS.put(self.config, 0 if self._running else 1)
        return {
            LO_THRESH: self.lo,
            HI_THRESH: self.hi,
            CONFIG1: self.config1,
            CHIP_ID: CHIP_ID_VALUE,
            GN_TRIM1: self.gn_trim1,
        }[reg]

    def _write_register(self, reg: int, value: int) -> None:
        if reg == CONFIG:
            self._write_config(value)
        elif reg == LO_THRESH:
            self.lo = value
        elif reg == HI_THRESH:
            self.hi = value
        elif reg == CONFIG1:
            self.config1 = value & CONFIG1_WRITABLE
        elif reg == GN_TRIM1:
            self.gn_trim1 = value & GN_TRIM1_WRITABLE
        # Conversion and Chip ID are read only: the write is acknowledged and dropped

    def _write_config(self, value: int) -> None:
        self.config = value & ~OS.mask
        if COMP_QUE.get(value) == 3:
            self._alert_active = False
            self._exceeded_count = 0
        now = self.clock.monotonic()
        if self._running is None and (MODE.get(value) == 0 or OS.get(value)):
            self._start(now)
        self._drive_alert()

    # -- conversions -----------------------------------------------------------------------------

    def period(self) -> float:
        return 1.0 / RATES[DR_SEL.get(self.config1)][DR.get(self.config)]

    def _start(self, now: float) -> None:
        self._running = _Conversion(now, now + self.period(), MUX.get(self.config), PGA.get(self.config))
        if self._ready_mode() and MODE.get(self.config) == 1:
            self._alert_active = False  # single-shot RDY: released when the next conversion starts

    def _catch_up(self, now: float) -> None:
        running = self._running
        if running is None or running.end > now or self._catching_up:
            return
        # an ALERT edge callback may read the chip (and so call here again) while this runs
        self._catching_up = True
        try:
            self._complete(running, now)
        finally:
            self._catching_up = False

    def _complete(self, running: _Conversion, now: float) -> None:
        self._finish(running)
        if MODE.get(self.config) == 1:
            self._running = None
            self._drive_alert(now)
            return
        # continuous: from here on every conversion uses the current (unchanging) settings
        period = self.period()
        start = running.end
        due = math.floor((now - start) / period + 1e-9)
        keep = MAX_CATCH_UP if COMP_QUE.get(self.config) != 3 else 1
        if due > keep:
            start += (due - keep) * period
            due = keep
        for _ in range(due):
            self._finish(_Conversion(start, start + period, MUX.get(self.config), PGA.get(self.config)))
            start += period
        self._running = _Conversion(start, start + period, MUX.get(self.config), PGA.get(self.config))
        self._drive_alert(now)

    def _finish(self, conversion: _Conversion) -> None:
        positive, negative = INPUTS[conversion.mux]
        span = conversion.end - conversion.start
        total = 0.0
        for tap in range(TAPS):
            t = conversion.start + span * (tap + 0.5) / TAPS
            total += self.volts(positive, t) - (self.volts(negative, t) if negative is not None else 0.0)
        lsb = FULL_SCALE[conversion.pga] / 32768
        code = max(-32768, min(32767, round(total / TAPS / lsb)))
        self.conversion = code & 0xFFFF
        self.results.append((conversion.end, code))
        if len(self.results) > 1000:
            del self.results[:500]
        self._compare(code, conversion.end)

    # -- comparator ------------------------------------------------------------------------------

    def _ready_mode(self) -> bool:
        return bool(self.hi & 0x8000) and not self.lo & 0x8000

    def _compare(self, code: int, at: float) -> None:
        queue = COMP_QUE.get(self.config)
        if queue == 3:
            return
        if self._ready_mode():
            self._alert_active = True
            if MODE.get(self.config) == 0:
                self._drive_alert(at)
                self._alert_active = False  # the continuous-mode pulse is over in 8 µs
                at += READY_PULSE
            self._drive_alert(at)
            return
        hi, lo = signed16(self.hi), signed16(self.lo)
        window = COMP_MODE.get(self.config) == 1
        outside = code > hi or (window and code < lo)
        self._exceeded_count = self._exceeded_count + 1 if outside else 0
        if self._exceeded_count >= QUEUE[queue]:
            self._alert_active = True
        elif not COMP_LAT.get(self.config) and (code < lo if not window else not outside):
            self._alert_active = False
        self._drive_alert(at)

    def alert_level(self) -> bool:
        """The ALERT/RDY pin's level (True = high)."""
        if COMP_QUE.get(self.config) == 3:
            return True  # high-Z, pulled up
        active_high = COMP_POL.get(self.config) == 1
        return self._alert_active == active_high

    def _drive_alert(self, at: float | None = None) -> None:
        """Set the pin; ``at`` stamps an edge that happened during a clock advance."""
        if self.alert is not None:
            self.alert.drive(self.alert_level(), at=at)
