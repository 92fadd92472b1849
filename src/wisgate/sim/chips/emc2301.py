"""EMC2301 model: RPM-based PWM fan controller (SMSC/Microchip EMC2301 datasheet rev 1.1).

Register map and locks from Table 5.1; PWM (§5.6-5.8), TACH count (§5.18 eq. 2), spin-up routine
(§4.6, Table 5.20-5.22), RPM-based fan speed control (§4.3, §5.9-5.12), drive fail (§5.16), watchdog
(EMC2302 §4.8, same family). The chip runs on simulated time: :meth:`run_until` steps its sequencer
(update ticks, spin-up phases, watchdog) and the board calls it with the physics.

What the datasheet leaves open is chosen and written down here:

- The FSC loop is a velocity-form PID on the relative TACH count error, its gains scaled so the reset
  settings settle a typical fan in a few seconds; the real chip's internal scaling is not published.
- The drive is kept with finer resolution than the Fan Setting register shows (the register reads it
  rounded), as the silicon keeps more bits than it reports.
- Stall is checked once per UPDATE period, not while the power-up watchdog runs (§4.8) nor during
  spin-up; in direct mode a stalled fan is reported, in FSC mode it is also spun up again.
- A failed spin-up is retried at once with FSC (Table 5.22 note); in direct mode the drive goes to the
  Fan Setting and the stall check reports the fan.
"""

from __future__ import annotations

from collections.abc import Callable

from wisgate.clock import SimClock
from wisgate.sim.registers import ByteRegisterModel

CONFIG = 0x20
FAN_STATUS = 0x24
STALL_STATUS = 0x25
SPIN_STATUS = 0x26
DRIVE_FAIL_STATUS = 0x27
INTERRUPT_ENABLE = 0x29
PWM_POLARITY = 0x2A
PWM_OUTPUT = 0x2B
PWM_BASE = 0x2D
FAN_SETTING = 0x30
PWM_DIVIDE = 0x31
FAN_CONFIG1 = 0x32
FAN_CONFIG2 = 0x33
GAIN = 0x35
SPIN_UP = 0x36
MAX_STEP = 0x37
MIN_DRIVE = 0x38
VALID_TACH = 0x39
DRIVE_FAIL_BAND_LOW = 0x3A
DRIVE_FAIL_BAND_HIGH = 0x3B
TACH_TARGET_LOW = 0x3C
TACH_TARGET_HIGH = 0x3D
TACH_READING_HIGH = 0x3E
TACH_READING_LOW = 0x3F
SOFTWARE_LOCK = 0xEF
PRODUCT_ID = 0xFD
MANUFACTURER_ID = 0xFE
REVISION = 0xFF

RESETS = {
    CONFIG: 0x40,
    PWM_DIVIDE: 0x01,
    FAN_CONFIG1: 0x2B,
    FAN_CONFIG2: 0x28,
    GAIN: 0x2A,
    SPIN_UP: 0x19,
    MAX_STEP: 0x10,
    MIN_DRIVE: 0x66,
    VALID_TACH: 0xF5,
    TACH_TARGET_LOW: 0xF8,
    TACH_TARGET_HIGH: 0xFF,
    TACH_READING_HIGH: 0xFF,
    TACH_READING_LOW: 0xF8,
    PRODUCT_ID: 0x37,
    MANUFACTURER_ID: 0x5D,
    REVISION: 0x80,
}

