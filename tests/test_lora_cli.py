"""``wisgate lora plan`` and ``wisgate lora traffic`` against a real running daemon (``wisgate run``)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from click.testing import CliRunner
from lora_rig import free_port

from wisgate.cli import cli
from wisgate.commands.lora import to_toml


def test_plan_text_splits_eu868_16_over_two_modules() -> None:
    result = CliRunner().invoke(cli, ["lora", "plan", "EU868-16"])
    assert result.exit_code == 0, result.output
    assert "18 channels over 2 module(s)" in result.output
    assert ("module 0 (sx1302, mPCIe #1: /dev/spidev0.0, reset GPIO17): radio 0 863.500 MHz, radio 1 864.300 MHz"
            in result.output)
    assert "module 1 (sx1302, mPCIe #2: /dev/spidev0.1, reset GPIO6)" in result.output
    assert "    868.800 MHz  FSK           125 kHz  radio 1 IF  +300 kHz" in result.output
    # one column: every frequency with three decimals, right-aligned
    rows = [line for line in result.output.splitlines() if line.startswith("  ")]
    assert len({line.index(" MHz") for line in rows}) == 1


def test_plan_concentratord_toml_parses_back() -> None:
    result = CliRunner().invoke(cli, ["lora", "plan", "US915-FSB1+2", "--format", "concentratord"])
    assert result.exit_code == 0, result.output
    sections = [s for s in result.output.split("# module ") if s.strip()]
    assert len(sections) == 2
    first = tomllib.loads(sections[0].split("\n", 1)[1])
    second = tomllib.loads(sections[1].split("\n", 1)[1])
    assert second["gateway"]["region"] == "US915"
    assert second["gateway"]["concentrator"]["multi_sf_channels"][0] == 903_900_000
    assert second["gateway"]["concentrator"]["lora_std"]["frequency"] == 904_600_000
    # each module's own slot: mPCIe #1 spidev0.0 / GPIO17, mPCIe #2 spidev0.1 / GPIO6
    assert (first["gateway"]["com_dev_path"], first["gateway"]["sx1302_reset_pin"]) == ("/dev/spidev0.0", 17)
    assert (second["gateway"]["com_dev_path"], second["gateway"]["sx1302_reset_pin"]) == ("/dev/spidev0.1", 6)


def _semtech(*args: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(cli, ["lora", "plan", *args, "--format", "semtech"])
    assert result.exit_code == 0, result.output
    blocks = [b for b in result.output.split("// module ") if b.strip()]
    return [json.loads(b.split("\n", 1)[1]) for b in blocks]


def test_plan_semtech_is_one_global_conf_per_module_with_its_slot() -> None:
    (only,) = _semtech("EU868")
    conf = only["SX130x_conf"]
    assert conf["radio_0"]["freq"] == 867_500_000 and conf["radio_1"]["freq"] == 868_500_000  # type: ignore[index]
    first, second = _semtech("EU868-16")
    assert first["SX130x_conf"]["com_path"] == "/dev/spidev0.0"  # type: ignore[index]
    assert second["SX130x_conf"]["com_path"] == "/dev/spidev0.1"  # type: ignore[index]


def test_2g4_module_gets_a_tty_and_concentratord_its_device(tmp_path: Path) -> None:
    from wisgate.lora.plans.allocation import SX1280, SX1302, Module, allocate
    from wisgate.lora.plans.channels import eu868, ism2400
    from wisgate.lora.plans.module_conf import concentratord_section, semtech_global_conf

    modules = [Module.for_region(0, "EU868", SX1302), Module.for_region(1, "ISM2400", SX1280)]
    sub, ghz = allocate(eu868(8) + ism2400(), modules)
    assert semtech_global_conf(ghz)["radio_conf"]["tty_path"] == "/dev/ttyAMA0"  # mPCIe #2 UART
    assert concentratord_section(ghz, "ISM2400")["gateway"]["com_dev_path"] == "/dev/ttyAMA0"
    assert semtech_global_conf(sub)["SX130x_conf"]["com_path"] == "/dev/spidev0.0"
    third = Module.for_region(2, "ISM2400", SX1280)
    (alone,) = allocate(ism2400(), [third])
    assert semtech_global_conf(alone)["radio_conf"]["tty_path"] == "/dev/ttyACM0"  # a USB variant


def test_a_region_alone_fills_every_module_or_says_why_one_stays_idle() -> None:
    result = CliRunner().invoke(cli, ["lora", "plan", "US915", "--modules", "2"])
    assert result.exit_code == 0, result.output
    assert "US915 FSB1+2: 18 channels over 2 module(s)" in result.output
    assert "902.300 MHz" in result.output and "903.900 MHz" in result.output  # FSB1 and FSB2
    au = CliRunner().invoke(cli, ["lora", "plan", "AU915", "--modules", "2"])
    assert "915.200 MHz" in au.output and "916.800 MHz" in au.output
    eu = CliRunner().invoke(cli, ["lora", "plan", "EU868", "--modules", "2"])
    assert "EU868-16: 18 channels over 2 module(s)" in eu.output
    idle = CliRunner().invoke(cli, ["lora", "plan", "EU868-16", "--modules", "3"])
    assert idle.exit_code == 0
    assert "module(s) 2 stay idle: EU868-16 has 18 channels, which fit on 2 module(s); EU868 has no larger plan" \
        in idle.output
    assert "radio" not in next(line for line in idle.output.splitlines() if line.startswith("module 2"))
    fsb = CliRunner().invoke(cli, ["lora", "plan", "US915-FSB2", "--modules", "2"])
    assert "name US915 alone or US915-FSB1+2 to use them" in fsb.output
    single = CliRunner().invoke(cli, ["lora", "plan", "EU868"])
    assert single.output.startswith("EU868: 10 channels over 1 module(s)")  # not "EU868-8"


def test_impossible_plan_names_the_channel() -> None:
    result = CliRunner().invoke(cli, ["lora", "plan", "EU868-16", "--modules", "1"])
    assert result.exit_code == 1
    assert "channel 867.1 MHz multi-SF 125 kHz does not fit" in result.output
    unknown = CliRunner().invoke(cli, ["lora", "plan", "EU433"])
    assert unknown.exit_code == 1 and "known: EU868" in unknown.output


def test_toml_writer_round_trips() -> None:
    data = {"gateway": {"region": "EU868", "concentrator": {"multi_sf_channels": [1, 2], "fsk": {"datarate": 50000}}}}
    assert tomllib.loads(to_toml(data)) == data



def test_traffic_follows_a_running_gateway(tmp_path: Path) -> None:
    url = f"tcp://127.0.0.1:{free_port()}"
    config = tmp_path / "wisgate.toml"
    config.write_text(
        f'[display]\nenabled = false\n[api]\nenabled = false\n[lora]\ntraffic_url = "{url}"\n'
        "[lora.sim]\ndevices = 300\nmean_interval_s = 3\n"
    )
    daemon = subprocess.Popen(
        [sys.executable, "-m", "wisgate", "run", "--sim", "--config", str(config), "--duration", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        time.sleep(1.0)
        result = CliRunner().invoke(cli, ["lora", "traffic", "--url", url, "--count", "3", "--json", "--timeout", "15"])
        assert result.exit_code == 0, result.output
        records = [json.loads(line) for line in result.stdout.splitlines()]  # stderr says what it waits for
        assert len(records) == 3
        for record in records:
            assert record["mtype"] in ("UNCONFIRMED_DATA_UP", "JOIN_REQUEST")
            assert record["receptions"] and record["receptions"][0]["crc"] == "ok"
            who = record.get("dev_addr") or record.get("dev_eui", "")
            assert who.startswith(("2601", "70B3D57ED005")), record
    finally:
        daemon.terminate()
        output = daemon.communicate(timeout=20)[0]
    assert "wisgate stopped" in output, output


def test_traffic_without_a_gateway_times_out_in_one_line() -> None:
    result = CliRunner().invoke(
        cli, ["lora", "traffic", "--url", f"tcp://127.0.0.1:{free_port()}", "--timeout", "0.3"]
    )
    assert result.exit_code == 1
    assert "is `wisgate run` running?" in result.output


def test_status_names_a_configured_module_that_does_not_answer(tmp_path: Path) -> None:
    from wisgate.clock import SimClock
    from wisgate.sim.concentratord import SimConcentratord, SimModule

    config = tmp_path / "wisgate.toml"
    lines = []
    for board in (0, 1):
        lines += ["[[lora.modules]]", f"board = {board}", f'event_url = "ipc://{tmp_path}/e{board}"',
                  f'command_url = "ipc://{tmp_path}/c{board}"', ""]
    config.write_text("\n".join(lines))
    alive = SimConcentratord(SimModule("0016c001ff10a235", board=0), clock=SimClock(),
                             event_url=f"ipc://{tmp_path}/e0", command_url=f"ipc://{tmp_path}/c0").start()
    try:
        result = CliRunner().invoke(cli, ["status", "--sim", "--config", str(config)], terminal_width=200)
    finally:
        alive.stop()
    assert result.exit_code == 1
    assert "answers as 0016c001ff10a235" in result.output
    assert "does not answer: board 1: no answer from" in result.output
