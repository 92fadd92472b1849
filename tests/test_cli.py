"""The wisgate command: scan and status on the simulated board, one-line errors."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from wisgate.board.rak7391 import ONBOARD_DEVICES
from wisgate.cli import cli


def test_scan_finds_every_onboard_device() -> None:
    result = CliRunner().invoke(cli, ["scan", "--sim"])
    assert result.exit_code == 0, result.output
    assert "missing" not in result.output
    for device in ONBOARD_DEVICES:
        assert f"0x{device.address:02X}  {device.part}" in result.output
    # the grid row of 0x20..0x2F shows the fan controller at 0x2F and the expanders at 0x26/0x27
    row = next(line for line in result.output.splitlines() if line.startswith("20:"))
    cells = row.split()[1:]
    assert (cells[6], cells[7], cells[15]) == ("IOX2", "IOX1", "FAN")
    assert cells.count("--") == 13


def test_status_reads_every_sensor() -> None:
    result = CliRunner().invoke(cli, ["status", "--sim"])
    assert result.exit_code == 0, result.output
    for label in ("PCB temperature", "PCB humidity", "AIN1", "CPU temperature", "fan speed", "serial number"):
        assert label in result.output


def test_errors_are_one_line_without_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "wisgate", "scan", "--bus", "/dev/i2c-77"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "/dev/i2c-77" in proc.stderr


def test_sim_and_bus_together_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["scan", "--sim", "--bus", "/dev/i2c-1"])
    assert result.exit_code == 2
    assert "not both" in result.output


def test_every_command_module_is_listed_under_its_own_name() -> None:
    import importlib
    import pkgutil

    import wisgate.commands
    from wisgate.cli import COMMANDS

    modules = {m.name for m in pkgutil.iter_modules(wisgate.commands.__path__) if not m.name.startswith("_")}
    assert set(COMMANDS.values()) == modules
    for name, module in COMMANDS.items():
        assert importlib.import_module(f"wisgate.commands.{module}").command.name == name


def test_a_command_imports_only_its_own_module() -> None:
    """``wisgate run`` carries no other command's imports (the daemon's memory), a quick command not the daemon's."""
    code = ("import sys\nfrom wisgate.cli import main\ntry:\n    main(['fan', '--help'])\n"
            "except SystemExit:\n    pass\nprint(sorted(m for m in sys.modules if m.startswith('wisgate.commands.')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip().splitlines()[-1] == "['wisgate.commands._options', 'wisgate.commands.fan']"