# Bits the host may write; every address not listed is undefined (reads 0, ignores writes).
DEFINED_WRITABLE = {
    CONFIG: 0xE3,
    FAN_STATUS: 0x00,
    STALL_STATUS: 0x00,
    SPIN_STATUS: 0x00,
    DRIVE_FAIL_STATUS: 0x00,
    INTERRUPT_ENABLE: 0x01,
    PWM_POLARITY: 0x01,
    PWM_OUTPUT: 0x01,
    PWM_BASE: 0x03,
    FAN_SETTING: 0xFF,
    PWM_DIVIDE: 0xFF,
    FAN_CONFIG1: 0xFF,
    FAN_CONFIG2: 0x7E,
    GAIN: 0x3F,
    SPIN_UP: 0xFF,
    MAX_STEP: 0x3F,
    MIN_DRIVE: 0xFF,
    VALID_TACH: 0xFF,
    DRIVE_FAIL_BAND_LOW: 0xF8,
    DRIVE_FAIL_BAND_HIGH: 0xFF,
    TACH_TARGET_LOW: 0xF8,
    TACH_TARGET_HIGH: 0xFF,
    TACH_READING_HIGH: 0x00,
    TACH_READING_LOW: 0x00,
    SOFTWARE_LOCK: 0x01,
    PRODUCT_ID: 0x00,
    MANUFACTURER_ID: 0x00,
    REVISION: 0x00,
}
WRITABLE = {reg: DEFINED_WRITABLE.get(reg, 0x00) for reg in range(256)}

#: Registers marked SWL in Table 5.1: read-only once LOCK is set, until power-on reset.
SOFTWARE_LOCKED = (
    CONFIG, FAN_CONFIG2, GAIN, SPIN_UP, MAX_STEP, MIN_DRIVE, VALID_TACH,
    DRIVE_FAIL_BAND_LOW, DRIVE_FAIL_BAND_HIGH, SOFTWARE_LOCK,
)

TACH_CLOCK_HZ = 32_768
TACH_MAX = 0x1FFF
PWM_BASE_HZ = (26_000.0, 19_531.0, 4_882.0, 2_441.0)
UPDATE_S = (0.1, 0.2, 0.3, 0.4, 0.5, 0.8, 1.2, 1.6)
SPIN_UP_S = (0.25, 0.5, 1.0, 2.0)
DRIVE_FAIL_PERIODS = (0, 16, 32, 64)
ERROR_WINDOW_RPM = (0, 50, 100, 200)
WATCHDOG_S = 4.0
#: Drive change per update for a relative TACH error of 1 at gain 1 (tuned, see module docstring).
FSC_SCALE = 12.0

# Fan Configuration 1 / 2, Config and Spin Up bits
EN_ALGO = 0x80
EN_RRC = 0x40
WD_EN = 0x20
NOKICK = 0x20
WATCH = 0x80


