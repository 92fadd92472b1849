"""The simulated board's kept identity: distinct keys per slot, the same board on the next run, --fresh."""

from __future__ import annotations

import json
import stat
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from wisgate.chips.atecc608a import ATECC608A
from wisgate.chips.pcf85063a import PCF85063A, OscillatorStoppedError
from wisgate.cli import cli
from wisgate.errors import ConfigError
from wisgate.paths import sim_board_file
from wisgate.sim.identity import KEY_SLOTS, SimIdentity
from wisgate.sim.target import SimTarget


def public_keys(target: SimTarget) -> list[bytes]:
    chip = ATECC608A(target.bus, target.addresses["secure_element"], clock=target.clock)
    return [chip.public_key(slot) for slot in KEY_SLOTS]


def serial(target: SimTarget) -> bytes:
    return ATECC608A(target.bus, target.addresses["secure_element"], clock=target.clock).serial_number()


def test_every_key_slot_has_its_own_key(tmp_path: Path) -> None:
    target = SimTarget.open(state_file=tmp_path / "board.json")
    try:
        keys = public_keys(target)
    finally:
        target.close()
    assert len(set(keys)) == len(KEY_SLOTS)


def test_identity_and_keys_survive_a_restart_and_fresh_replaces_them(tmp_path: Path) -> None:
    path = tmp_path / "board.json"
    first = SimTarget.open(state_file=path)
    identity = serial(first), public_keys(first)
    first.close()
    again = SimTarget.open(state_file=path)
    try:
        assert (serial(again), public_keys(again)) == identity
    finally:
        again.close()
    fresh = SimTarget.open(state_file=path, fresh=True)
    try:
        new_serial, new_keys = serial(fresh), public_keys(fresh)
    finally:
        fresh.close()
    assert new_serial != identity[0]
    assert not set(new_keys) & set(identity[1])
    kept = json.loads(path.read_text())
    assert kept["serial"] == new_serial.hex() and kept["runs"] == 1


def test_two_boards_without_a_file_differ_from_kept_ones(tmp_path: Path) -> None:
    a, b = SimIdentity.new(), SimIdentity.new()
    assert a.serial != b.serial and not set(a.keys.values()) & set(b.keys.values())


def test_rtc_time_keeps_running_between_runs(tmp_path: Path) -> None:
    path = tmp_path / "board.json"
    target = SimTarget.open(state_file=path)
    set_to = datetime(2031, 5, 6, 7, 8, 9)
    PCF85063A(target.bus, target.addresses["rtc"], clock=target.clock).set_time(set_to)
    target.close()
    host_then = datetime.now()
    again = SimTarget.open(state_file=path)
    try:
        now = PCF85063A(again.bus, again.addresses["rtc"], clock=again.clock).read_time()
    finally:
        again.close()
    elapsed = datetime.now() - host_then
    assert set_to <= now <= set_to + elapsed + timedelta(seconds=1)


def test_a_stopped_oscillator_stays_stopped(tmp_path: Path) -> None:
    path = tmp_path / "board.json"
    target = SimTarget.open(state_file=path)
    target.board.rtc.oscillator_fail()
    target.close()
    assert json.loads(path.read_text())["rtc_offset_s"] is None
    again = SimTarget.open(state_file=path)
    try:
        with pytest.raises(OscillatorStoppedError):
            PCF85063A(again.bus, again.addresses["rtc"], clock=again.clock).read_time()
    finally:
        again.close()


def test_the_file_is_private_and_counts_runs(tmp_path: Path) -> None:
    path = tmp_path / "board.json"
    for _ in range(3):
        SimTarget.open(state_file=path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    kept = json.loads(path.read_text())
    assert kept["runs"] == 3 and kept["uptime_s"] > 0


@pytest.mark.parametrize("content", ["{", '{"version": 1}', '{"version": 9}',
                                     '{"version": 1, "serial": "0123", "keys": {}, "rtc_offset_s": 0, '
                                     '"runs": 0, "uptime_s": 0}'])
def test_a_damaged_file_is_one_clear_line(tmp_path: Path, content: str) -> None:
    path = tmp_path / "board.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match="simulated board's state") as caught:
        SimTarget.open(state_file=path)
    assert "\n" not in str(caught.value)


def test_cli_keeps_the_identity_and_fresh_changes_it(tmp_path: Path) -> None:
    runner = CliRunner()
    signed = tmp_path / "file.txt"
    signed.write_text("hello")

    def show(*extra: str) -> tuple[str, str]:
        result = runner.invoke(cli, ["secure-element", "--sim", "--sign", str(signed), *extra],
                               catch_exceptions=False)
        assert result.exit_code == 0, result.output
        rows = {line.split()[0] + line.split()[1]: line.split()[2] for line in result.output.splitlines()
                if line.startswith("  ") and len(line.split()) > 2}
        return rows["serialnumber"], rows["publickey"]

    first = show()
    assert show() == first
    assert sim_board_file().exists()
    keys = {show("--slot", str(slot))[1] for slot in KEY_SLOTS}
    assert len(keys) == len(KEY_SLOTS)
    renewed = show("--fresh")
    assert renewed[0] != first[0] and renewed[1] != first[1]
