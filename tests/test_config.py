"""Configuration: defaults, validation errors that name the field, TOML errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from wisgate.config import load_config, parse_config
from wisgate.errors import ConfigError


def test_defaults_without_a_file() -> None:
    config = load_config(None)
    assert config.board.bus == "auto"
    assert config.monitor.interval_s == 5.0


def test_address_override_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "wisgate.toml"
    path.write_text("[board]\nbus = 'sim'\naddresses = { adc = 0x48 }\n")
    config = load_config(path)
    assert config.board.addresses == {"adc": 0x48}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"board": {"bus": "com3"}}, "board.bus: must be 'auto', 'sim' or a /dev/i2c-N path"),
        ({"board": {"addresses": {"toaster": 0x20}}}, "unknown onboard device(s) ['toaster']"),
        ({"board": {"addresses": {"adc": 0x90}}}, "board.addresses.adc"),
        ({"monitor": {"interval_s": 0}}, "monitor.interval_s"),
        ({"monitr": {}}, "monitr: unknown field (misspelt?); did you mean 'monitor'?"),
    ],
)
def test_invalid_values_name_the_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data, source="test.toml")
    assert message in str(info.value)
    assert str(info.value).startswith("test.toml: ")


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read .*absent\.toml: No such file or directory"):
        load_config(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[board\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(bad)


def test_udp_servers_carry_their_filters_and_store_policy(tmp_path: Path) -> None:
    from wisgate.lora.frames.netid import DevAddrPrefix
    from wisgate.services.lora import udp_servers

    config = parse_config({"lora": {
        "store_dir": str(tmp_path),
        "udp": [
            {"name": "ttn", "host": "eu1.example.net", "push_timeout_ms": 250, "store_policy": "drop-newest",
             "filters": {"dev_addr_prefixes": ["26000000/7"]}},
            {"name": "local", "host": "127.0.0.1", "uplink_only": True},
        ],
    }})
    ttn, local = udp_servers(config.lora)
    assert ttn.push_timeout_s == 0.25 and ttn.store_policy == "drop-newest"
    assert ttn.store_path == tmp_path / "udp-ttn.sqlite"
    assert ttn.filters is not None and list(ttn.filters.build().dev_addr_prefixes) == [DevAddrPrefix(0x26000000, 7)]
    assert local.uplink_only and local.filters is None


def test_duplicate_server_names_and_secret_password() -> None:
    with pytest.raises(ConfigError, match="repeated: \\['a'\\]"):
        parse_config({"lora": {"udp": [{"name": "a", "host": "x"}, {"name": "a", "host": "y"}]}})
    config = parse_config({"lora": {"mqtt": {"enabled": True, "username": "gw", "password": "s3cret"}}})
    assert "s3cret" not in repr(config) and "s3cret" not in str(config.lora.mqtt)


def test_old_key_names_are_read_with_a_warning_naming_the_new_one(caplog: pytest.LogCaptureFixture) -> None:
    config = parse_config({"power": {"debounce_ms": 50},
                           "lora": {"udp": [{"name": "a", "host": "127.0.0.1", "push_timeout_ms": 250}]}})
    assert config.power.debounce_s == 0.05 and config.lora.udp[0].push_timeout_s == 0.25
    assert "power.debounce_ms is deprecated; write debounce_s" in caplog.text
    assert "lora.udp.push_timeout_ms is deprecated; write push_timeout_s" in caplog.text
    with pytest.raises(ConfigError, match="give push_timeout_s or the old push_timeout_ms, not both"):
        parse_config({"lora": {"udp": [{"name": "a", "host": "h", "push_timeout_ms": 1, "push_timeout_s": 1}]}})


def _documented_udp_defaults() -> dict[str, str]:
    text = (Path(__file__).resolve().parent.parent / "docs/backhaul.md").read_text(encoding="utf-8")
    table = text.split("### Configuration (`[[lora.udp]]`, `UdpServerConfig`)", 1)[1].split("\n\n###", 1)[0]
    rows: dict[str, str] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`") or not cells[1]:
            continue
        names = [n.strip(" `") for n in cells[0].split(",")]
        rows.update(zip(names, cells[1].split(", "), strict=True))  # "100,000, drop-oldest"
    return rows


def _as_documented(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int) and value >= 10_000:
        return f"{value:,}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def test_the_documented_udp_defaults_are_the_ones_the_daemon_runs(tmp_path: Path) -> None:
    from wisgate.lora.backhaul.udp_link import UdpServerConfig
    from wisgate.services.lora import udp_servers

    documented = _documented_udp_defaults()
    running = udp_servers(parse_config({"lora": {"udp": [{"name": "ns", "host": "127.0.0.1"}]}}).lora)[0]
    settable = set(UdpServerConfig.model_fields) - {"name", "host"}
    assert settable <= set(documented), f"undocumented: {settable - set(documented)}"
    for name in sorted(settable - {"store_path"}):
        value = getattr(running, name)
        assert _as_documented(value) == documented[name].removesuffix(".0"), (name, value, documented[name])
    assert running.store_path is not None and running.store_path.name == "udp-ns.sqlite"
