"""``wisgate secure-element`` and the secure element's status probe, on the simulated board."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from tests.conftest import HardwareLikeTarget
from wisgate.chips.atecc608a import ATECC608A
from wisgate.cli import cli
from wisgate.paths import sim_board_file
from wisgate.services.status import read_status
from wisgate.sim.board import SimBoard
from wisgate.sim.identity import SimIdentity
from wisgate.sim.target import SimTarget
from wisgate.target import Target


def fields(output: str) -> dict[str, str]:
    """``  label   value`` lines as a dict (the value's first word)."""
    rows: dict[str, str] = {}
    for line in output.splitlines():
        if line.startswith("  "):
            label, _, value = line.strip().partition("  ")
            rows[label] = value.strip().split(" ")[0]
    return rows


def use_target(monkeypatch: pytest.MonkeyPatch, target: Target) -> None:
    monkeypatch.setattr("wisgate.commands._options.open_target", lambda _spec, **_kw: target)


def sim_target(board: SimBoard, *, hardware: bool = False) -> Target:
    return HardwareLikeTarget(board) if hardware else SimTarget(board)


def test_shows_identity_and_lock_state() -> None:
    result = CliRunner().invoke(cli, ["secure-element", "--sim"])
    assert result.exit_code == 0, result.output
    # the simulated board's kept identity, made by this first run
    serial = SimIdentity.load(sim_board_file()).serial.hex().upper()
    rows = fields(result.output)
    assert rows["serial number"] == serial
    assert rows["revision"] == "00"
    assert "00 00 60 02" in result.output and "ATECC608A at 0x60" in result.output
    assert rows["config zone"] == "locked" and rows["data zone"] == "locked"


def test_sign_prints_a_signature_that_verifies(tmp_path: Path) -> None:
    document = tmp_path / "firmware.bin"
    document.write_bytes(b"\x00\x01wisgate" * 1000)
    result = CliRunner().invoke(cli, ["secure-element", "--sim", "--sign", str(document), "--slot", "2"])
    assert result.exit_code == 0, result.output
    rows = fields(result.output)
    digest = bytes.fromhex(rows["SHA-256"])
    assert digest == hashlib.sha256(document.read_bytes()).digest()
    signature, public = bytes.fromhex(rows["signature"]), bytes.fromhex(rows["public key"])
    assert len(signature) == 64 and public[0] == 0x04 and len(public) == 65
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public)
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    key.verify(der, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    assert "slot 2" in result.output


def test_same_board_same_key(tmp_path: Path) -> None:
    document = tmp_path / "a.txt"
    document.write_text("hello")
    keys = {
        fields(CliRunner().invoke(cli, ["secure-element", "--sim", "--sign", str(document)]).output)["public key"]
        for _ in range(2)
    }
    assert len(keys) == 1


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["secure-element", "--sim", "--sign", str(tmp_path / "nope.bin")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_data_slot_cannot_sign(tmp_path: Path) -> None:
    document = tmp_path / "a.txt"
    document.write_text("hello")
    result = CliRunner().invoke(cli, ["secure-element", "--sim", "--sign", str(document), "--slot", "9"])
    assert result.exit_code == 1
    assert "slot 9 is not a P-256 private key slot" in result.output


def test_missing_chip_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    board = SimBoard()
    board.bus.faults.vanish(0x60)
    use_target(monkeypatch, sim_target(board))
    result = CliRunner().invoke(cli, ["secure-element"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: no ATECC608A answers at 0x60 after a wake pulse (sim 0x60: no acknowledge)"
    ]


def test_real_chip_with_an_empty_slot_is_not_given_a_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    board = SimBoard()
    use_target(monkeypatch, sim_target(board, hardware=True))
    document = tmp_path / "a.txt"
    document.write_text("hello")
    result = CliRunner().invoke(cli, ["secure-element", "--sign", str(document)])
    assert result.exit_code == 1
    assert "slot 0 holds no P-256 private key" in result.output


def test_status_probe_reports_the_serial_number() -> None:
    board = SimBoard()
    rows = [row for row in read_status(sim_target(board)) if row.source == "secure_element"]
    serial = ATECC608A(board.bus, clock=board.clock).serial_number().hex().upper()
    assert [(row.label, row.value, row.ok) for row in rows] == [("serial number", serial, True)]
