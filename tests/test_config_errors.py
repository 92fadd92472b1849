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
