"""``wisgate apps export``: compose files valid against the compose specification, Portainer v3 templates valid
against Portainer's template schema, hardware resolved to this board's devices."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest
import yaml
from compose_spec import PyCompose

from wisgate.apps.catalog import load_catalog
from wisgate.apps.export import export_app
from wisgate.apps.interpolate import interpolate, values_lookup
from wisgate.apps.values import settle

SHIPPED = load_catalog(environ={})

# portainer/templates schema.json (v3): the fields and types that repository's CI validates templates.json against
PORTAINER_V3_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version", "templates"],
    "properties": {
        "version": {"type": "string"},
        "templates": {"type": "array", "items": {
            "type": "object",
            "required": ["id", "type", "title"],
            "properties": {
                "id": {"type": "integer"}, "type": {"type": "integer", "enum": [1, 2, 3]},
                "title": {"type": "string"}, "description": {"type": "string"},
                "categories": {"type": "array", "items": {"type": "string"}}, "platform": {"type": "string"},
                "logo": {"type": "string", "format": "uri"}, "image": {"type": "string"},
                "ports": {"type": "array", "items": {"type": "string"}},
                "volumes": {"type": "array", "items": {"type": "object", "required": ["container"], "properties": {
                    "container": {"type": "string"}, "bind": {"type": "string"}}}},
                "env": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string"}, "label": {"type": "string"}, "default": {"type": "string"},
                    "preset": {"type": "boolean"}}}},
                "command": {"type": "string"}, "interactive": {"type": "boolean"}, "note": {"type": "string"},
            },
        }},
    },
}


def as_compose_reads_it(text: str) -> str:
    """Interpolate as ``docker compose`` would with an empty environment (secrets given a value)."""
    text = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*):\?[^}]*\}", "a-secret", text)
    return interpolate(text, values_lookup({}))


def validate(text: str) -> dict[str, Any]:
    resolved = as_compose_reads_it(text)
    PyCompose.from_yaml(resolved).validate()
    document: dict[str, Any] = yaml.safe_load(resolved)
    return document


@pytest.mark.parametrize("app_id", sorted(SHIPPED.apps))
def test_every_shipped_app_exports_valid_compose_and_portainer_files(app_id: str) -> None:
    app = SHIPPED.get(app_id)
    required = {"TS_AUTHKEY": "tskey-x", "TC_KEY": "key"}
    values = settle(app, {k: v for k, v in required.items() if k in app.settings()})
    exported = export_app(app, values, instance=app_id, listen="127.0.0.1", repository="https://example.org/git")
    document = validate(exported.compose_text)
    assert document["name"] == app_id and set(document["services"]) == set(app.services)
    assert exported.portainer is not None
    jsonschema.validate(exported.portainer, PORTAINER_V3_SCHEMA)
    assert exported.portainer["version"] == "3" and exported.portainer["templates"][0]["id"] == 1


def test_a_single_service_app_becomes_a_container_template() -> None:
    app = SHIPPED.get("mosquitto")
    exported = export_app(app, settle(app, {"MQTT_PORT": "1884"}), instance="mosquitto", listen="127.0.0.1")
    service = exported.compose["services"]["mosquitto"]
    assert service["ports"] == ["127.0.0.1:${MQTT_PORT:-1884}:1883/tcp"]
    assert service["configs"] == [{"source": "mosquitto-mosquitto.conf",
                                   "target": "/mosquitto/config/mosquitto.conf", "mode": 0o644}]
    assert "allow_anonymous ${ALLOW_ANONYMOUS:-true}" in exported.compose["configs"]["mosquitto-mosquitto.conf"][
        "content"]
    resolved = validate(exported.compose_text)
    assert resolved["services"]["mosquitto"]["ports"] == ["127.0.0.1:1884:1883/tcp"]
    template = exported.portainer
    assert template is not None
    (entry,) = template["templates"]
    assert (entry["type"], entry["image"], entry["ports"]) == (1, "eclipse-mosquitto:2.0.20", ["1884:1883/tcp"])
    assert entry["volumes"] == [{"container": "/mosquitto/data"}]
    assert "cannot declare the configuration files" in entry["note"]
    jsonschema.validate(template, PORTAINER_V3_SCHEMA)


def test_a_concentrator_stack_exports_this_boards_devices_and_its_network() -> None:
    app = SHIPPED.get("chirpstack-concentratord")
    exported = export_app(app, settle(app, {"SLOT": "2", "REGION": "us915_0"}), instance="concentratord-2",
                          listen="127.0.0.1")
    concentratord = exported.compose["services"]["concentratord"]
    assert concentratord["devices"] == ["/dev/spidev0.1:/dev/spidev0.1:rwm", "/dev/gpiochip0:/dev/gpiochip0:rwm"]
    assert concentratord["environment"]["DEVICE"] == "/dev/spidev0.1"
    assert concentratord["environment"]["RESET_GPIO"] == "6"
    assert concentratord["environment"]["REGION"] == "${REGION:-us915_0}"
    assert "privileged" not in concentratord
    assert exported.compose["networks"] == {"default": {}, "mosquitto_default": {"external": True}}
    assert concentratord["networks"] == ["default", "mosquitto_default"]
    assert 'client_id = "concentratord-2"' in exported.compose["configs"][
        "mqtt-forwarder-chirpstack-mqtt-forwarder.toml"]["content"]
    assert exported.portainer is None and "give --repository URL" in str(exported.portainer_skipped)
    validate(exported.compose_text)


def test_secrets_are_left_for_the_user_to_set() -> None:
    app = SHIPPED.get("chirpstack")
    values = settle(app, {})
    exported = export_app(app, values, instance="chirpstack", listen="0.0.0.0")
    env = exported.compose["services"]["postgres"]["environment"]
    assert env["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD")
    assert exported.compose["services"]["chirpstack"]["ports"] == ["0.0.0.0:${WEB_PORT:-8080}:8080/tcp"]
    assert values.generated == ["POSTGRES_PASSWORD", "API_SECRET"]
    assert all(values.values[name] not in exported.compose_text for name in values.generated)
