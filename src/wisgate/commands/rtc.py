"""``wisgate rtc``: the PCF85063A real-time clock: time, oscillator flag, CLKOUT, wake alarm.

The RTC keeps UTC. On the RAK7391 its INT pin wakes a halted CM4, or resets a running one (board
datasheet, jumper 9-10). Where the kernel owns the chip (RAKPiOS) time and alarm go through
``/dev/rtc0``; CLKOUT needs the raw chip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import click

from wisgate.commands._options import bus_options, console
from wisgate.target import Target

if TYPE_CHECKING:
    from wisgate.chips.pcf85063a import PCF85063A
    from wisgate.chips.rtc_kernel import KernelRTC

CLKOUT_CHOICES = ("off", "32768", "16384", "8192", "4096", "2048", "1024", "1")
DAILY = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


@dataclass(frozen=True)
class AlarmRequest:
    """A daily alarm (``when`` None) at hour:minute:second, or one at the date-time ``when``."""

    hour: int
    minute: int
    second: int
    when: datetime | None = None

    @property
    def day(self) -> int | None:
        return self.when.day if self.when else None


def next_match(now: datetime, day: int, hour: int, minute: int, second: int) -> datetime:
    """The first time after ``now`` the chip's alarm (day of month, no month field) matches."""
    for months_ahead in range(3):
        index = now.month - 1 + months_ahead
        try:
            candidate = datetime(now.year + index // 12, index % 12 + 1, day, hour, minute, second)
        except ValueError:  # the month has no such day
            continue
        if candidate > now:
            return candidate
    raise ValueError(f"day {day} never comes")  # pragma: no cover - every day 1-31 comes within 3 months


def parse_alarm(text: str, now: datetime) -> AlarmRequest:
    """``HH:MM[:SS]`` (daily, UTC) or an ISO date-time (naive = UTC) after ``now`` and within the chip's reach."""
    daily = DAILY.fullmatch(text.strip())
    if daily:
        hour, minute, second = (int(g) if g else 0 for g in daily.groups())
        if hour > 23 or minute > 59 or second > 59:
            raise click.BadParameter(f"{text!r} is not a time of day", param_hint="--alarm")
        return AlarmRequest(hour, minute, second)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither HH:MM[:SS] nor an ISO date-time like 2026-11-26T07:30", param_hint="--alarm"
        ) from None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    when = when.replace(microsecond=0)
    if when <= now:
        raise click.BadParameter(f"{when:%Y-%m-%d %H:%M:%S} UTC is not in the future (RTC: {now:%Y-%m-%d %H:%M:%S})",
                                 param_hint="--alarm")
    first = next_match(now, when.day, when.hour, when.minute, when.second)
    if first != when:
        raise click.BadParameter(
            f"the RTC alarm has no month: it would fire on {first:%Y-%m-%d %H:%M:%S} first; "
            "choose a time within a month",
            param_hint="--alarm",
        )
    return AlarmRequest(when.hour, when.minute, when.second, when)


@click.command("rtc")
@bus_options
@click.option("--set-from-system", is_flag=True, help="Set the RTC from this computer's clock (UTC).")
@click.option("--alarm", "alarm_text", metavar="TIME",
              help="Wake alarm: HH:MM[:SS] every day, or an ISO date-time within a month "
                   "(UTC unless it has an offset).")
@click.option("--clear-alarm", is_flag=True, help="Disarm the alarm and release INT.")
@click.option("--clkout", type=click.Choice(CLKOUT_CHOICES), metavar="off|HZ",
              help="CLKOUT frequency: off, " + ", ".join(CLKOUT_CHOICES[1:]) + " Hz (the board datasheet says off).")
def command(target: Target, set_from_system: bool, alarm_text: str | None, clear_alarm: bool,
            clkout: str | None) -> None:
    """Show or set the real-time clock: time, oscillator flag, CLKOUT, alarm."""
    from wisgate.chips.pcf85063a import PCF85063A

    if alarm_text and clear_alarm:
        raise click.UsageError("give --alarm or --clear-alarm, not both")
    rtc = target.rtc()
    if isinstance(rtc, PCF85063A):
        _chip(target, rtc, set_from_system, alarm_text, clear_alarm, clkout)
    else:
        _kernel(rtc, set_from_system, alarm_text, clear_alarm, clkout)


