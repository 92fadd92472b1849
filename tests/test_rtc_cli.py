"""``wisgate rtc``, the RTC status probe, and the kernel-owned RTC (/dev/rtc0 + sysfs, faked)."""

from __future__ import annotations

import errno
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from wisgate.board.rak7391 import ONBOARD_ADDRESSES
from wisgate.bus.i2c import I2CBus, Message
from wisgate.chips.pcf85063a import OscillatorStoppedError
from wisgate.chips.rtc_kernel import (
    RTC_RD_TIME,
    RTC_SET_TIME,
    RTC_TIME,
    KernelRTC,
    pack_rtc_time,
    unpack_rtc_time,
)
from wisgate.cli import cli
from wisgate.commands.rtc import parse_alarm
from wisgate.errors import DeviceBusyError, UnsupportedError
from wisgate.hardware import HardwareTarget
from wisgate.services.readings import format_value
from wisgate.services.status import read_status
from wisgate.sim.board import SimBoard
from wisgate.sim.target import SimTarget
from wisgate.target import Target

NOW = datetime(2026, 11, 25, 12, 0, 0)


def sim_target(monkeypatch: pytest.MonkeyPatch, rtc_time: datetime | None = NOW) -> SimBoard:
    board = SimBoard(rtc_time=rtc_time)
    target = SimTarget(board)
    monkeypatch.setattr("wisgate.commands._options.open_target", lambda _spec, **_kw: target)
    return board


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["rtc", "--sim", *args])
    return result.exit_code, result.output


# ---- alarm parsing ------------------------------------------------------------------------------


def test_parse_daily_alarm() -> None:
    request = parse_alarm("7:30", NOW)
    assert (request.hour, request.minute, request.second, request.day) == (7, 30, 0, None)
    assert parse_alarm("23:59:58", NOW).second == 58


def test_parse_iso_alarm_converts_to_utc() -> None:
    request = parse_alarm("2026-11-26T09:30:00+02:00", NOW)
    assert request.when == datetime(2026, 11, 26, 7, 30)
    assert request.day == 26


@pytest.mark.parametrize(("text", "message"), [
    ("24:00", "not a time of day"),
    ("noon", "neither HH:MM"),
    ("2026-11-25T11:00", "not in the future"),
    ("2026-12-26T07:30", "would fire on 2026-11-26 07:30:00 first"),
])
def test_parse_alarm_errors(text: str, message: str) -> None:
    import click

    with pytest.raises(click.BadParameter, match=message):
        parse_alarm(text, NOW)


def test_iso_alarm_next_month_is_fine_when_the_day_has_passed() -> None:
    assert parse_alarm("2026-12-20T06:00", NOW).when == datetime(2026, 12, 20, 6, 0)


# ---- CLI on the simulated board -----------------------------------------------------------------


def test_rtc_shows_time_clkout_and_alarm(monkeypatch: pytest.MonkeyPatch) -> None:
    sim_target(monkeypatch)
    code, output = run()
    assert code == 0, output
    assert "2026-11-25 12:00:00 UTC (24 h mode)" in output
    assert "running" in output
    assert "CLKOUT      32768 Hz" in output
    assert "alarm       none" in output


def test_rtc_set_from_system(monkeypatch: pytest.MonkeyPatch) -> None:
    board = sim_target(monkeypatch, None)
    code, output = run("--set-from-system")
    assert code == 0, output
    held = board.rtc.now()
    assert held is not None
    assert abs((held - datetime.now(UTC).replace(tzinfo=None)).total_seconds()) < 5


def test_rtc_alarm_and_clkout_off(monkeypatch: pytest.MonkeyPatch) -> None:
    board = sim_target(monkeypatch)
    code, output = run("--alarm", "12:00:05", "--clkout", "off")
    assert code == 0, output
    assert "07:30" not in output
    assert "12:00:05 daily, interrupt on" in output
    assert "CLKOUT      off" in output
    assert board.rtc.clkout_hz == 0
    board.advance(6)
    assert not board.lines.line("rtc.INT").read()
    code, output = run()
    assert "fired (AF set)" in output
    code, output = run("--clear-alarm")
    assert code == 0, output
    assert "alarm       none" in output
    assert board.lines.line("rtc.INT").read()


def test_rtc_dated_alarm(monkeypatch: pytest.MonkeyPatch) -> None:
    board = sim_target(monkeypatch)
    code, output = run("--alarm", "2026-11-27T06:00")
    assert code == 0, output
    assert "06:00:00 on day 27, interrupt on" in output
    assert board.rtc.regs[0x0E] == 0x27


