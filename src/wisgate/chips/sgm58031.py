"""SGM58031 16-bit ADC (ADS1115 compatible), the RAK7391's four analog inputs at 0x4B.

Register notes in chips.md (from the ADS111x datasheet §9.6 and SGM58031 libraries): 16-bit
registers MSB first, Config with OS/MUX/PGA/MODE/DR/COMP fields, Config1 bit 7 DR_SEL choosing the
rate table, Chip ID 0x0080. The WisBlock analog inputs arrive on channels 1 and 3 (rak-software.md §5).

Single-shot reads write Config with OS=1, wait one conversion period and poll OS (reads 0 while
converting) against a deadline. Continuous mode is start / read latest / stop; after a Config
change the chip finishes the ongoing conversion with the old settings, so :meth:`start_continuous`
waits old period + new period (+10 %) before the first value is the new channel's (Linux
ti-ads1015 waits the same way).
"""

from __future__ import annotations

from dataclasses import dataclass

from wisgate.bitfield import Field
from wisgate.bus.i2c import I2CBus
from wisgate.chips.device import I2CDevice
from wisgate.clock import Clock
from wisgate.errors import ChipTimeoutError, ConfigError, WrongChipError

ADDRESS = 0x4B
ADDRESSES = (0x48, 0x49, 0x4A, 0x4B)

CONVERSION = 0x00
CONFIG = 0x01
LO_THRESH = 0x02
HI_THRESH = 0x03
CONFIG1 = 0x04
CHIP_ID = 0x05
GN_TRIM1 = 0x06

CHIP_ID_VALUE = 0x0080

# Config fields
OS = Field(15)
MUX = Field(12, 3)
PGA = Field(9, 3)
MODE = Field(8)  # 1 single-shot / power-down
DR = Field(5, 3)
COMP_MODE = Field(4)  # 1 window
COMP_POL = Field(3)  # 1 active high
COMP_LAT = Field(2)
COMP_QUE = Field(0, 2)  # 11 disabled
COMPARATOR_BITS = COMP_MODE.mask | COMP_POL.mask | COMP_LAT.mask | COMP_QUE.mask
# Config1 fields
DR_SEL = Field(7)

#: Full-scale range in volts, by PGA code.
FULL_SCALES = (6.144, 4.096, 2.048, 1.024, 0.512, 0.256)
#: Samples per second by DR code, for DR_SEL = 0 and 1.
RATE_TABLES = (
    (6.25, 12.5, 25.0, 50.0, 100.0, 200.0, 400.0, 800.0),
    (7.5, 15.0, 30.0, 60.0, 120.0, 240.0, 480.0, 960.0),
)
RATES = tuple(sorted(RATE_TABLES[0] + RATE_TABLES[1]))
DIFFERENTIAL = {(0, 1): 0, (0, 3): 1, (1, 3): 2, (2, 3): 3}
QUEUE_CODES = {1: 0, 2: 1, 4: 2}

#: The chip's oscillator may run this much slow (ADS111x: data rate ±10 %).
RATE_TOLERANCE = 0.10
POLL_MARGIN = 0.005

Channel = int | tuple[int, int]
"""0-3 for AINn against GND, or a pair (p, n) from (0, 1), (0, 3), (1, 3), (2, 3)."""


def mux_code(channel: Channel) -> int:
    if isinstance(channel, tuple):
        if channel not in DIFFERENTIAL:
            raise ConfigError(f"SGM58031 cannot measure AIN{channel[0]}-AIN{channel[1]}; pairs: {sorted(DIFFERENTIAL)}")
        return DIFFERENTIAL[channel]
    if channel not in range(4):
        raise ConfigError(f"SGM58031 channel {channel} does not exist (0-3)")
    return 4 + channel


def pga_code(full_scale: float) -> int:
    for code, volts in enumerate(FULL_SCALES):
        if abs(volts - full_scale) < 1e-6:
            return code
    raise ConfigError(f"SGM58031 gain ±{full_scale} V is not one of {FULL_SCALES}")


def rate_code(rate: float) -> tuple[int, int]:
    """(DR_SEL, DR) for ``rate`` samples per second."""
    for dr_sel, table in enumerate(RATE_TABLES):
        for code, sps in enumerate(table):
            if abs(sps - rate) < 1e-6:
                return dr_sel, code
    raise ConfigError(f"SGM58031 data rate {rate} SPS is not one of {RATES}")


