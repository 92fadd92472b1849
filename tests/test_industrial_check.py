"""``wisgate check`` for ``[industrial]``: slot needs, collisions, missing serial ports, the board description."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from wisgate.board.description import parse_description
from wisgate.cli import cli
from wisgate.industrial.check import check_industrial, industrial_needs
from wisgate.industrial.config import IndustrialSection


def section(**data: Any) -> IndustrialSection:
    return IndustrialSection.model_validate(data)


def rtu(name: str, port: str) -> dict[str, Any]:
    return {"name": name, "port": port, "devices": [{"name": f"{name}-d", "template": "th-sensor"}]}


def codes(industrial: IndustrialSection, **kwargs: Any) -> list[str]:
    return [f.code for f in check_industrial(industrial, exists=lambda _: True, **kwargs)]


def test_slot_needs_follow_rak_wiring() -> None:
    industrial = section(wisblock=[{"name": "tank", "slot": 1, "module": "RAK5801"},
                                   {"name": "pump", "slot": 2, "module": "RAK13001", "input_line": 10}],
                         modbus={"buses": [rtu("rs485", "/dev/ttyUSB7")]})
    assert [(n.owner, str(n)) for n in industrial_needs(industrial)] == [
        ("tank (RAK5801)", "expander 0x26 line 1 (module enable)"),
        ("tank (RAK5801)", "SGM58031 channel 1 (analog input)"),
        ("pump (RAK13001)", "expander 0x26 line 12 (relay)"),
        ("pump (RAK13001)", "expander 0x26 line 10 (opto input)"),
        ("bus rs485", "/dev/ttyUSB7 (serial port)"),
    ]
    assert codes(industrial) == []


def test_a_bus_on_a_slot_holding_an_io_module() -> None:
    industrial = section(wisblock=[{"name": "tank", "slot": 1, "module": "RAK5801"}],
                         modbus={"buses": [rtu("rs485", "wisblock1")]})
    [finding] = check_industrial(industrial, exists=lambda _: True)
    assert (finding.level, finding.code) == ("error", "wisblock-slot-rs485")
    assert finding.message == "bus rs485 uses slot 1's RAK5802 (/dev/ttyUSB0), but slot 1 holds tank (RAK5801)"


def test_one_port_for_two_buses_by_slot_and_by_path() -> None:
    industrial = section(modbus={"buses": [rtu("a", "wisblock2"), rtu("b", "/dev/ttyUSB1")]})
    [finding] = check_industrial(industrial, exists=lambda _: True)
    assert finding.code == "serial-port-shared"
    assert finding.message == "bus a and bus b use one serial port (/dev/ttyUSB1)"


def test_a_by_id_link_to_the_same_tty_is_the_same_port(tmp_path: Path) -> None:
    tty = tmp_path / "ttyUSB0"
    tty.touch()
    link = tmp_path / "usb-1a86_USB_Serial-if00-port0"
    link.symlink_to(tty)
    industrial = section(modbus={"buses": [rtu("a", str(tty)), rtu("b", str(link))]})
    assert codes(industrial) == ["serial-port-shared"]


def test_lines_and_channels_claimed_twice() -> None:
    industrial = section(wisblock=[
        {"name": "level", "slot": 1, "module": "RAK5811"},
        {"name": "flow", "slot": 2, "module": "RAK5801", "adc_channel": 1, "enable_line": 1}])
    found = {f.code: f for f in check_industrial(industrial, exists=lambda _: True)}
    assert set(found) == {"wisblock-adc-shared", "wisblock-line-shared", "wisblock-line-other-slot"}
    assert found["wisblock-line-shared"].message == (
        "expander 0x26 line 1 is claimed twice: level (RAK5811) module enable, flow (RAK5801) module enable")
    assert found["wisblock-adc-shared"].message == "flow (RAK5801) and level (RAK5811) read one SGM58031 channel (1)"
    assert found["wisblock-line-other-slot"].level == "warning"


def test_a_missing_serial_port_is_a_warning_naming_the_slot() -> None:
    industrial = section(modbus={"buses": [rtu("rs485", "wisblock1"), rtu("usb", "/dev/serial/by-id/nothing-here")]})
    found = check_industrial(industrial)
    assert [(f.level, f.code) for f in found] == [("warning", "serial-port-missing")] * 2
    assert found[0].message == ("bus rs485: serial port /dev/ttyUSB0 does not exist on this machine; is the RAK5802 "
                                "in slot 1 (its CH340 appears as /dev/ttyUSB0)?")
    assert "is the adapter plugged in?" in found[1].message


def test_against_the_board_description() -> None:
    desc = parse_description('[power]\ninput = "poe-bt"\n[slots]\nwisblock1 = "RAK5811"\n')
    industrial = section(wisblock=[{"name": "tank", "slot": 1, "module": "RAK5801"}],
                         modbus={"buses": [rtu("rs485", "wisblock2")]})
    found = {f.code: f for f in check_industrial(industrial, desc, exists=lambda _: True)}
    assert set(found) == {"wisblock-module-mismatch", "wisblock-not-described"}
    assert found["wisblock-module-mismatch"].message == (
        "WisBlock slot 1 holds RAK5811 in the board description, but [industrial] uses it as RAK5801 (tank)")
    assert found["wisblock-not-described"].fix == 'add wisblock2 = "RAK5802" under [slots]'
    agreeing = parse_description('[power]\ninput = "poe-bt"\n[slots]\nwisblock1 = "RAK5801"\nwisblock2 = "RAK5802"\n')
    assert codes(industrial, desc=agreeing) == []


CONFIG = """
[[industrial.wisblock]]
name = "tank"
slot = 1
module = "RAK5801"

[[industrial.modbus.buses]]
name = "rs485"
port = "wisblock1"
devices = [{ name = "room", template = "th-sensor" }]
"""


def test_cli_with_the_daemon_config(tmp_path: Path) -> None:
    config = tmp_path / "wisgate.toml"
    config.write_text(CONFIG)
    result = CliRunner().invoke(cli, ["check", "--config", str(config)])
    assert result.exit_code == 1, result.output
    assert f"{config}: [industrial] uses" in result.output
    assert "tank (RAK5801): expander 0x26 line 1 (module enable), SGM58031 channel 1 (analog input)" in result.output
    assert "bus rs485: /dev/ttyUSB0 (RAK5802 RS485 of slot 1)" in result.output
    assert "error wisblock-slot-rs485: bus rs485 uses slot 1's RAK5802" in " ".join(result.output.split())
    board = tmp_path / "board.toml"
    board.write_text('[power]\ninput = "poe-bt"\n[slots]\nwisblock1 = "RAK5801"\n')
    config.write_text(CONFIG.replace('"wisblock1"', '"/dev/null"'))
    result = CliRunner().invoke(cli, ["check", str(board), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "OK: no problems found" in result.output


def test_cli_two_modules_in_one_slot_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "wisgate.toml"
    config.write_text(textwrap.dedent("""
        [[industrial.wisblock]]
        name = "a"
        slot = 2
        module = "RAK5801"
        [[industrial.wisblock]]
        name = "b"
        slot = 2
        module = "RAK13007"
    """))
    result = CliRunner().invoke(cli, ["check", "--config", str(config)])
    assert result.exit_code == 1
    assert "WisBlock slot 2 holds one module, not 2" in result.output
