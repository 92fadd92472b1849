"""``wisgate fan``, the fan and CPU status probes, and the CPU temperature sources."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from wisgate.bus.thermal_zone import CpuTemperature, ThermalZone
from wisgate.cli import cli
from wisgate.errors import UnsupportedError, WisgateError
from wisgate.services.readings import format_value
from wisgate.services.status import read_status
from wisgate.sim.target import SimTarget
from wisgate.target import open_target


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["fan", "--sim", *args])
    return result.exit_code, result.output


def test_fan_shows_a_stopped_fan() -> None:
    code, output = run()
    assert code == 0, output
    assert "direct drive" in output
    assert "0.0 %" in output
    assert "TACH count 8191" in output
    assert "ok" in output


def test_fan_duty_and_settle() -> None:
    code, output = run("--duty", "60", "--wait", "10")
    assert code == 0, output
    assert "60.0 %" in output
    assert "2999 RPM (TACH count 2622)" in output


def test_fan_rpm_runs_the_chip_loop() -> None:
    code, output = run("--rpm", "3200", "--wait", "15")
    assert code == 0, output
    assert "RPM loop" in output
    speed = int(output.split("speed")[1].split("RPM")[0])
    assert abs(speed - 3200) < 64


def test_fan_reports_the_watchdog() -> None:
    code, output = run("--wait", "5")
    assert code == 0, output
    assert "100.0 %" in output
    assert "watchdog fired" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--duty", "120"), "not in the range"),
        (("--rpm", "300"), "slowest valid speed"),
        (("--duty", "50", "--rpm", "3000"), "not both"),
    ],
)
def test_fan_errors_are_one_clear_line(args: tuple[str, ...], message: str) -> None:
    code, output = run(*args)
    assert code == 2
    assert message in output
    assert "Traceback" not in output


def test_status_probes_read_cpu_and_fan() -> None:
    target = open_target("sim")
    assert isinstance(target, SimTarget)
    target.board.cpu.temperature_c = 51.26
    rows = {row.label: format_value(row) for row in read_status(target) if row.source in ("cpu", "fan")}
    assert rows == {"CPU temperature": "51.3 °C", "fan duty": "0 %", "fan speed": "0 RPM"}


def test_status_probe_reports_a_missing_fan_controller() -> None:
    target = open_target("sim")
    target.bus.faults.vanish(0x2F)
    fan_rows = [row for row in read_status(target) if row.source == "fan"]
    assert len(fan_rows) == 1
    assert not fan_rows[0].ok
    assert "0x2F" in (fan_rows[0].error or "")


def test_sim_target_uses_the_thermal_model() -> None:
    target = open_target("sim")
    assert isinstance(target, SimTarget)
    source = target.cpu_temperature()
    assert isinstance(source, CpuTemperature)
    target.board.cpu.temperature_c = 47.1234
    assert source.read_celsius() == pytest.approx(47.123)


def test_thermal_zone_reads_milli_celsius(tmp_path: Path) -> None:
    temp = tmp_path / "temp"
    temp.write_text("48312\n")
    assert ThermalZone(temp).read_celsius() == pytest.approx(48.312)
    temp.write_text("n/a\n")
    with pytest.raises(WisgateError, match="milli"):
        ThermalZone(temp).read_celsius()
    with pytest.raises(UnsupportedError, match="does not exist"):
        ThermalZone(tmp_path / "missing").read_celsius()
