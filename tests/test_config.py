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
    assert ttn.filter is not None and list(ttn.filter.dev_addr_prefixes) == [DevAddrPrefix(0x26000000, 7)]
    assert local.uplink_only and local.filter is None


def test_duplicate_server_names_and_secret_password() -> None:
    with pytest.raises(ConfigError, match="repeated: \\['a'\\]"):
        parse_config({"lora": {"udp": [{"name": "a", "host": "x"}, {"name": "a", "host": "y"}]}})
    config = parse_config({"lora": {"mqtt": {"enabled": True, "username": "gw", "password": "s3cret"}}})
    assert "s3cret" not in repr(config) and "s3cret" not in str(config.lora.mqtt)
