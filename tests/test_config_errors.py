"""Every unreadable or wrong configuration is one clear line naming what is wrong, never a traceback or a hang."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wisgate.cli import main
from wisgate.config import load_config, parse_config
from wisgate.errors import ConfigError
from wisgate.services.supervisor import describe_failure


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b'[lora]\nregion = "EU868"\nlog_level = "\xff"\n')
    with pytest.raises(ConfigError, match=r"c\.toml: not UTF-8 text \(byte 0xff on line 3\)"):
        load_config(path)


def test_unknown_log_level_names_the_choices_and_any_case_is_taken() -> None:
    with pytest.raises(ConfigError, match=r"log_level: should be 'DEBUG', 'INFO'.*got 'LOUD'"):
        parse_config({"log_level": "LOUD"})
    assert parse_config({"log_level": "debug"}).log_level == "DEBUG"


@pytest.mark.parametrize("text", ["a = " + "[" * 5000 + "]" * 5000, "a = " + "{b = " * 5000 + "1" + "}" * 5000])
def test_deep_nesting_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "deep.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(path)


def test_devices_fifos_directories_and_huge_files_are_refused_without_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it for reading would block forever
    big = tmp_path / "big.toml"
    big.write_bytes(b"# x\n" * 300_000)
    for path, reason in [(Path("/dev/zero"), "not a regular file"), (fifo, "not a regular file"),
                         (tmp_path, "a directory"), (big, "larger than 1024 KiB")]:
        with pytest.raises(ConfigError, match=f"^cannot read {path}: {reason}"):
            load_config(path)


def test_integer_beyond_the_conversion_limit(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[monitor]\ninterval_s = " + "9" * 5000 + "\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(path)


def test_run_with_dev_zero_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_error(capsys, ["run", "--sim", "--config", "/dev/zero"])
    assert line == "Error: cannot read /dev/zero: not a regular file; give a TOML file"


@pytest.mark.parametrize("bus", ["com3", "/dev/null", "i2c-x"])
def test_bad_bus_is_one_line(capsys: pytest.CaptureFixture[str], bus: str) -> None:
    for argv in (["status", "--bus", bus], ["run", "--bus", bus]):
        assert one_line_error(capsys, argv).startswith(f"Error: --bus: {bus!r} is not an I2C bus")


@pytest.mark.parametrize("bus", ["1", "i2c-1", "/dev/i2c-1"])
def test_bus_number_spellings_mean_dev_i2c_n(capsys: pytest.CaptureFixture[str], bus: str) -> None:
    if Path("/dev/i2c-1").exists():
        pytest.skip("a real /dev/i2c-1 exists here")
    line = one_line_error(capsys, ["status", "--bus", bus])
    assert line.startswith("Error: /dev/i2c-1 no such I2C bus")
    assert parse_config({"board": {"bus": bus}}).board.bus == "/dev/i2c-1"


def test_a_task_group_failure_is_told_by_its_sub_exceptions() -> None:
    async def fail(message: str) -> None:
        raise OSError(message)

    async def group() -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(fail("store full"))
            tasks.create_task(fail("store full"))
            tasks.create_task(fail("socket gone"))

    with pytest.raises(ExceptionGroup) as caught:
        asyncio.run(group())
    assert describe_failure(caught.value) == "OSError: store full; OSError: socket gone"
    nested = ExceptionGroup("outer", [ExceptionGroup("inner", [ValueError("bad value")]), KeyError("k")])
    assert describe_failure(nested) == "ValueError: bad value; KeyError: 'k'"


def test_sighup_stops_the_daemon_cleanly(tmp_path: Path) -> None:
    config = tmp_path / "wisgate.toml"
    config.write_text("[lora]\nenabled = false\n[api]\nenabled = false\n[monitor]\ninterval_s = 0.2\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "wisgate", "run", "--sim", "--config", str(config), "--duration", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "wisgate running" in first
        time.sleep(0.5)
        proc.send_signal(signal.SIGHUP)
        output = proc.communicate(timeout=20)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    assert "wisgate stopped" in output and "Traceback" not in output


def test_a_second_daemon_on_the_same_board_refuses_at_start_naming_the_first(tmp_path: Path) -> None:
    config = tmp_path / "wisgate.toml"
    config.write_text("[lora]\nenabled = false\n[api]\nenabled = false\n[display]\nenabled = false\n")
    first = subprocess.Popen(
        [sys.executable, "-m", "wisgate", "run", "--sim", "--config", str(config), "--duration", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert first.stdout is not None and "wisgate running" in first.stdout.readline()
        second = subprocess.run(
            [sys.executable, "-m", "wisgate", "run", "--sim", "--config", str(config), "--duration", "5"],
            capture_output=True, text=True, timeout=30,
        )
        assert second.returncode == 1
        assert second.stderr.strip() == (
            f"Error: another wisgate run (PID {first.pid}, no API) is using the simulated board; "
            f"stop it first (lock {os.environ['WISGATE_RUNTIME_DIR']}/run-sim.lock)"
        )
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=20) == 0
        # the lock goes with its owner: the board is free again
        again = subprocess.run(
            [sys.executable, "-m", "wisgate", "run", "--sim", "--config", str(config), "--duration", "0.5"],
            capture_output=True, text=True, timeout=30,
        )
        assert again.returncode == 0, again.stderr
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()


def test_oled_refuses_what_the_panel_cannot_show() -> None:
    from click.testing import CliRunner

    from wisgate.cli import cli

    six = CliRunner().invoke(cli, ["oled", "--sim", *[a for n in range(6) for a in ("--text", str(n))]])
    assert six.exit_code == 2 and "6 lines given; the panel shows 5" in six.output
    long = CliRunner().invoke(cli, ["oled", "--sim", "--text", "x" * 22])
    assert long.exit_code == 2 and "line 1 has 22 characters; a line shows 21" in long.output
    fits = CliRunner().invoke(cli, ["oled", "--sim", *[a for _ in range(5) for a in ("--text", "y" * 21)]])
    assert fits.exit_code == 0 and "5 line(s)" in fits.output


def test_fan_rtc_and_traffic_say_what_they_did_or_wait_for() -> None:
    from click.testing import CliRunner

    from wisgate.cli import cli

    fan = CliRunner().invoke(cli, ["fan", "--sim", "--duty", "50"])
    assert fan.exit_code == 0 and "spin-up kick; it settles to 50 %" in fan.output
    settled = CliRunner().invoke(cli, ["fan", "--sim", "--duty", "50", "--wait", "2"])
    assert "spin-up" not in settled.output
    rtc = CliRunner().invoke(cli, ["rtc", "--sim", "--set-from-system"])
    assert rtc.exit_code == 0 and "set the RTC to " in rtc.output and "from this computer's clock" in rtc.output
    traffic = CliRunner().invoke(cli, ["lora", "traffic", "--url", "tcp://127.0.0.1:9", "--timeout", "0.2"])
    assert traffic.exit_code == 1
    assert "waiting for uplinks from the gateway of `wisgate run` on tcp://127.0.0.1:9" in traffic.output
    assert "no uplink from tcp://127.0.0.1:9 within 0.2 s" in traffic.output
