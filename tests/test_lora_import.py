"""``wisgate lora import``: lora_pkt_fwd configurations become wisgate's [lora] section."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from wisgate.cli import cli
from wisgate.config import parse_config
from wisgate.lora.plans.importer import SemtechImportError, import_semtech, strip_comments

EU868 = """{
    /* SX1302 EU868, as sx1302_hal ships it */
    "SX130x_conf": {
        "com_type": "SPI", "com_path": "/dev/spidev0.0", // the RAK5146 in mPCIe #1
        "radio_0": {"enable": true, "type": "SX1250", "freq": 867500000, "tx_enable": true},
        "radio_1": {"enable": true, "type": "SX1250", "freq": 868500000, "tx_enable": false},
        "chan_multiSF_0": {"enable": true, "radio": 1, "if": -400000},
        "chan_multiSF_1": {"enable": true, "radio": 1, "if": -200000},
        "chan_multiSF_2": {"enable": true, "radio": 1, "if": 0},
        "chan_multiSF_3": {"enable": true, "radio": 0, "if": -400000},
        "chan_multiSF_4": {"enable": true, "radio": 0, "if": -200000},
        "chan_multiSF_5": {"enable": true, "radio": 0, "if": 0},
        "chan_multiSF_6": {"enable": true, "radio": 0, "if": 200000},
        "chan_multiSF_7": {"enable": true, "radio": 0, "if": 400000},
        "chan_Lora_std": {"enable": true, "radio": 1, "if": -200000, "bandwidth": 250000, "spread_factor": 7}
    },
    "gateway_conf": {
        "gateway_ID": "AA555A0000000000",
        "server_address": "localhost", "serv_port_up": 1730, "serv_port_down": 1730,
        "keepalive_interval": 10, "push_timeout_ms": 100, "forward_crc_error": false,
        "comment": "a string with // and /* inside stays"
    }
}"""


def test_strip_comments_keeps_strings() -> None:
    text = strip_comments('{"a": "x // y /* z */", /* gone */ "b": 1 // gone\n}')
    assert json.loads(text) == {"a": "x // y /* z */", "b": 1}


def test_eu868_with_local_override(tmp_path: Path) -> None:
    global_conf = tmp_path / "global_conf.json"
    global_conf.write_text(EU868)
    local_conf = tmp_path / "local_conf.json"
    local_conf.write_text('{"gateway_conf": {"gateway_ID": "0016C001FF10A235", "server_address": "eu1.example.net"}}')
    imported = import_semtech(global_conf, local_conf)
    assert imported.region == "EU868"
    assert imported.gateway_id == "0016c001ff10a235"
    assert [(s.host, s.port_up, s.port_down) for s in imported.servers] == [("eu1.example.net", 1730, 1730)]


def test_cli_output_loads_as_wisgate_config(tmp_path: Path) -> None:
    global_conf = tmp_path / "global_conf.json"
    global_conf.write_text(EU868)
    out = tmp_path / "wisgate.toml"
    result = CliRunner().invoke(cli, ["lora", "import", str(global_conf), "-o", str(out)])
    assert result.exit_code == 0, result.output
    config = parse_config(tomllib.loads(out.read_text()))
    assert config.lora.region == "EU868" and config.lora.gateway_id == "aa555a0000000000"
    (server,) = config.lora.udp
    assert (server.host, server.port_up, server.keepalive_s) == ("localhost", 1730, 10.0)
    again = CliRunner().invoke(cli, ["lora", "import", str(global_conf), "-o", str(out)])
    assert again.exit_code == 1 and "--force" in again.output


def test_us915_fsb2_is_recognised(tmp_path: Path) -> None:
    radios = {"radio_0": {"freq": 904_300_000}, "radio_1": {"freq": 905_000_000}}
    offsets = [(0, -400_000), (0, -200_000), (0, 0), (0, 200_000), (1, -300_000), (1, -100_000), (1, 100_000),
               (1, 300_000)]
    chans = {f"chan_multiSF_{i}": {"enable": True, "radio": r, "if": f} for i, (r, f) in enumerate(offsets)}
    path = tmp_path / "us.json"
    path.write_text(json.dumps({"SX130x_conf": {**radios, **chans}, "gateway_conf": {"gateway_ID": "0" * 16}}))
    assert import_semtech(path).region == "US915-FSB2"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"gateway_conf": {"gateway_ID": "00"}}', "no SX130x_conf"),
        (EU868.replace("AA555A0000000000", "xyz"), "gateway_ID 'xyz' is not 16 hex digits"),
        (EU868.replace("867500000", "866500000"), "match no known plan"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "global_conf.json"
    path.write_text(content)
    with pytest.raises(SemtechImportError, match=message):
        import_semtech(path)
    result = CliRunner().invoke(cli, ["lora", "import", str(path)])
    assert result.exit_code == 1


def test_what_is_not_imported_is_named_and_the_stat_interval_is_kept(tmp_path: Path) -> None:
    conf = json.loads(strip_comments(EU868))
    sx = conf["SX130x_conf"]
    sx["radio_0"].update(rssi_offset=-215.4, tx_gain_lut=[{"rf_power": 12, "pa_gain": 0}])
    sx["radio_1"]["rssi_offset"] = -215.4
    sx["sx1261_conf"] = {"spi_path": "/dev/spidev0.1", "lbt": {"enable": True, "rssi_target": -70}}
    conf["gateway_conf"]["stat_interval"] = 60
    global_conf = tmp_path / "global_conf.json"
    global_conf.write_text(json.dumps(conf))
    out = tmp_path / "wisgate.toml"
    result = CliRunner().invoke(cli, ["lora", "import", str(global_conf), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}; run: wisgate run --config {out}" in result.output  # one line, not wrapped
    for named in ("SX130x_conf.radio_0.rssi_offset (RSSI calibration)", "SX130x_conf.radio_1.rssi_offset",
                  "SX130x_conf.radio_0.tx_gain_lut (TX gain table)", "SX130x_conf.sx1261_conf (listen-before-talk)"):
        assert f"note: {named}" in result.output
    config = parse_config(tomllib.loads(out.read_text()))
    assert config.lora.udp[0].stat_interval_s == 60
