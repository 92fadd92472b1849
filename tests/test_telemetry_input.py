"""The MQTT telemetry's input: command payloads (accepted ones in range and finite, the rest one CommandError)
and its [mqtt] settings."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wisgate.api.mqtt.commands import CommandError, parse_duty, parse_oled, parse_press
from wisgate.api.mqtt.discovery import OLED_CHARS, OLED_LINES, OLED_MAX
from wisgate.config import parse_config
from wisgate.errors import ConfigError
from wisgate.lora.backhaul.mqtt_settings import BrokerSettings
from wisgate.preflight import check_config


@given(st.binary(max_size=600) | st.floats(allow_nan=True, allow_infinity=True).map(lambda f: repr(f).encode()))
def test_a_duty_is_finite_and_in_range_or_refused(payload: bytes) -> None:
    try:
        duty = parse_duty(payload)
    except CommandError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert math.isfinite(duty) and 0 <= duty <= 100


@given(st.floats(min_value=0, max_value=100))
def test_every_duty_in_range_is_taken_as_written(duty: float) -> None:
    assert parse_duty(repr(duty).encode()) == duty


@pytest.mark.parametrize("payload", [b"nan", b"NaN", b"inf", b"-inf", b"1e999", b"100.0001", b"-0.5", b"", b"50%",
                                     b"0x10", b"\xff\xfe"])
def test_duties_refused(payload: bytes) -> None:
    with pytest.raises(CommandError):
        parse_duty(payload)


@given(st.text(max_size=200))
def test_oled_text_fits_the_panel_or_is_refused(text: str) -> None:
    try:
        lines = parse_oled(text.encode())
    except CommandError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert len(lines) <= OLED_LINES and all(len(line) <= OLED_CHARS and line.isprintable() for line in lines)


def test_oled_lines_split_on_bars_and_new_lines_and_the_longest_text_fits_the_entity() -> None:
    assert parse_oled(b"a|b\nc") == ("a", "b", "c")
    assert parse_oled(b"  ") == ()
    longest = "|".join(["x" * OLED_CHARS] * OLED_LINES)
    assert len(longest) == OLED_MAX and len(parse_oled(longest.encode())) == OLED_LINES
    with pytest.raises(CommandError, match="lines"):
        parse_oled(b"1|2|3|4|5|6")
    with pytest.raises(CommandError, match="control"):
        parse_oled(b"bell\x07")


def test_button_payloads() -> None:
    parse_press(b"PRESS")
    with pytest.raises(CommandError, match="PRESS"):
        parse_press(b"on")


# -- the [mqtt] section ------------------------------------------------------------------------------


@pytest.mark.parametrize(("section", "message"), [
    ({"topic_prefix": "wisgate/#"}, "mqtt.topic_prefix"),
    ({"topic_prefix": "a//b"}, "mqtt.topic_prefix"),
    ({"device_id": "my board"}, "mqtt.device_id"),
    ({"discovery_prefix": ""}, "mqtt.discovery_prefix"),
    ({"interval_s": 0}, "mqtt.interval_s"),
    ({"birth_delay_max_s": float("nan")}, "mqtt.birth_delay_max_s"),
    ({"password": "secret"}, "password given without username"),
    ({"configuration_url": "javascript:alert(1)"}, "mqtt.configuration_url"),
])
def test_bad_mqtt_settings_are_one_line_naming_the_key(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        parse_config({"mqtt": section})
    assert "secret" not in str(caught.value)


def test_telemetry_is_off_by_default_and_shares_the_broker_keys_with_lora_mqtt() -> None:
    config = parse_config({"mqtt": {"enabled": True, "username": "wisgate", "password": "s3cret-pass", "tls": True}})
    assert not parse_config({}).mqtt.enabled
    assert config.mqtt.ha_status_topic == "homeassistant/status" and config.mqtt.uses_tls
    assert "s3cret-pass" not in repr(config.mqtt)
    broker_keys = set(BrokerSettings.model_fields)
    assert broker_keys <= set(type(config.mqtt).model_fields)
    assert broker_keys <= set(type(config.lora.mqtt).model_fields)


def test_unreadable_tls_files_are_named_before_the_daemon_starts(tmp_path: Path) -> None:
    config = parse_config({"mqtt": {"enabled": True, "ca_file": str(tmp_path / "missing-ca.pem")}})
    with pytest.raises(ConfigError, match=r"mqtt\.ca_file"):
        check_config(config)
