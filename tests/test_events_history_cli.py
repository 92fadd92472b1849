"""``wisgate events`` and ``wisgate history`` read what a real ``wisgate run`` stored, after it stopped."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from wisgate.cli import cli
from wisgate.commands.history import parse_since


def test_a_daemon_run_leaves_events_and_readings_behind(tmp_path: Path) -> None:
    config = tmp_path / "wisgate.toml"
    history = tmp_path / "history.sqlite"
    config.write_text(f"""
[monitor]
interval_s = 0.2
[lora]
enabled = false
[api]
enabled = false
[display]
enabled = false
[power]
shutdown_after_s = 0
[sim]
supply_cuts = [[0.5, 0.4]]
[history]
path = "{history}"
""")
    proc = subprocess.run(
        [sys.executable, "-m", "wisgate", "run", "--sim", "--config", str(config), "--duration", "2.5"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"history (readings and events): {history}" in proc.stdout
    events = CliRunner().invoke(cli, ["events", "--history", str(history)])
    assert events.exit_code == 0, events.output
    lines = events.output.splitlines()
    kinds = [line.split()[2] for line in lines if len(line.split()) > 2]
    assert kinds[:3] == ["supply.lost", "supply.returned", "supply.ride_through"], events.output
    listed = CliRunner().invoke(cli, ["history", "--history", str(history)])
    assert "cpu.temperature" in listed.output and "pcb.humidity" in listed.output
    shown = CliRunner().invoke(cli, ["history", "cpu.temperature", "--since", "10m", "--history", str(history)])
    assert shown.exit_code == 0, shown.output
    assert "cpu.temperature (°C)" in shown.output and shown.output.count(":") >= 2
    unknown = CliRunner().invoke(cli, ["history", "cpu.temp", "--history", str(history)])
    assert unknown.exit_code == 1 and "no history of 'cpu.temp'" in unknown.output


def test_a_missing_history_is_one_clear_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["events", "--history", str(tmp_path / "none.sqlite")])
    assert result.exit_code == 1 and "no history at" in result.output


def test_since_takes_durations_and_dates() -> None:
    assert parse_since("2h") == pytest.approx(time.time() - 7200, abs=2)
    assert parse_since("2026-01-01T00:00:00+00:00") == 1767225600.0
    with pytest.raises(Exception, match="neither a duration"):
        parse_since("yesterday")