def signed16(value: int) -> int:
    return value - 0x10000 if value & 0x8000 else value


@dataclass(frozen=True)
class Comparator:
    """ALERT/RDY comparator settings; thresholds in volts at the gain they were set for."""

    low: float
    high: float
    window: bool = False
    active_high: bool = False
    latching: bool = False
    queue: int = 1


class SGM58031(I2CDevice):
    chip = "SGM58031"

    def __init__(
        self,
        bus: I2CBus,
        address: int = ADDRESS,
        *,
        clock: Clock | None = None,
        gain: float = 2.048,
        rate: float = 100.0,
    ) -> None:
        super().__init__(bus, address, clock=clock)
        self.gain = gain
        self.rate = rate
        pga_code(gain)
        rate_code(rate)
        self._comparator_bits = COMP_QUE.mask  # disabled, as at reset
        self._config1: int | None = None
        self._continuous: tuple[Channel, float, float] | None = None  # channel, gain, rate

    @classmethod
    def open(
        cls,
        bus: I2CBus,
        address: int = ADDRESS,
        *,
        clock: Clock | None = None,
        gain: float = 2.048,
        rate: float = 100.0,
    ) -> SGM58031:
        """A driver for the chip at ``address``, after checking its Chip ID register."""
        adc = cls(bus, address, clock=clock, gain=gain, rate=rate)
        adc.check_id()
        return adc

    # -- registers -------------------------------------------------------------------------------

    def read_register(self, register: int) -> int:
        return int.from_bytes(self.read_reg(register, 2), "big")

    def write_register(self, register: int, value: int) -> None:
        self.write_reg(register, (value & 0xFFFF).to_bytes(2, "big"))

    def read_chip_id(self) -> int:
        return self.read_register(CHIP_ID)

    def check_id(self) -> None:
        ident = self.read_chip_id()
        if ident != CHIP_ID_VALUE:
            raise WrongChipError(
                f"Chip ID register reads 0x{ident:04X}, not 0x{CHIP_ID_VALUE:04X} (an ADS1115 has no such register)",
                chip=self.chip,
                address=self.address,
            )

    def _use_rate(self, rate: float) -> int:
        """Set DR_SEL for ``rate`` if needed; return the DR code."""
        dr_sel, code = rate_code(rate)
        if self._config1 is None:
            self._config1 = self.read_register(CONFIG1)
        if DR_SEL.get(self._config1) != dr_sel:
            self._config1 = DR_SEL.put(self._config1, dr_sel)
            self.write_register(CONFIG1, self._config1)
        return code

    def _config(self, channel: Channel, gain: float, rate: float, *, single: bool) -> int:
        word = self._comparator_bits
        word = MUX.put(word, mux_code(channel))
        word = PGA.put(word, pga_code(gain))
        word = MODE.put(word, 1 if single else 0)
        word = DR.put(word, self._use_rate(rate))
        return OS.put(word, 1 if single else 0)

    # -- single-shot -----------------------------------------------------------------------------

    @staticmethod
    def conversion_time(rate: float) -> float:
        return 1.0 / rate

    def read_raw(self, channel: Channel = 0, *, gain: float | None = None, rate: float | None = None) -> int:
        """One single-shot conversion: the signed code."""
        gain = self.gain if gain is None else gain
        rate = self.rate if rate is None else rate
        if self._continuous:
            # OS=1 is ignored while a continuous conversion runs: let it end first
            old_rate = self._continuous[2]
            self.stop_continuous()
            self._wait_idle(old_rate, waited=0.0)
        self.write_register(CONFIG, self._config(channel, gain, rate, single=True))
        period = self.conversion_time(rate)
        self.clock.sleep(period)
        self._wait_idle(rate, waited=period)
        return signed16(self.read_register(CONVERSION))

    def _wait_idle(self, rate: float, *, waited: float) -> None:
        """Poll OS until the conversion started ``waited`` s ago at ``rate`` is done."""
        period = self.conversion_time(rate)
        start = self.clock.monotonic() - waited
        deadline = start + period * (1 + RATE_TOLERANCE) + POLL_MARGIN
        while not OS.get(self.read_register(CONFIG)):
            if self.clock.monotonic() >= deadline:
                raise ChipTimeoutError(
                    f"conversion not done {self.clock.monotonic() - start:.4f} s after start "
                    f"(expected {period:.4f} s at {rate} SPS)",
                    chip=self.chip,
                    address=self.address,
                )
            self.clock.sleep(min(period / 20, 0.0005))

    def read_volts(self, channel: Channel = 0, *, gain: float | None = None, rate: float | None = None) -> float:
        """One single-shot conversion in volts (``gain`` = full scale, ±V)."""
        gain = self.gain if gain is None else gain
        return self.read_raw(channel, gain=gain, rate=rate) * gain / 32768

    # -- continuous ------------------------------------------------------------------------------

    def start_continuous(
        self, channel: Channel = 0, *, gain: float | None = None, rate: float | None = None, settle: bool = True
    ) -> None:
        """Convert ``channel`` continuously. With ``settle`` the call returns once a conversion
        with the new settings is in the Conversion register."""
        gain = self.gain if gain is None else gain
        rate = self.rate if rate is None else rate
        previous = self._continuous
        self.write_register(CONFIG, self._config(channel, gain, rate, single=False))
        self._continuous = (channel, gain, rate)
        if settle:
            # an ongoing conversion finishes with the old settings first
            wait = self.conversion_time(rate) + (self.conversion_time(previous[2]) if previous else 0.0)
            self.clock.sleep(wait * (1 + RATE_TOLERANCE))

    def read_latest_raw(self) -> int:
        """The Conversion register as it is (continuous mode: the newest finished conversion)."""
        return signed16(self.read_register(CONVERSION))

    def read_latest_volts(self) -> float:
        gain = self._continuous[1] if self._continuous else self.gain
        return self.read_latest_raw() * gain / 32768

    def stop_continuous(self) -> None:
        """Back to single-shot (power-down after the ongoing conversion)."""
        word = self.read_register(CONFIG)
        self.write_register(CONFIG, OS.put(MODE.put(word, 1), 0))
        self._continuous = None

    @property
    def continuous(self) -> bool:
        return self._continuous is not None

    # -- comparator and ALERT/RDY ----------------------------------------------------------------

    def volts_to_code(self, volts: float, gain: float | None = None) -> int:
        gain = self.gain if gain is None else gain
        return max(-32768, min(32767, round(volts * 32768 / gain)))

    def set_comparator(self, comparator: Comparator, *, gain: float | None = None) -> None:
        """Thresholds in volts (converted at ``gain``) and comparator mode; ALERT/RDY is enabled."""
        if comparator.queue not in QUEUE_CODES:
            raise ConfigError(f"SGM58031 comparator queue {comparator.queue} is not 1, 2 or 4")
        low = self.volts_to_code(comparator.low, gain)
        high = self.volts_to_code(comparator.high, gain)
        if low > high:
            raise ConfigError(f"SGM58031 comparator low threshold {comparator.low} V is above high {comparator.high} V")
        self.write_register(LO_THRESH, low & 0xFFFF)
        self.write_register(HI_THRESH, high & 0xFFFF)
        bits = COMP_QUE.put(0, QUEUE_CODES[comparator.queue])
        bits = COMP_MODE.put(bits, int(comparator.window))
        bits = COMP_POL.put(bits, int(comparator.active_high))
        bits = COMP_LAT.put(bits, int(comparator.latching))
        self._set_comparator_bits(bits)

    def enable_conversion_ready(self, *, active_high: bool = False) -> None:
        """ALERT/RDY signals each finished conversion (Hi_thresh MSB 1, Lo_thresh MSB 0)."""
        self.write_register(LO_THRESH, 0x0000)
        self.write_register(HI_THRESH, 0x8000)
        self._set_comparator_bits(COMP_POL.put(0, int(active_high)))

    def disable_comparator(self) -> None:
        """ALERT/RDY to high impedance (COMP_QUE = 11)."""
        self._set_comparator_bits(COMP_QUE.mask)

    def thresholds(self) -> tuple[int, int]:
        """(Lo_thresh, Hi_thresh) as signed codes."""
        return signed16(self.read_register(LO_THRESH)), signed16(self.read_register(HI_THRESH))

    def _set_comparator_bits(self, bits: int) -> None:
        self._comparator_bits = bits
        word = self.read_register(CONFIG)
        # OS=0 so that this write starts no conversion
        self.write_register(CONFIG, OS.put(word & ~COMPARATOR_BITS | bits, 0))