class EMC2301Model(ByteRegisterModel):
    part = "EMC2301"
    resets = RESETS
    writable = WRITABLE

    def __init__(self, clock: SimClock, address: int = 0x2F, *, tach_hz: Callable[[], float]) -> None:
        """``tach_hz``: pulses per second on the TACH pin (0 for a stopped or missing fan)."""
        self.tach_hz = tach_hz
        super().__init__(clock, address)

    # ----- power-on state

    def power_on_reset(self) -> None:
        super().power_on_reset()
        self.writable = dict(WRITABLE)
        now = self.clock.monotonic()
        self.now = now
        #: Current drive 0..255 (finer than the register shows).
        self.drive = 0.0
        #: What the host wrote to Fan Setting (direct mode).
        self.setting = 0
        self.tach_target = TACH_MAX
        self.latched_low = RESETS[TACH_READING_LOW]
        self.watchdog_deadline: float | None = now + WATCHDOG_S
        self.watchdog_continuous = False
        self.next_tick = now + self.update_period
        self.spin_phase: str | None = None  # "kick" | "level"
        self.spin_phase_end = 0.0
        self.spin_level_end = 0.0
        self.algo = False
        self.errors = (0.0, 0.0)  # previous two relative errors, newest first
        self.drive_fail_updates = 0
        # conditions now (True = present) and their latched status bits
        self.stalled = self.spin_failed = self.drive_failed = False
        self.stall_bit = self.spin_bit = self.drive_fail_bit = False
        self.watch_bit = False

    # ----- decoded settings

    @property
    def fsc_enabled(self) -> bool:
        return bool(self.regs[FAN_CONFIG1] & EN_ALGO)

    @property
    def range_multiplier(self) -> int:
        return 1 << ((self.regs[FAN_CONFIG1] >> 5) & 0x03)

    @property
    def edges(self) -> int:
        return 3 + 2 * ((self.regs[FAN_CONFIG1] >> 3) & 0x03)

    @property
    def update_period(self) -> float:
        return UPDATE_S[self.regs[FAN_CONFIG1] & 0x07]

    @property
    def valid_count_high(self) -> int:
        return self.regs[VALID_TACH]

    @property
    def target_off(self) -> bool:
        """TACH Target high byte FFh: with FSC, the fan is driven at 0 %."""
        return self.tach_target >> 5 == 0xFF

    @property
    def pwm_frequency_hz(self) -> float:
        return PWM_BASE_HZ[self.regs[PWM_BASE] & 0x03] / max(1, self.regs[PWM_DIVIDE])

    @property
    def push_pull(self) -> bool:
        return bool(self.regs[PWM_OUTPUT] & 0x01)

    @property
    def pwm_duty(self) -> float:
        """Fraction of each PWM period the pin is high, as the fan's PWM input sees it."""
        duty = self.drive / 255
        return 1.0 - duty if self.regs[PWM_POLARITY] & 0x01 else duty

    @property
    def alert(self) -> bool:
        """ALERT# asserted (MASK clear, fan interrupt enabled, a fan status bit set)."""
        if self.regs[CONFIG] & 0x80 or not self.regs[INTERRUPT_ENABLE] & 0x01:
            return False
        return self.stall_bit or self.spin_bit or self.drive_fail_bit

    # ----- TACH measurement (§5.18 eq. 2)

    def measure_count(self) -> int:
        """The count the chip latches now: m × (n − 1) × 32768 / f_tach, 0x1FFF when stopped."""
        hz = self.tach_hz()
        if hz <= 0:
            return TACH_MAX
        count = self.range_multiplier * (self.edges - 1) * TACH_CLOCK_HZ / hz
        return max(1, min(TACH_MAX, round(count)))

    def count_to_rpm(self, count: int) -> float:
        """RPM as the chip's algorithm sees a count (eq. 3, edges matched to poles)."""
        return 3_932_160 * self.range_multiplier / max(1, count)

    def count_is_stalled(self, count: int) -> bool:
        return count >> 5 > self.valid_count_high

    # ----- sequencer on simulated time

    def run_until(self, t: float) -> None:
        """Run every update tick, spin-up phase and watchdog expiry due up to ``t``."""
        while True:
            due = self.next_tick
            if self.spin_phase is not None:
                due = min(due, self.spin_phase_end)
            if self.watchdog_deadline is not None:
                due = min(due, self.watchdog_deadline)
            if due > t:
                break
            self.now = due
            if self.watchdog_deadline is not None and due >= self.watchdog_deadline:
                self._watchdog_fires()
            if self.spin_phase is not None and due >= self.spin_phase_end:
                self._spin_phase_over()
            if due >= self.next_tick:
                self.next_tick = due + self.update_period
                self._tick()
        self.now = max(self.now, t)

    def _sync(self) -> None:
        self.run_until(self.clock.monotonic())

    def _watchdog_fires(self) -> None:
        # §4.8: WATCH set, drive 100 % until reprogrammed; the FSC algorithm is switched off
        self.watch_bit = True
        self.regs[FAN_CONFIG1] &= ~EN_ALGO & 0xFF
        self.algo = False
        self.setting = 0xFF
        self.spin_phase = None
        self.drive = 255.0
        self.watchdog_deadline = None

    def _power_up_watchdog_running(self) -> bool:
        return self.watchdog_deadline is not None and not self.watchdog_continuous

    # ----- spin-up routine (§4.6)

    def _start_spin_up(self) -> None:
        total = SPIN_UP_S[self.regs[SPIN_UP] & 0x03]
        if self.regs[SPIN_UP] & NOKICK:
            self._spin_level_phase(self.now + total)
        else:
            self.spin_phase = "kick"
            self.spin_phase_end = self.now + total / 4
            self.spin_level_end = self.now + total
            self.drive = 255.0

    def _spin_level_phase(self, end: float) -> None:
        self.spin_phase = "level"
        self.spin_phase_end = end
        level = 30 + 5 * ((self.regs[SPIN_UP] >> 2) & 0x07)
        self.drive = 255 * level / 100

    def _spin_phase_over(self) -> None:
        if self.spin_phase == "kick":
            self._spin_level_phase(self.spin_level_end)
            return
        self.spin_phase = None
        if self.count_is_stalled(self.measure_count()):
            self.spin_failed = self.spin_bit = True
            if self.fsc_enabled:
                self._start_spin_up()  # FSC retries at once
                return
        else:
            self.spin_failed = False
            self.stalled = False
        if self.fsc_enabled:
            self.drive = max(self.drive, float(self.regs[MIN_DRIVE]))
            self.errors = (0.0, 0.0)
        elif not self.regs[FAN_CONFIG2] & EN_RRC:
            self.drive = float(self.setting)

    # ----- per-update work

    def _tick(self) -> None:
        if self.spin_phase is not None:
            return
        if self.fsc_enabled:
            self._fsc_update()
        elif self.regs[FAN_CONFIG2] & EN_RRC:
            step = float(self.regs[MAX_STEP])
            self.drive += max(-step, min(step, self.setting - self.drive))
        if not (self.fsc_enabled and self.target_off):
            self._check_stall()

    def _check_stall(self) -> None:
        if self.drive <= 0 or self._power_up_watchdog_running() or self.spin_phase is not None:
            self.stalled = False
            return
        self.stalled = self.count_is_stalled(self.measure_count())
        if self.stalled:
            self.stall_bit = True
            if self.fsc_enabled:
                self._start_spin_up()

    def _fsc_update(self) -> None:
        if self.target_off:
            self.drive = 0.0
            self.drive_failed = False
            return
        if self.tach_target >> 5 > self.valid_count_high:
            return  # a target slower than "valid" is ignored: the drive holds
        count = self.measure_count()
        if self.count_is_stalled(count):
            return  # the stall check that follows restarts the fan
        error = (count - self.tach_target) / self.tach_target  # > 0: too slow
        e1, e2 = self.errors
        self.errors = (error, e1)
        self._track_drive_fail(count)
        window = ERROR_WINDOW_RPM[(self.regs[FAN_CONFIG2] >> 1) & 0x03]
        if abs(self.count_to_rpm(count) - self.count_to_rpm(self.tach_target)) <= window:
            return
        gain = self.regs[GAIN]
        kp, ki, kd = 1 << (gain & 0x03), 1 << ((gain >> 2) & 0x03), 1 << ((gain >> 4) & 0x03)
        derivative = kd * (error - 2 * e1 + e2) * FSC_SCALE
        options = (self.regs[FAN_CONFIG2] >> 3) & 0x03
        capped = (kp * (error - e1) + ki * error) * FSC_SCALE
        if options & 0x01:
            capped += derivative
        step = float(self.regs[MAX_STEP])
        change = max(-step, min(step, capped))
        if options & 0x02:
            change += derivative  # the step derivative is not capped by Max Step
        self.drive = max(float(self.regs[MIN_DRIVE]), min(255.0, self.drive + change))

    def _track_drive_fail(self, count: int) -> None:
        periods = DRIVE_FAIL_PERIODS[(self.regs[SPIN_UP] >> 6) & 0x03]
        band = (self.regs[DRIVE_FAIL_BAND_HIGH] << 5) | (self.regs[DRIVE_FAIL_BAND_LOW] >> 3)
        if not periods or self.drive < 255 or count <= self.tach_target + band:
            self.drive_fail_updates = 0
            self.drive_failed = False
            return
        self.drive_fail_updates += 1
        if self.drive_fail_updates >= periods:
            self.drive_failed = self.drive_fail_bit = True

    # ----- bus side

    def ack_address(self, read: bool) -> bool:
        self._sync()
        if self.watchdog_continuous:
            self.watchdog_deadline = self.now + WATCHDOG_S
        return super().ack_address(read)

    def on_write(self, reg: int, value: int, written: int) -> None:
        if reg == FAN_SETTING:
            self._host_sets_drive(written)
        elif reg == FAN_CONFIG1:
            self._config1_written(value)
        elif reg == TACH_TARGET_HIGH:
            self._target_written()
        elif reg == CONFIG:
            self._config_written(value)
        elif reg == SOFTWARE_LOCK and value & 0x01:
            for locked in SOFTWARE_LOCKED:
                self.writable[locked] = 0x00

    def _host_sets_drive(self, value: int) -> None:
        if self._power_up_watchdog_running():
            self.watchdog_deadline = None
        if self.fsc_enabled:
            return  # read-only while the algorithm runs
        was_off = self.drive <= 0 and self.spin_phase is None
        self.setting = value
        if value == 0:
            self.spin_phase = None
            self.drive = 0.0
            self.stalled = self.spin_failed = False
        elif was_off:
            self._start_spin_up()
        elif self.spin_phase is None and not self.regs[FAN_CONFIG2] & EN_RRC:
            self.drive = float(value)

    def _config1_written(self, value: int) -> None:
        self.next_tick = min(self.next_tick, self.now + self.update_period)
        was_on, self.algo = self.algo, bool(value & EN_ALGO)
        if was_on and not self.algo:
            # direct mode carries on from the drive the algorithm left
            self.spin_phase = None
            self.setting = round(self.drive)
        elif self.algo and not was_on:
            if self._power_up_watchdog_running():
                self.watchdog_deadline = None
            self._fsc_start()

    def _fsc_start(self) -> None:
        self.errors = (0.0, 0.0)
        if self.target_off:
            self.spin_phase = None
            self.drive = 0.0
        elif self.drive <= 0 and self.spin_phase is None:
            self._start_spin_up()

    def _target_written(self) -> None:
        was_off = self.target_off
        self.tach_target = (self.regs[TACH_TARGET_HIGH] << 5) | (self.regs[TACH_TARGET_LOW] >> 3)
        if not self.fsc_enabled:
            return
        if self.target_off:
            self.spin_phase = None
            self.drive = 0.0
        elif was_off:
            self._fsc_start()

    def _config_written(self, value: int) -> None:
        continuous = bool(value & WD_EN)
        if continuous and not self.watchdog_continuous:
            self.watchdog_deadline = self.now + WATCHDOG_S
        elif not continuous and self.watchdog_continuous:
            self.watchdog_deadline = None
        self.watchdog_continuous = continuous

    def on_read(self, reg: int) -> int:
        if reg == FAN_SETTING:
            return round(self.drive)
        if reg == TACH_READING_HIGH:
            count = self.measure_count()
            self.latched_low = (count & 0x1F) << 3
            return count >> 5
        if reg == TACH_READING_LOW:
            return self.latched_low
        if reg == FAN_STATUS:
            value = (WATCH if self.watch_bit else 0) | self._status_bits()
            self.watch_bit = False
            return value
        if reg in (STALL_STATUS, SPIN_STATUS, DRIVE_FAIL_STATUS):
            return self._read_and_clear(reg)
        return self.regs[reg]

    def _status_bits(self) -> int:
        return (self.drive_fail_bit << 2) | (self.spin_bit << 1) | int(self.stall_bit)

    def _read_and_clear(self, reg: int) -> int:
        # R-C: a read clears the bit unless the condition is still there
        if reg == STALL_STATUS:
            value, self.stall_bit = self.stall_bit, self.stalled
        elif reg == SPIN_STATUS:
            value, self.spin_bit = self.spin_bit, self.spin_failed
        else:
            value, self.drive_fail_bit = self.drive_fail_bit, self.drive_failed
        return int(value)
