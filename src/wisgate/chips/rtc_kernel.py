"""The RTC through the Linux kernel, for RAKPiOS where rtc-pcf85063 owns 0x51 (``/dev/rtc0``).

Covers what the kernel exposes of the PCF85063A driver: time and one wake alarm.
- linux/rtc.h: ``RTC_RD_TIME = _IOR('p', 0x09, struct rtc_time)``, ``RTC_SET_TIME = _IOW('p', 0x0a, ...)``;
  ``struct rtc_time`` is nine ints (sec, min, hour, mday, mon 0-11, year - 1900, wday, yday, isdst).
- Documentation/ABI/testing/sysfs-class-rtc: ``date``/``time`` (world-readable, UTC), ``name``,
  ``wakealarm`` (seconds since the epoch, empty when none; write 0 to clear; a new alarm is only
  accepted after clearing).
The kernel's read_time returns EINVAL when the chip's OS flag is set.
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from pathlib import Path

from wisgate.chips.pcf85063a import OscillatorStoppedError
from wisgate.errors import ChipError, UnsupportedError

RTC_TIME = struct.Struct("9i")
RTC_RD_TIME = 0x80000000 | RTC_TIME.size << 16 | ord("p") << 8 | 0x09
RTC_SET_TIME = 0x40000000 | RTC_TIME.size << 16 | ord("p") << 8 | 0x0A

#: ``fcntl.ioctl(fd, request, buffer)``: returns the (possibly filled) buffer.
Ioctl = Callable[[int, int, bytes], bytes]


class RtcPermissionError(ChipError, PermissionError):
    """The RTC device needs more rights (setting the time needs root / CAP_SYS_TIME)."""


def pack_rtc_time(when: datetime) -> bytes:
    weekday = (when.weekday() + 1) % 7
    yday = when.timetuple().tm_yday - 1
    return RTC_TIME.pack(when.second, when.minute, when.hour, when.day, when.month - 1, when.year - 1900,
                         weekday, yday, 0)


def unpack_rtc_time(raw: bytes) -> datetime:
    sec, minute, hour, mday, mon, year, *_ = RTC_TIME.unpack(raw)
    return datetime(year + 1900, mon + 1, mday, hour, minute, sec)


def _system_ioctl(fd: int, request: int, buffer: bytes) -> bytes:
    import fcntl

    result: bytes = fcntl.ioctl(fd, request, buffer)
    return result


class KernelRTC:
    """An RTC owned by a kernel driver. Naive datetimes are UTC, as Linux keeps the RTC."""

    def __init__(self, device: str = "/dev/rtc0", *, sysfs: Path | None = None, ioctl: Ioctl | None = None) -> None:
        self.device = device
        self.sysfs = sysfs or Path("/sys/class/rtc") / Path(device).name
        self._ioctl = ioctl or _system_ioctl
        self.chip = f"RTC {device}"

    @classmethod
    def for_i2c(cls, bus: int, address: int, *, sysfs_i2c: Path = Path("/sys/bus/i2c/devices")) -> KernelRTC:
        """The RTC the kernel registered for the chip at ``address`` on i2c-``bus`` (rtc0 if it cannot tell)."""
        rtc_dir = sysfs_i2c / f"{bus}-{address:04x}" / "rtc"
        names = sorted(p.name for p in rtc_dir.iterdir()) if rtc_dir.is_dir() else []
        name = names[0] if names else "rtc0"
        return cls(f"/dev/{name}", sysfs=Path("/sys/class/rtc") / name)

    def driver_name(self) -> str:
        """The sysfs ``name``, such as ``rtc-pcf85063 1-0051``."""
        return self._read_sysfs("name")

    def read_time(self) -> datetime:
        try:
            return unpack_rtc_time(self._call(RTC_RD_TIME, bytes(RTC_TIME.size), os.O_RDONLY))
        except RtcPermissionError:
            # /dev/rtc0 is usually root-only; sysfs date and time are readable by all
            return datetime.combine(date.fromisoformat(self._read_sysfs("date")),
                                    time.fromisoformat(self._read_sysfs("time")))

    def set_time(self, when: datetime) -> None:
        if when.tzinfo is not None:
            when = when.astimezone(UTC).replace(tzinfo=None)
        self._call(RTC_SET_TIME, pack_rtc_time(when), os.O_RDONLY)

    def wake_alarm(self) -> datetime | None:
        text = self._read_sysfs("wakealarm")
        if text in ("", "0"):
            return None
        return datetime.fromtimestamp(int(text), UTC).replace(tzinfo=None)

    def set_wake_alarm(self, when: datetime) -> None:
        """Arm the wake alarm (the chip's INT wakes or resets the CM4 on the RAK7391)."""
        aware = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
        self.clear_wake_alarm()
        self._write_sysfs("wakealarm", str(int(aware.timestamp())))

    def clear_wake_alarm(self) -> None:
        self._write_sysfs("wakealarm", "0")

    def _call(self, request: int, buffer: bytes, flags: int) -> bytes:
        try:
            fd = os.open(self.device, flags)
        except FileNotFoundError as exc:
            raise UnsupportedError(f"no {self.device}: is the i2c-rtc overlay loaded?") from exc
        except PermissionError as exc:
            raise RtcPermissionError(f"permission denied on {self.device} (run as root)", chip=self.chip) from exc
        try:
            return self._ioctl(fd, request, buffer)
        except OSError as exc:
            if exc.errno == errno.EINVAL and request == RTC_RD_TIME:
                raise OscillatorStoppedError("oscillator stopped, time invalid until set", chip=self.chip) from exc
            if isinstance(exc, PermissionError):
                raise RtcPermissionError("permission denied: setting the RTC needs root", chip=self.chip) from exc
            raise ChipError(f"{exc.strerror or exc}", chip=self.chip) from exc
        finally:
            os.close(fd)

    def _read_sysfs(self, name: str) -> str:
        try:
            return (self.sysfs / name).read_text().strip()
        except FileNotFoundError as exc:
            raise UnsupportedError(f"{self.sysfs / name} is missing: no kernel RTC there") from exc
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise OscillatorStoppedError("oscillator stopped, time invalid until set", chip=self.chip) from exc
            raise ChipError(f"reading {self.sysfs / name}: {exc.strerror or exc}", chip=self.chip) from exc

    def _write_sysfs(self, name: str, text: str) -> None:
        try:
            (self.sysfs / name).write_text(text + "\n")
        except FileNotFoundError as exc:
            raise UnsupportedError(f"{self.sysfs / name} is missing: this RTC cannot wake the system") from exc
        except OSError as exc:
            raise ChipError(f"writing {self.sysfs / name}: {exc.strerror or exc}", chip=self.chip) from exc