def test_rtc_with_oscillator_stopped_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    sim_target(monkeypatch, None)
    code, output = run()
    assert code == 1
    assert "not set: oscillator stopped, time invalid until set" in output
    assert "set it with --set-from-system" in output
    code, output = run("--alarm", "07:00")
    assert code == 1
    assert "--set-from-system first" in output


def test_rtc_alarm_and_clear_together_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    sim_target(monkeypatch)
    code, output = run("--alarm", "07:00", "--clear-alarm")
    assert code == 2
    assert "not both" in output


def test_rtc_vanished_is_one_line() -> None:
    from wisgate.cli import main

    board = SimBoard(rtc_time=NOW)
    board.bus.faults.vanish(0x51)
    target = SimTarget(board)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("wisgate.commands._options.open_target", lambda _spec, **_kw: target)
        with pytest.raises(SystemExit) as exit_info:
            main(["rtc", "--sim"])
    assert exit_info.value.code == 1


def test_status_probe_shows_rtc_time_and_clkout() -> None:
    board = SimBoard(rtc_time=NOW)
    target = SimTarget(board)
    rows = {row.label: format_value(row) for row in read_status(target) if row.source == "rtc"}
    assert rows == {"RTC time": "2026-11-25 12:00:00 UTC", "CLKOUT": "32768 Hz"}


def test_status_probe_reports_the_os_flag() -> None:
    board = SimBoard(rtc_time=None)
    target = SimTarget(board)
    rows = [row for row in read_status(target) if row.source == "rtc"]
    assert [(r.ok, r.error) for r in rows] == [(False, "PCF85063A at 0x51: oscillator stopped, time invalid until set")]


# ---- kernel-owned RTC ---------------------------------------------------------------------------


def test_ioctl_numbers_match_linux_rtc_h() -> None:
    assert RTC_TIME.size == 36
    assert RTC_RD_TIME == 0x80247009
    assert RTC_SET_TIME == 0x4024700A


def test_rtc_time_layout() -> None:
    raw = pack_rtc_time(datetime(2026, 3, 1, 13, 14, 15))
    assert RTC_TIME.unpack(raw) == (15, 14, 13, 1, 2, 126, 0, 59, 0)


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2099, 12, 31)))
def test_rtc_time_round_trip(when: datetime) -> None:
    assert unpack_rtc_time(pack_rtc_time(when)) == when.replace(microsecond=0)


class FakeRtcDevice:
    """What the kernel's rtc-pcf85063 answers to the two ioctls."""

    def __init__(self, now: datetime) -> None:
        self.time = now
        self.oscillator_stopped = False
        self.denied = False

    def __call__(self, fd: int, request: int, buffer: bytes) -> bytes:
        if self.denied:
            raise PermissionError(errno.EACCES, "Permission denied")
        if request == RTC_RD_TIME:
            if self.oscillator_stopped:
                raise OSError(errno.EINVAL, "Invalid argument")
            return pack_rtc_time(self.time)
        if request == RTC_SET_TIME:
            self.time = unpack_rtc_time(buffer)
            self.oscillator_stopped = False
            return buffer
        raise OSError(errno.ENOTTY, "Inappropriate ioctl for device")


@pytest.fixture
def kernel(tmp_path: Path) -> tuple[KernelRTC, FakeRtcDevice, Path]:
    device = tmp_path / "rtc0"
    device.write_bytes(b"")
    sysfs = tmp_path / "sys"
    sysfs.mkdir()
    (sysfs / "name").write_text("rtc-pcf85063 1-0051\n")
    (sysfs / "wakealarm").write_text("\n")
    (sysfs / "date").write_text("2026-11-25\n")
    (sysfs / "time").write_text("12:00:07\n")
    fake = FakeRtcDevice(NOW)
    return KernelRTC(str(device), sysfs=sysfs, ioctl=fake), fake, sysfs