def _system_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _chip(target: Target, rtc: PCF85063A, set_from_system: bool, alarm_text: str | None, clear_alarm: bool,
          clkout: str | None) -> None:
    from wisgate.chips.pcf85063a import ClkoutFrequency, OscillatorStoppedError

    if set_from_system:
        now_set = _system_now()
        rtc.set_time(now_set)
        console.print(f"set the RTC to {now_set:%Y-%m-%d %H:%M:%S} UTC from this computer's clock")
    if clkout:
        rtc.set_clkout(ClkoutFrequency.OFF if clkout == "off" else ClkoutFrequency.from_hz(int(clkout)))
    if clear_alarm:
        rtc.clear_alarm()
    now: datetime | None
    try:
        now = rtc.read_time()
    except OscillatorStoppedError:
        now = None
    if alarm_text:
        if now is None:
            raise click.ClickException("the RTC time is not set (oscillator stopped): use --set-from-system first")
        request = parse_alarm(alarm_text, now)
        rtc.set_alarm(second=request.second, minute=request.minute, hour=request.hour, day=request.day)
    console.print(f"PCF85063A (0x{rtc.address:02X}) on {target.description}")
    if now is None:
        console.print("  time        [red]not set: oscillator stopped, time invalid until set[/]")
    else:
        console.print(f"  time        {now:%Y-%m-%d %H:%M:%S} UTC ({'12' if rtc.twelve_hour() else '24'} h mode)")
    console.print(f"  oscillator  {'[red]stopped (OS flag set)[/]' if now is None else 'running'}")
    frequency = rtc.clkout()
    console.print(f"  CLKOUT      {'off' if frequency is ClkoutFrequency.OFF else f'{frequency.hz} Hz'}")
    alarm = rtc.alarm()
    flags = []
    if alarm.enabled:
        flags.append(f"interrupt {'on' if rtc.alarm_interrupt() else 'off'}")
    if rtc.alarm_flag():
        flags.append("[yellow]fired (AF set)[/]")
    daily = "" if not alarm.enabled or alarm.day is not None or alarm.weekday is not None else " daily"
    console.print(f"  alarm       {alarm}{daily}" + (f", {', '.join(flags)}" if flags else ""))
    if now is None:
        raise click.ClickException("RTC time invalid (oscillator stopped): set it with --set-from-system")


def _kernel(rtc: KernelRTC, set_from_system: bool, alarm_text: str | None, clear_alarm: bool,
            clkout: str | None) -> None:
    from wisgate.errors import UnsupportedError

    if clkout:
        raise UnsupportedError(
            "CLKOUT needs raw access to 0x51, which the kernel's rtc-pcf85063 owns (it turns an unused CLKOUT off)"
        )
    if set_from_system:
        now_set = _system_now()
        rtc.set_time(now_set)
        console.print(f"set the RTC to {now_set:%Y-%m-%d %H:%M:%S} UTC from this computer's clock")
    if clear_alarm:
        rtc.clear_wake_alarm()
    now = rtc.read_time()
    if alarm_text:
        request = parse_alarm(alarm_text, now)
        when = request.when or _next_daily(now, request)
        rtc.set_wake_alarm(when)
    console.print(f"RTC {rtc.device} ({rtc.driver_name()}, owned by the kernel)")
    console.print(f"  time        {now:%Y-%m-%d %H:%M:%S} UTC")
    wake = rtc.wake_alarm()
    console.print(f"  wake alarm  {'none' if wake is None else f'{wake:%Y-%m-%d %H:%M:%S} UTC'}")


def _next_daily(now: datetime, request: AlarmRequest) -> datetime:
    """The kernel alarm is one date-time: the next occurrence of a daily time."""
    candidate = now.replace(hour=request.hour, minute=request.minute, second=request.second, microsecond=0)
    return candidate if candidate > now else candidate + timedelta(days=1)
