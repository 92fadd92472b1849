"""NXP PCF85063A real-time clock (0x51): time, alarm, countdown timer, CLKOUT, offset, RAM byte.

Datasheet PCF85063A §7 (register map), §8.2 (time and date, OS flag, STOP), §8.3 (offset),
§8.4 (alarm), §8.5 (timer, minute interrupts), §8.2.1.3 (software reset). Time is BCD, years 00-99
stand for 2000-2099 (as Linux does), and the RTC keeps UTC by convention.

On RAKPiOS the kernel's rtc-pcf85063 owns 0x51 and raw access raises :class:`DeviceBusyError`;
:mod:`wisgate.chips.rtc_kernel` covers time and wake alarm there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum

from wisgate.bus.i2c import I2CBus
from wisgate.chips.device import I2CDevice
from wisgate.clock import Clock
from wisgate.errors import ChipError

ADDRESS = 0x51

CONTROL_1, CONTROL_2, OFFSET, RAM_BYTE, SECONDS = 0x00, 0x01, 0x02, 0x03, 0x04
HOURS, SECOND_ALARM, TIMER_VALUE, TIMER_MODE = 0x06, 0x0B, 0x10, 0x11
HOUR_ALARM = 0x0D

SOFTWARE_RESET = 0x58
EXT_TEST, STOP, TWELVE_HOUR = 0x80, 0x20, 0x02
AIE, AF, MI, HMI, TF, COF = 0x80, 0x40, 0x20, 0x10, 0x08, 0x07
OS, AEN, PM = 0x80, 0x80, 0x20
TE, TIE, TI_TP = 0x04, 0x02, 0x01
FLAGS = AF | TF

#: Offset LSB in ppm, MODE = 0 (correction every 2 h) and MODE = 1 (every 4 min).
OFFSET_STEP_PPM = (4.34, 4.069)


class OscillatorStoppedError(ChipError):
    """OS is set: the oscillator stopped (power-on, battery loss); the time means nothing until set."""


class ClkoutFrequency(IntEnum):
    """COF codes of Control_2."""

    HZ_32768 = 0
    HZ_16384 = 1
    HZ_8192 = 2
    HZ_4096 = 3
    HZ_2048 = 4
    HZ_1024 = 5
    HZ_1 = 6
    OFF = 7

    @property
    def hz(self) -> int:
        return (32768, 16384, 8192, 4096, 2048, 1024, 1, 0)[self.value]

    @classmethod
    def from_hz(cls, hz: int) -> ClkoutFrequency:
        for member in cls:
            if member.hz == hz:
                return member
        raise ValueError(f"CLKOUT cannot run at {hz} Hz; choose one of {[m.hz for m in cls if m.hz]} or off")


class TimerSource(IntEnum):
    """TCF codes of Timer_mode: the countdown's source clock."""

    HZ_4096 = 0
    HZ_64 = 1
    HZ_1 = 2
    HZ_1_60 = 3

    @property
    def hz(self) -> float:
        return (4096.0, 64.0, 1.0, 1 / 60)[self.value]


@dataclass(frozen=True)
class Alarm:
    """Alarm fields; None = the field takes no part (AEN set). All None = no alarm."""

    second: int | None = None
    minute: int | None = None
    hour: int | None = None
    day: int | None = None
    weekday: int | None = None  # 0 = Sunday

    @property
    def enabled(self) -> bool:
        return any(v is not None for v in (self.second, self.minute, self.hour, self.day, self.weekday))

    def __str__(self) -> str:
        if not self.enabled:
            return "none"

        def part(value: int | None) -> str:
            return "**" if value is None else f"{value:02d}"

        text = f"{part(self.hour)}:{part(self.minute)}:{part(self.second)}"
        if self.day is not None:
            text += f" on day {self.day}"
        if self.weekday is not None:
            text += f" on {WEEKDAY_NAMES[self.weekday]}"
        return text


WEEKDAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


