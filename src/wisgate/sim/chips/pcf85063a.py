"""PCF85063A real-time clock model (NXP PCF85063A datasheet §7 registers, §8 functional description).

The time registers are the chip's counters: each second tick increments them as BCD counters, so a
value written outside its range (an invalid BCD digit, second 0x7A) is kept and counted on as the
counters would, without inventing a carry. Internally the chip keeps its own time scale ``tau``
that runs at the crystal rate (``drift_ppm``) corrected by the Offset register, stands still while
STOP is set, and drives the 1 Hz calendar tick and the countdown timer.

Assumptions where the datasheet was not at hand (documented, kept simple):

- Releasing STOP: the first tick comes 0.507813 s later (the divider chain restarts half-way,
  §8.2.2); writing Seconds restarts the divider, so the next tick is 1 s after that write.
- The alarm fires when the time *enters* a matching state at a tick (an alarm on minutes alone
  fires once at second 00, not every second of that minute).
- The offset correction is applied as a continuous rate instead of pulses every 2 h / 4 min.
- While STOP is set, only CLKOUT 32768, 16384 and 8192 Hz keep running (they come before the
  divider stages STOP resets).
- Reading Timer_value returns the current count; writing it loads the counter.
- Switching 12_24 does not convert the Hours register (software rewrites it).
- CIE (correction pulses on INT) and EXT_TEST are stored but not simulated.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from wisgate.clock import SimClock
from wisgate.sim.lines import SimLine
from wisgate.sim.registers import ByteRegisterModel

CONTROL_1, CONTROL_2, OFFSET, RAM_BYTE = 0x00, 0x01, 0x02, 0x03
SECONDS, MINUTES, HOURS, DAYS, WEEKDAYS, MONTHS, YEARS = range(0x04, 0x0B)
SECOND_ALARM, MINUTE_ALARM, HOUR_ALARM, DAY_ALARM, WEEKDAY_ALARM = range(0x0B, 0x10)
TIMER_VALUE, TIMER_MODE = 0x10, 0x11

SOFTWARE_RESET = 0x58
STOP, TWELVE_HOUR = 0x20, 0x02
AIE, AF, MI, HMI, TF = 0x80, 0x40, 0x20, 0x10, 0x08
OS, AEN, PM = 0x80, 0x80, 0x20
TE, TIE, TI_TP = 0x04, 0x02, 0x01

#: COF code -> CLKOUT frequency in Hz (0 = off, pin low).
CLKOUT_HZ = (32768.0, 16384.0, 8192.0, 4096.0, 2048.0, 1024.0, 1.0, 0.0)
#: TCF code -> countdown timer source clock in Hz.
TIMER_SOURCE_HZ = (4096.0, 64.0, 1.0, 1.0 / 60.0)
#: Offset register LSB in ppm for MODE = 0 / 1.
OFFSET_PPM = (4.34, 4.069)
STOP_RELEASE_DELAY = 0.507813
MINUTE_PULSE = 1 / 64

RESETS = {SECONDS: 0x80, DAYS: 0x01, WEEKDAYS: 0x06, MONTHS: 0x01,
          SECOND_ALARM: 0x80, MINUTE_ALARM: 0x80, HOUR_ALARM: 0x80, DAY_ALARM: 0x80, WEEKDAY_ALARM: 0x80,
          TIMER_MODE: 0x18}
#: Implemented bits; the others read 0. Control_2's AF/TF are left out: writes only clear them.
WRITABLE = {CONTROL_1: 0xA7, CONTROL_2: 0xB7, MINUTES: 0x7F, HOURS: 0x3F, DAYS: 0x3F, WEEKDAYS: 0x07,
            MONTHS: 0x1F, HOUR_ALARM: 0xBF, DAY_ALARM: 0xBF, WEEKDAY_ALARM: 0x87, TIMER_MODE: 0x1F}
TIME_REGISTERS = range(SECONDS, YEARS + 1)
BULK_MIN_TICKS = 2 * 86400


def bcd(value: int) -> int:
    return (value // 10) << 4 | value % 10


def unbcd(value: int) -> int:
    return (value >> 4) * 10 + (value & 0x0F)


def bcd_increment(value: int, mask: int) -> int:
    """One count of a BCD counter: 9 carries into the tens digit; an invalid digit counts on to 0."""
    units, tens = (value & 0x0F) + 1, value >> 4
    if units == 10:
        units, tens = 0, tens + 1
    return ((tens << 4) | (units & 0x0F)) & mask


def is_bcd(value: int, low: int, high: int) -> bool:
    return (value & 0x0F) <= 9 and low <= unbcd(value) <= high


def days_in_month(month: int, year: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 else 28  # the chip's rule for years 00-99
    return 30 if month in (4, 6, 9, 11) else 31


def pulse_width(source_hz: float, reload: int) -> float:
    """INT pulse length of a countdown underflow with TI_TP = 1 (datasheet table of INT operation)."""
    if source_hz >= 64:
        return 1 / (2 * source_hz) if reload == 1 else 1 / source_hz
    return MINUTE_PULSE


class PCF85063AModel(ByteRegisterModel):
    part = "PCF85063A"
    size = 0x12
    resets = RESETS
    writable = WRITABLE

    def __init__(self, clock: SimClock, address: int = 0x51, *, interrupt: SimLine | None = None,
                 drift_ppm: float = 0.0) -> None:
        self.interrupt = interrupt
        #: Crystal error: positive runs fast.
        self.drift_ppm = drift_ppm
        self._t = clock.monotonic()
        super().__init__(clock, address)
        clock.observe(self._on_clock)

    # ---- reset and simulation-side controls -------------------------------------------------

    def power_on_reset(self) -> None:
        super().power_on_reset()
        self._restart_state()

    def _restart_state(self) -> None:
        self._t = self.clock.monotonic()
        self._tau = 0.0
        self._next_tick = 1.0
        self._timer_count = 0
        self._timer_next = math.inf
        self._pulse_until: float | None = None
        self._frozen = False
        self._syncing = False
        self._drive_int(self._t)

    def _software_reset(self) -> None:
        for reg in range(self.size):
            self.regs[reg] = RESETS.get(reg, 0)
        self._restart_state()

    def set_time(self, when: datetime) -> None:
        """Time kept by the backup battery since it was last set (OS cleared, 24 h mode)."""
        self._sync()
        if not 2000 <= when.year <= 2099:
            raise ValueError(f"the PCF85063A keeps years 2000-2099, not {when.year}")
        self.regs[CONTROL_1] &= ~TWELVE_HOUR & 0xFF
        self._store_datetime(when)
        self.regs[SECONDS] &= ~OS & 0xFF
        if not self.regs[CONTROL_1] & STOP:
            self._next_tick = self._tau + 1.0 - when.microsecond / 1e6

    def oscillator_fail(self) -> None:
        """The oscillator stopped (backup battery removed during a power cut): OS is set."""
        self.regs[SECONDS] |= OS

    def now(self) -> datetime | None:
        """The time in the registers, or None when they do not hold a valid date (for tests)."""
        self._sync()
        return self._read_datetime()

    def now_precise(self) -> datetime | None:
        """:meth:`now` with the fraction of the second already counted (for keeping the time across runs)."""
        when = self.now()
        if when is None or self.regs[SECONDS] & OS:
            return None
        fraction = min(max(1.0 - (self._next_tick - self._tau), 0.0), 0.999999)
        return when + timedelta(seconds=fraction)

    @property
    def clkout_hz(self) -> float:
        """Frequency on the CLKOUT pin (0 = off)."""
        hz = CLKOUT_HZ[self.regs[CONTROL_2] & 0x07]
        if self.regs[CONTROL_1] & STOP and hz < 8192:
            return 0.0
        return hz

    @property
    def rate(self) -> float:
        """Chip seconds per simulated second: crystal drift and Offset correction."""
        if self.regs[CONTROL_1] & STOP:
            return 0.0
        raw = self.regs[OFFSET]
        steps = (raw & 0x7F) - (0x80 if raw & 0x40 else 0)
        # a positive offset corrects a fast crystal: it slows the clock
        correction = steps * OFFSET_PPM[raw >> 7]
        return (1 + self.drift_ppm * 1e-6) * (1 - correction * 1e-6)

    # ---- bus side -----------------------------------------------------------------------------

    def ack_address(self, read: bool) -> bool:
        # the time registers are frozen for the transaction; ticks due meanwhile follow at STOP
        self._sync()
        self._frozen = True
        return super().ack_address(read)

    def stop(self) -> None:
        self._frozen = False
        self._sync()

    def on_read(self, reg: int) -> int:
        if reg == TIMER_VALUE:
            return self._timer_count
        return self.regs[reg]

    def on_write(self, reg: int, value: int, written: int) -> None:
        if reg == CONTROL_1:
            if written == SOFTWARE_RESET:
                self._software_reset()
            elif written & STOP:
                self._next_tick = math.inf
            elif self._next_tick == math.inf:
                self._next_tick = self._tau + STOP_RELEASE_DELAY
                self._restart_timer()
        elif reg == CONTROL_2:
            # flags: writing 0 clears, writing 1 keeps
            self.regs[CONTROL_2] &= ~(~written & (AF | TF)) & 0xFF
        elif reg == SECONDS:
            if not self.regs[CONTROL_1] & STOP:
                self._next_tick = self._tau + 1.0
        elif reg == TIMER_VALUE:
            self._timer_count = value
            self._restart_timer()
        elif reg == TIMER_MODE:
            self._restart_timer()
        self._drive_int(self._t)

    # ---- time ----------------------------------------------------------------------------------

    def _on_clock(self, now: float) -> None:
        if not self._frozen:
            self._sync(now)

    def _sync(self, now: float | None = None) -> None:
        """Catch up to ``now``. Not re-entered: code woken by an INT edge on the way (reading the
        chip from a line callback) sees the registers as they were at that edge."""
        if now is None:
            now = self.clock.monotonic()  # first: a realtime clock may notify observers from here
        if self._frozen or self._syncing or now <= self._t:
            return
        self._syncing = True
        try:
            self._catch_up(now)
        finally:
            self._syncing = False

    def _catch_up(self, now: float) -> None:
        rate = self.rate
        end = self._tau + (now - self._t) * rate
        self._bulk_days(end)
        while rate > 0:
            tick_gap = self._ticks_to_event()
            event_tick = self._next_tick + tick_gap - 1
            event = min(event_tick, self._timer_expiry() if self._timer_matters() else math.inf)
            if event > end:
                break
            self._move_to(event, rate)
            if event == event_tick:
                self._count_seconds(tick_gap - 1)
                self._tick()
            else:
                self._timer_expire()
        if rate > 0:
            self._count_seconds(max(0, math.floor(end - self._next_tick) + 1))
            self._count_timer(end)
            self._tau = end
        self._t = now
        self._drive_int(now)

    def _move_to(self, tau: float, rate: float) -> None:
        t = self._t + (tau - self._tau) / rate
        self._drive_int(t)  # a pulse that ended on the way ends at its own time
        self._t, self._tau = t, tau

    def _ticks_to_event(self) -> int:
        """Ticks up to and including the next one that may carry or raise an interrupt."""
        seconds = self.regs[SECONDS] & 0x7F
        if not is_bcd(seconds, 0, 58):
            return 1
        s = unbcd(seconds)
        gap = 60 - s
        if s < 30:
            gap = min(gap, 30 - s)
        alarm = self.regs[SECOND_ALARM]
        if not alarm & AEN and is_bcd(alarm, 0, 59):
            gap = min(gap, (unbcd(alarm) - s) % 60 or 60)
        return gap

    def _count_seconds(self, ticks: int) -> None:
        """``ticks`` plain ticks that stay inside the minute (see :meth:`_ticks_to_event`)."""
        if ticks <= 0:
            return
        os_bit = self.regs[SECONDS] & OS
        self.regs[SECONDS] = os_bit | bcd(unbcd(self.regs[SECONDS] & 0x7F) + ticks)
        self._next_tick += ticks

    def _tick(self) -> None:
        before = self._alarm_match()
        self._increment_time()
        self._next_tick += 1.0
        seconds = self.regs[SECONDS] & 0x7F
        control_2 = self.regs[CONTROL_2]
        if (control_2 & MI and seconds == 0) or (control_2 & HMI and seconds in (0x00, 0x30)):
            self._timer_event(MINUTE_PULSE, source_enabled=True)
        if not before and self._alarm_match():
            self.regs[CONTROL_2] |= AF
        self._drive_int(self._t)

    def _increment_time(self) -> None:
        r = self.regs
        seconds = r[SECONDS] & 0x7F
        if seconds != 0x59:
            r[SECONDS] = (r[SECONDS] & OS) | bcd_increment(seconds, 0x7F)
            return
        r[SECONDS] &= OS
        if r[MINUTES] != 0x59:
            r[MINUTES] = bcd_increment(r[MINUTES], 0x7F)
            return
        r[MINUTES] = 0
        if not self._increment_hours():
            return
        r[WEEKDAYS] = 0 if r[WEEKDAYS] >= 6 else r[WEEKDAYS] + 1
        last = bcd(days_in_month(unbcd(r[MONTHS]), unbcd(r[YEARS])))
        if r[DAYS] != last:
            r[DAYS] = bcd_increment(r[DAYS], 0x3F)
            return
        r[DAYS] = 0x01
        if r[MONTHS] != 0x12:
            r[MONTHS] = bcd_increment(r[MONTHS], 0x1F)
            return
        r[MONTHS] = 0x01
        r[YEARS] = 0x00 if r[YEARS] == 0x99 else bcd_increment(r[YEARS], 0xFF)

    def _increment_hours(self) -> bool:
        """One hour on; True when the day carries."""
        hours = self.regs[HOURS]
        if not self.regs[CONTROL_1] & TWELVE_HOUR:
            if hours == 0x23:
                self.regs[HOURS] = 0
                return True
            self.regs[HOURS] = bcd_increment(hours, 0x3F)
            return False
        pm, hour = hours & PM, hours & 0x1F
        if hour == 0x12:
            self.regs[HOURS] = pm | 0x01
        elif hour == 0x11:
            self.regs[HOURS] = (pm ^ PM) | 0x12
            return bool(pm)
        else:
            self.regs[HOURS] = pm | bcd_increment(hour, 0x1F)
        return False

    def _alarm_match(self) -> bool:
        pairs = ((SECOND_ALARM, SECONDS, 0x7F), (MINUTE_ALARM, MINUTES, 0x7F), (HOUR_ALARM, HOURS, 0x3F),
                 (DAY_ALARM, DAYS, 0x3F), (WEEKDAY_ALARM, WEEKDAYS, 0x07))
        enabled = [(a, t, m) for a, t, m in pairs if not self.regs[a] & AEN]
        return bool(enabled) and all(self.regs[a] & m == self.regs[t] & m for a, t, m in enabled)

    # ---- bulk skip for long advances --------------------------------------------------------

    def _bulk_days(self, end: float) -> None:
        """Jump whole days with datetime arithmetic when no flag can newly be raised on the way."""
        if self.rate == 0 or end - self._next_tick < BULK_MIN_TICKS + 120:
            return
        ticks = math.floor(end - self._next_tick) - 120  # leave the last minutes to the tick loop
        control_2 = self.regs[CONTROL_2]
        alarm_armed = any(not self.regs[a] & AEN for a in range(SECOND_ALARM, WEEKDAY_ALARM + 1))
        if alarm_armed and not control_2 & AF:
            return
        mode = self.regs[TIMER_MODE]
        timer_events = bool(control_2 & (MI | HMI)) or self._timer_expiry() != math.inf
        if timer_events and (not control_2 & TF or mode & TI_TP):
            return
        start = self._read_datetime()
        if start is None:
            return
        later = start + timedelta(seconds=ticks)
        weekday = (self.regs[WEEKDAYS] + (later.date() - start.date()).days) % 7
        self._move_to(self._next_tick + ticks - 1, self.rate)
        self._count_timer(self._tau)
        os_bit = self.regs[SECONDS] & OS
        self._store_datetime(later)
        self.regs[SECONDS] |= os_bit
        self.regs[WEEKDAYS] = weekday
        self._next_tick += ticks

    def _read_datetime(self) -> datetime | None:
        r = self.regs
        fields = [(r[SECONDS] & 0x7F, 0, 59), (r[MINUTES], 0, 59), (r[DAYS], 1, 31), (r[MONTHS], 1, 12),
                  (r[YEARS], 0, 99)]
        if not all(is_bcd(v, lo, hi) for v, lo, hi in fields):
            return None
        hours = r[HOURS]
        if r[CONTROL_1] & TWELVE_HOUR:
            if not is_bcd(hours & 0x1F, 1, 12):
                return None
            hour = unbcd(hours & 0x1F) % 12 + (12 if hours & PM else 0)
        elif is_bcd(hours, 0, 23):
            hour = unbcd(hours)
        else:
            return None
        try:
            return datetime(2000 + unbcd(r[YEARS]), unbcd(r[MONTHS]), unbcd(r[DAYS]), hour, unbcd(r[MINUTES]),
                            unbcd(r[SECONDS] & 0x7F))
        except ValueError:
            return None

    def _store_datetime(self, when: datetime) -> None:
        r = self.regs
        if r[CONTROL_1] & TWELVE_HOUR:
            r[HOURS] = (PM if when.hour >= 12 else 0) | bcd((when.hour + 11) % 12 + 1)
        else:
            r[HOURS] = bcd(when.hour)
        r[SECONDS] = bcd(when.second)
        r[MINUTES], r[DAYS], r[MONTHS] = bcd(when.minute), bcd(when.day), bcd(when.month)
        r[YEARS] = bcd(when.year % 100)
        r[WEEKDAYS] = (when.weekday() + 1) % 7  # 0 = Sunday, as Linux counts

    # ---- countdown timer ----------------------------------------------------------------------

    def _restart_timer(self) -> None:
        mode = self.regs[TIMER_MODE]
        if mode & TE and not self.regs[CONTROL_1] & STOP:
            self._timer_next = self._tau + 1 / TIMER_SOURCE_HZ[(mode >> 3) & 0x03]
        else:
            self._timer_next = math.inf

    def _count_timer(self, tau: float) -> None:
        """Source ticks up to chip time ``tau`` that underflow at most where flags are already set."""
        if self._timer_next > tau or self._timer_count == 0:
            return
        hz = TIMER_SOURCE_HZ[(self.regs[TIMER_MODE] >> 3) & 0x03]
        ticks = math.floor((tau - self._timer_next) * hz) + 1
        self._timer_next += ticks / hz
        if ticks < self._timer_count:
            self._timer_count -= ticks
            return
        reload = self.regs[TIMER_VALUE] or 1
        self._timer_count = reload - (ticks - self._timer_count) % reload
        self.regs[CONTROL_2] |= TF

    def _timer_matters(self) -> bool:
        """False when an underflow would change nothing (TF already set, no pulse): count it silently."""
        mode = self.regs[TIMER_MODE]
        return not self.regs[CONTROL_2] & TF or bool(mode & TIE and mode & TI_TP)

    def _timer_expiry(self) -> float:
        """Chip time of the next countdown underflow (inf when the timer is off or loaded with 0)."""
        if self._timer_next == math.inf or self._timer_count == 0:
            return math.inf
        period = 1 / TIMER_SOURCE_HZ[(self.regs[TIMER_MODE] >> 3) & 0x03]
        return self._timer_next + (self._timer_count - 1) * period

    def _timer_expire(self) -> None:
        mode = self.regs[TIMER_MODE]
        hz = TIMER_SOURCE_HZ[(mode >> 3) & 0x03]
        reload = self.regs[TIMER_VALUE]
        self._timer_count = reload
        self._timer_next = self._tau + 1 / hz
        self._timer_event(pulse_width(hz, reload), source_enabled=bool(mode & TIE))

    def _timer_event(self, pulse: float, *, source_enabled: bool) -> None:
        self.regs[CONTROL_2] |= TF
        if source_enabled and self.regs[TIMER_MODE] & TI_TP:
            self._pulse_until = self._t + pulse
        self._drive_int(self._t)

    # ---- INT pin ------------------------------------------------------------------------------

    def _drive_int(self, t: float) -> None:
        if self._pulse_until is not None and self._pulse_until <= t:
            end, self._pulse_until = self._pulse_until, None
            self._drive_level(end)
        self._drive_level(t)

    def _drive_level(self, t: float) -> None:
        if self.interrupt is None:
            return
        c2, mode = self.regs[CONTROL_2], self.regs[TIMER_MODE]
        level_sources = bool(mode & TIE or c2 & (MI | HMI)) and not mode & TI_TP
        low = (
            bool(c2 & AF and c2 & AIE)
            or bool(c2 & TF and level_sources)
            or self._pulse_until is not None
        )
        self.interrupt.drive(not low, at=t)