def test_kernel_rtc_time(kernel: tuple[KernelRTC, FakeRtcDevice, Path]) -> None:
    rtc, fake, _ = kernel
    assert rtc.read_time() == NOW
    rtc.set_time(datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert fake.time == datetime(2030, 1, 2, 3, 4, 5)
    fake.oscillator_stopped = True
    with pytest.raises(OscillatorStoppedError, match="time invalid until set"):
        rtc.read_time()


def test_kernel_rtc_falls_back_to_sysfs_without_root(kernel: tuple[KernelRTC, FakeRtcDevice, Path]) -> None:
    rtc, fake, _ = kernel
    fake.denied = True
    assert rtc.read_time() == datetime(2026, 11, 25, 12, 0, 7)
    with pytest.raises(PermissionError, match="needs root"):
        rtc.set_time(NOW)


def test_kernel_wake_alarm(kernel: tuple[KernelRTC, FakeRtcDevice, Path]) -> None:
    rtc, _, sysfs = kernel
    assert rtc.wake_alarm() is None
    rtc.set_wake_alarm(datetime(2026, 11, 26, 7, 30))
    assert (sysfs / "wakealarm").read_text().strip() == str(int(datetime(2026, 11, 26, 7, 30, tzinfo=UTC).timestamp()))
    assert rtc.wake_alarm() == datetime(2026, 11, 26, 7, 30)
    rtc.clear_wake_alarm()
    assert rtc.wake_alarm() is None


def test_kernel_rtc_missing_device(tmp_path: Path) -> None:
    rtc = KernelRTC(str(tmp_path / "rtc9"), sysfs=tmp_path / "rtc9")
    with pytest.raises(UnsupportedError, match="i2c-rtc overlay"):
        rtc.read_time()
    with pytest.raises(UnsupportedError, match="cannot wake"):
        rtc.clear_wake_alarm()


def test_kernel_rtc_found_from_the_i2c_device(tmp_path: Path) -> None:
    (tmp_path / "1-0051" / "rtc" / "rtc1").mkdir(parents=True)
    rtc = KernelRTC.for_i2c(1, 0x51, sysfs_i2c=tmp_path)
    assert rtc.device == "/dev/rtc1"
    assert rtc.sysfs == Path("/sys/class/rtc/rtc1")
    assert KernelRTC.for_i2c(1, 0x52, sysfs_i2c=tmp_path).device == "/dev/rtc0"


class KernelOwnedBus(I2CBus):
    """A Linux bus where rtc-pcf85063 is bound to 0x51."""

    name = "/dev/i2c-1"

    def transfer(self, messages: Sequence[Message]) -> list[bytes]:
        raise DeviceBusyError("owned by kernel driver rtc-pcf85063", bus=self.name, address=messages[0].address)

    def bound_driver(self, address: int) -> str | None:
        return "rtc-pcf85063" if address == 0x51 else None

    @property
    def number(self) -> int:
        return 1


def kernel_target(monkeypatch: pytest.MonkeyPatch, rtc: KernelRTC) -> Target:
    target = HardwareTarget(KernelOwnedBus(), addresses=dict(ONBOARD_ADDRESSES))
    monkeypatch.setattr("wisgate.commands._options.open_target", lambda _spec, **_kw: target)
    monkeypatch.setattr(KernelRTC, "for_i2c", lambda *_args, **_kwargs: rtc)
    return target


def test_open_rtc_picks_the_kernel_when_it_owns_the_chip(
    monkeypatch: pytest.MonkeyPatch, kernel: tuple[KernelRTC, FakeRtcDevice, Path]
) -> None:
    rtc, _, _ = kernel
    assert kernel_target(monkeypatch, rtc).rtc() is rtc


def test_cli_on_a_kernel_owned_rtc(
    monkeypatch: pytest.MonkeyPatch, kernel: tuple[KernelRTC, FakeRtcDevice, Path]
) -> None:
    rtc, _, sysfs = kernel
    kernel_target(monkeypatch, rtc)
    code, output = run("--alarm", "07:30")
    assert code == 0, output
    assert "rtc-pcf85063 1-0051, owned by the kernel" in output
    assert "time        2026-11-25 12:00:00 UTC" in output
    assert "wake alarm  2026-11-26 07:30:00 UTC" in output
    assert int((sysfs / "wakealarm").read_text()) == int((datetime(2026, 11, 26, 7, 30, tzinfo=UTC)).timestamp())
    result = CliRunner().invoke(cli, ["rtc", "--clkout", "off"])
    assert isinstance(result.exception, UnsupportedError)
    assert "CLKOUT needs raw access to 0x51" in str(result.exception)


def test_status_probe_on_a_kernel_owned_rtc(
    monkeypatch: pytest.MonkeyPatch, kernel: tuple[KernelRTC, FakeRtcDevice, Path]
) -> None:
    rtc, fake, _ = kernel
    fake.time = NOW + timedelta(hours=1)
    target = kernel_target(monkeypatch, rtc)
    rows = {row.label: format_value(row) for row in read_status(target) if row.source == "rtc"}
    assert rows == {"RTC time": "2026-11-25 13:00:00 UTC", "CLKOUT": "kernel-owned"}
