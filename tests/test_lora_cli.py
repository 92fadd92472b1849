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
    assert "module 0 (sx1302): radio 0 863.500 MHz, radio 1 864.300 MHz" in result.output
    assert "868.8 MHz FSK 125 kHz  radio 1 IF +300 kHz" in result.output


def test_plan_concentratord_toml_parses_back() -> None:
    result = CliRunner().invoke(cli, ["lora", "plan", "US915-FSB1+2", "--format", "concentratord"])
    assert result.exit_code == 0, result.output
    sections = [s for s in result.output.split("# module ") if s.strip()]
    assert len(sections) == 2
    second = tomllib.loads(sections[1].split("\n", 1)[1])
    assert second["gateway"]["region"] == "US915"
    assert second["gateway"]["concentrator"]["multi_sf_channels"][0] == 903_900_000
    assert second["gateway"]["concentrator"]["lora_std"]["frequency"] == 904_600_000


def test_plan_semtech_is_json_per_module() -> None:
    result = CliRunner().invoke(cli, ["lora", "plan", "EU868", "--format", "semtech"])
    conf = json.loads(result.output)["module_0"]["SX130x_conf"]
    assert conf["radio_0"]["freq"] == 867_500_000 and conf["radio_1"]["freq"] == 868_500_000


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
        records = [json.loads(line) for line in result.output.splitlines()]
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