@dataclass(frozen=True)
class TimerSettings:
    value: int
    source: TimerSource
    enabled: bool
    interrupt: bool
    pulse: bool

    @property
    def period(self) -> float:
        """Seconds between underflows."""
        return self.value / self.source.hz


def to_bcd(value: int) -> int:
    return (value // 10) << 4 | value % 10


def from_bcd(value: int, field: str, low: int, high: int) -> int:
    number = (value >> 4) * 10 + (value & 0x0F)
    if value & 0x0F > 9 or not low <= number <= high:
        raise ChipError(f"{field} register holds 0x{value:02X}, not BCD {low}-{high}", chip="PCF85063A")
    return number


def encode_hour(hour: int, twelve_hour: bool) -> int:
    if not twelve_hour:
        return to_bcd(hour)
    return (PM if hour >= 12 else 0) | to_bcd((hour + 11) % 12 + 1)


def decode_hour(raw: int, twelve_hour: bool) -> int:
    if not twelve_hour:
        return from_bcd(raw & 0x3F, "hours", 0, 23)
    return from_bcd(raw & 0x1F, "hours", 1, 12) % 12 + (12 if raw & PM else 0)


def _check(value: int | None, field: str, low: int, high: int) -> None:
    if value is not None and not low <= value <= high:
        raise ValueError(f"PCF85063A alarm {field} must be {low}-{high}, not {value}")


class PCF85063A(I2CDevice):
    chip = "PCF85063A"

    def __init__(self, bus: I2CBus, address: int = ADDRESS, *, clock: Clock | None = None) -> None:
        super().__init__(bus, address, clock=clock)

    # ---- time ---------------------------------------------------------------------------------

    def oscillator_stopped(self) -> bool:
        """OS flag: set at power-on and whenever the oscillator stopped; cleared by :meth:`set_time`."""
        return bool(self.read_u8(SECONDS) & OS)

    def read_time(self) -> datetime:
        """The time, read in one transfer (the chip freezes its counters for it); naive, UTC by convention."""
        raw = self.read_reg(CONTROL_1, 11)  # Control_1 for 12/24 h, then Seconds..Years
        if raw[SECONDS] & OS:
            raise OscillatorStoppedError(
                "oscillator stopped, time invalid until set", chip=self.chip, address=self.address
            )
        twelve = bool(raw[CONTROL_1] & TWELVE_HOUR)
        try:
            return datetime(
                2000 + from_bcd(raw[10], "years", 0, 99),
                from_bcd(raw[9] & 0x1F, "months", 1, 12),
                from_bcd(raw[7] & 0x3F, "days", 1, 31),
                decode_hour(raw[HOURS], twelve),
                from_bcd(raw[5] & 0x7F, "minutes", 0, 59),
                from_bcd(raw[SECONDS] & 0x7F, "seconds", 0, 59),
            )
        except ValueError as exc:  # a day the month does not have
            raise ChipError(f"time registers hold no valid date: {exc}", chip=self.chip, address=self.address) from exc

    def set_time(self, when: datetime) -> None:
        """Set the time (aware datetimes are converted to UTC; sub-seconds are dropped).

        The counters are stopped while the 7 bytes are written; the first tick after the release
        comes about 0.5 s later (datasheet STOP timing), as with Linux's set_time.
        """
        if when.tzinfo is not None:
            when = when.astimezone(UTC).replace(tzinfo=None)
        if not 2000 <= when.year <= 2099:
            raise ValueError(f"the PCF85063A keeps years 2000-2099, not {when.year}")
        control_1 = self.read_u8(CONTROL_1) & ~EXT_TEST & 0xFF
        self.write_u8(CONTROL_1, control_1 | STOP)
        self.write_reg(SECONDS, [
            to_bcd(when.second),  # OS = 0: the time is valid from now on
            to_bcd(when.minute),
            encode_hour(when.hour, bool(control_1 & TWELVE_HOUR)),
            to_bcd(when.day),
            (when.weekday() + 1) % 7,
            to_bcd(when.month),
            to_bcd(when.year - 2000),
        ])
        self.write_u8(CONTROL_1, control_1 & ~STOP)

    def twelve_hour(self) -> bool:
        return bool(self.read_u8(CONTROL_1) & TWELVE_HOUR)

    def set_twelve_hour(self, twelve: bool) -> None:
        """Switch 12/24 h mode, converting the Hours and Hour_alarm registers (the chip does not)."""
        control_1 = self.read_u8(CONTROL_1)
        was = bool(control_1 & TWELVE_HOUR)
        if was == twelve:
            return
        hour = decode_hour(self.read_u8(HOURS), was)
        alarm = self.read_u8(HOUR_ALARM)
        self.write_u8(CONTROL_1, (control_1 & ~TWELVE_HOUR) | (TWELVE_HOUR if twelve else 0))
        self.write_u8(HOURS, encode_hour(hour, twelve))
        if not alarm & AEN:
            self.write_u8(HOUR_ALARM, encode_hour(decode_hour(alarm, was), twelve))

    # ---- Control_2: CLKOUT and flags ----------------------------------------------------------

    def _update_control_2(self, mask: int, value: int) -> None:
        """Read-modify-write Control_2 without clearing a flag outside ``mask`` (writing 1 keeps a flag)."""
        old = self.read_u8(CONTROL_2)
        self.write_u8(CONTROL_2, (old & ~mask & ~FLAGS) | (FLAGS & ~mask) | (value & mask))

    def clkout(self) -> ClkoutFrequency:
        return ClkoutFrequency(self.read_u8(CONTROL_2) & COF)

    def set_clkout(self, frequency: ClkoutFrequency) -> None:
        """CLKOUT frequency; the board datasheet asks for OFF to save power."""
        self._update_control_2(COF, int(frequency))

    def set_minute_interrupts(self, *, minute: bool = False, half_minute: bool = False) -> None:
        """MI / HMI: set TF (and pulse or hold INT, see :meth:`set_timer`) every minute / half minute."""
        self._update_control_2(MI | HMI, (MI if minute else 0) | (HMI if half_minute else 0))

    # ---- alarm --------------------------------------------------------------------------------

    def set_alarm(
        self,
        *,
        second: int | None = None,
        minute: int | None = None,
        hour: int | None = None,
        day: int | None = None,
        weekday: int | None = None,
        interrupt: bool = True,
    ) -> Alarm:
        """Arm the alarm on the given fields (others take no part); clears AF; INT if ``interrupt``."""
        alarm = Alarm(second, minute, hour, day, weekday)
        if not alarm.enabled:
            raise ValueError("an alarm needs at least one of second, minute, hour, day, weekday")
        for value, field, low, high in ((second, "second", 0, 59), (minute, "minute", 0, 59),
                                        (hour, "hour", 0, 23), (day, "day", 1, 31), (weekday, "weekday", 0, 6)):
            _check(value, field, low, high)
        twelve = self.twelve_hour()
        # disarm first so a half-written alarm cannot fire
        self._update_control_2(AIE | AF, 0)
        self.write_reg(SECOND_ALARM, [
            AEN if second is None else to_bcd(second),
            AEN if minute is None else to_bcd(minute),
            AEN if hour is None else encode_hour(hour, twelve),
            AEN if day is None else to_bcd(day),
            AEN if weekday is None else weekday,
        ])
        if interrupt:
            self._update_control_2(AIE, AIE)
        return alarm

    def alarm(self) -> Alarm:
        raw = self.read_reg(SECOND_ALARM, 5)
        twelve = self.twelve_hour()

        def field(value: int, name: str, low: int, high: int, mask: int) -> int | None:
            return None if value & AEN else from_bcd(value & mask, f"{name} alarm", low, high)

        return Alarm(
            second=field(raw[0], "second", 0, 59, 0x7F),
            minute=field(raw[1], "minute", 0, 59, 0x7F),
            hour=None if raw[2] & AEN else decode_hour(raw[2], twelve),
            day=field(raw[3], "day", 1, 31, 0x3F),
            weekday=None if raw[4] & AEN else raw[4] & 0x07,
        )

    def clear_alarm(self) -> None:
        """Disarm every field, clear AF and AIE (INT released)."""
        self._update_control_2(AIE | AF, 0)
        self.write_reg(SECOND_ALARM, [AEN] * 5)

    def alarm_flag(self) -> bool:
        return bool(self.read_u8(CONTROL_2) & AF)

    def clear_alarm_flag(self) -> None:
        self._update_control_2(AF, 0)

    def alarm_interrupt(self) -> bool:
        return bool(self.read_u8(CONTROL_2) & AIE)

    def set_alarm_interrupt(self, enabled: bool) -> None:
        self._update_control_2(AIE, AIE if enabled else 0)

    # ---- countdown timer ----------------------------------------------------------------------

    def set_timer(self, value: int, source: TimerSource, *, interrupt: bool = True, pulse: bool = False) -> None:
        """Count ``value`` periods of ``source`` again and again, setting TF at each underflow.

        ``interrupt``: INT follows TF (``pulse`` False) or pulses at each underflow (``pulse`` True).
        """
        if not 1 <= value <= 255:
            raise ValueError(f"PCF85063A timer value must be 1-255, not {value}")
        mode = int(source) << 3 | (TIE if interrupt else 0) | (TI_TP if pulse else 0)
        self.write_u8(TIMER_MODE, mode)  # TE = 0 while loading
        self.write_u8(TIMER_VALUE, value)
        self.write_u8(TIMER_MODE, mode | TE)

    def stop_timer(self) -> None:
        self.update_u8(TIMER_MODE, TE, 0)

    def timer(self) -> TimerSettings:
        mode = self.read_u8(TIMER_MODE)
        return TimerSettings(
            value=self.read_u8(TIMER_VALUE),
            source=TimerSource((mode >> 3) & 0x03),
            enabled=bool(mode & TE),
            interrupt=bool(mode & TIE),
            pulse=bool(mode & TI_TP),
        )

    def timer_remaining(self) -> int:
        """The countdown's current value (periods of the source clock to the next underflow)."""
        return self.read_u8(TIMER_VALUE)

    def timer_flag(self) -> bool:
        return bool(self.read_u8(CONTROL_2) & TF)

    def clear_timer_flag(self) -> None:
        self._update_control_2(TF, 0)

    # ---- offset, RAM, reset -------------------------------------------------------------------

    def offset_ppm(self) -> float:
        """The correction in ppm; positive slows the clock (it corrects a crystal running fast)."""
        raw = self.read_u8(OFFSET)
        steps = (raw & 0x7F) - (0x80 if raw & 0x40 else 0)
        return steps * OFFSET_STEP_PPM[raw >> 7]

    def set_offset_ppm(self, ppm: float, *, fast_mode: bool = False) -> float:
        """Correct by ``ppm`` (rounded to the LSB: 4.34 ppm, or 4.069 ppm in ``fast_mode``); returns what was set."""
        step = OFFSET_STEP_PPM[int(fast_mode)]
        steps = round(ppm / step)
        if not -64 <= steps <= 63:
            raise ValueError(f"PCF85063A offset {ppm} ppm is outside {-64 * step:.1f} to {63 * step:.1f} ppm")
        self.write_u8(OFFSET, (0x80 if fast_mode else 0) | (steps & 0x7F))
        return steps * step

    def ram(self) -> int:
        return self.read_u8(RAM_BYTE)

    def set_ram(self, value: int) -> None:
        if not 0 <= value <= 0xFF:
            raise ValueError(f"the PCF85063A RAM byte holds 0-255, not {value}")
        self.write_u8(RAM_BYTE, value)

    def reset(self) -> None:
        """Software reset: every register to its reset value (time invalid, OS set, CLKOUT 32768 Hz)."""
        self.write_u8(CONTROL_1, SOFTWARE_RESET)
