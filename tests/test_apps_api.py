"""The app endpoints of the daemon's HTTP API and the ``wisgate apps`` commands, against a real Docker Engine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import docker
import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from docker_rig import CATALOG, build_test_image, engine_client, unique
from fastapi.testclient import TestClient
from lora_rig import free_port
from pydantic import SecretStr
from test_apps_export import PORTAINER_V3_SCHEMA, validate

from wisgate.api.http import create_app
from wisgate.apps.engine import connect
from wisgate.apps.running import set_running_config
from wisgate.cli import cli
from wisgate.commands._options import rich_console
from wisgate.config import ApiSection, parse_config
from wisgate.services.supervisor import Supervisor
from wisgate.target import open_target

TOKEN = "apps-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def client() -> docker.DockerClient:
    client = engine_client()
    build_test_image(client)
    return client


def cleanup(prefix: str) -> None:
    engine = connect()
    for name in sorted((n for n in engine.installed() if n.startswith(prefix)), key=lambda n: "needs" not in n):
        engine.remove(name, purge=True)


@pytest.fixture
def api(client: docker.DockerClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, str]]:
    monkeypatch.delenv("WISGATE_API_TOKEN", raising=False)
    # the daemon's configuration: the test catalog, and a gateway module in mPCIe #1
    set_running_config(parse_config({"apps": {"catalogs": [str(CATALOG)]}, "lora": {"modules": [
        {"board": 0, "event_url": "ipc:///tmp/c0_event", "command_url": "ipc:///tmp/c0_command"}]}}))
    supervisor = Supervisor(open_target("sim"))
    prefix = unique("api")
    try:
        with TestClient(create_app(supervisor.context, ApiSection(token=SecretStr(TOKEN)))) as http:
            yield http, prefix
    finally:
        set_running_config(None)
        supervisor.context.target.close()
        cleanup(prefix)


def test_the_api_lists_installs_and_manages_an_app(api: tuple[TestClient, str]) -> None:
    http, prefix = api
    catalog = http.get("/api/apps").json()
    assert {"mosquitto", "echo-web", "radio"} <= {a["id"] for a in catalog["apps"]}
    shown = http.get("/api/apps/catalog/echo-web").json()
    assert shown["settings"]["WEB_PORT"]["default"] == "18080" and shown["services"]["web"].startswith("wisgate-test/")
    assert http.get("/api/apps/catalog/nope").status_code == 404
    secret = http.get("/api/apps/catalog/chirpstack").json()["settings"]["API_SECRET"]
    assert secret["type"] == "secret" and secret["default"] is None

    name, port = f"{prefix}-echo", free_port()
    body = {"app": "echo-web", "name": name, "settings": {"WEB_PORT": str(port), "MESSAGE": "via http"}}
    assert http.post("/api/apps/installed", json=body).status_code == 401
    created = http.post("/api/apps/installed", json=body, headers=AUTH)
    assert created.status_code == 201, created.text
    assert created.json()["ports"] == [{"name": "web", "address": "127.0.0.1", "host": port, "protocol": "tcp"}]
    again = http.post("/api/apps/installed", json=body, headers=AUTH)
    assert again.status_code == 409 and "already installed" in again.json()["detail"]
    bad = http.post("/api/apps/installed", json={**body, "name": f"{prefix}-x", "settings": {"WEB_PORT": "x"}},
                    headers=AUTH)
    assert bad.status_code == 422 and "WEB_PORT='x': not a whole number" in bad.json()["detail"][0]["msg"]
    assert bad.json()["detail"][0]["loc"] == ["body", "settings"]

    installed = {i["name"]: i for i in http.get("/api/apps/installed").json()["installed"]}
    assert installed[name]["state"] == "running" and installed[name]["settings"]["MESSAGE"] == "via http"
    logs = http.get(f"/api/apps/installed/{name}/logs", params={"service": "ticker"}).json()["lines"]
    assert {"service": "ticker", "line": "started via http"} in logs
    assert http.post(f"/api/apps/installed/{name}/stop", headers=AUTH).status_code == 200
    assert http.get(f"/api/apps/installed/{name}").json()["state"] == "stopped"
    assert http.post(f"/api/apps/installed/{name}/start", headers=AUTH).status_code == 200
    assert http.get(f"/api/apps/installed/{name}").json()["state"] == "running"
    assert http.delete(f"/api/apps/installed/{name}").status_code == 401
    deleted = http.delete(f"/api/apps/installed/{name}", params={"purge": "true"}, headers=AUTH)
    assert deleted.status_code == 200, deleted.text
    assert f"volume {name}_data" in deleted.json()["removed"]
    assert http.get(f"/api/apps/installed/{name}").status_code == 404


def test_the_api_refuses_the_gateways_slot(api: tuple[TestClient, str]) -> None:
    http, prefix = api
    body = {"app": "radio", "name": f"{prefix}-radio", "settings": {"SLOT": "1"}}
    answer = http.post("/api/apps/installed", json=body, headers=AUTH)
    assert answer.status_code == 409
    detail = answer.json()["detail"]
    assert "mPCIe #1 (/dev/spidev0.0, reset GPIO17) is already used by wisgate's LoRa gateway" in detail


def test_the_api_exports(api: tuple[TestClient, str]) -> None:
    http, _prefix = api
    text = http.get("/api/apps/catalog/echo-web/export", params={"set": ["WEB_PORT=18181"]}).text
    assert validate(text)["services"]["web"]["ports"] == ["127.0.0.1:18181:8080/tcp"]
    stack = http.get("/api/apps/catalog/echo-web/export", params={"format": "portainer"})
    assert stack.status_code == 422 and "--repository" in stack.json()["detail"][0]["msg"]
    template = http.get("/api/apps/catalog/mosquitto/export", params={"format": "portainer"}).json()
    jsonschema.validate(template, PORTAINER_V3_SCHEMA)


def test_the_apps_commands(client: docker.DockerClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rich_console(), "width", 240)  # the console behind the commands' lazy one
    runner = CliRunner(env={"WISGATE_APPS_CATALOG": "", "WISGATE_CONFIG": None, "WISGATE_BOARD": None})
    prefix = unique("cli")
    name, port = f"{prefix}-echo", free_port()
    base = ["apps", "--catalog", str(CATALOG)]

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(cli, [*base, *args], terminal_width=200)
        assert result.exit_code == code, result.output
        # a WisgateError leaves click as an exception; wisgate's main prints it as one "Error:" line
        return result.output + (str(result.exception) if result.exception else "")

    try:
        out = run("install", "echo-web", "--name", name, "--set", f"WEB_PORT={port}", "--set", "MESSAGE=from cli")
        assert f"installed {name} (echo-web 1.35.0): running" in out
        assert f"port web: 127.0.0.1:{port} tcp  http://127.0.0.1:{port}/" in out
        assert name in run("status", name) and "running" in run("status", name)
        assert f"{name} (running)" in run("list")
        run("logs", name, "--service", "ticker", "--tail", "5")
        assert "ticker | started from cli" in run("logs", name, "--service", "ticker", "--tail", "500")
        run("stop", name)
        assert "stopped" in run("status", name, code=1)
        run("start", name)
        out = run("remove", name)
        assert f"kept volumes {name}_data" in out
        assert f"removed volume {name}_data" in run("remove", name, "--purge")
        out = run("install", "echo-web", "--name", name, "--set", "WEB_PORTT=1", code=1)
        assert "no setting 'WEB_PORTT'; did you mean WEB_PORT?" in out
        out = run("export", "node-red", "-o", str(tmp_path / "nr"), "--set", "SERIAL_SLOTS=2")
        compose = yaml.safe_load((tmp_path / "nr" / "compose.yaml").read_text())
        assert "/dev/ttyUSB1:/dev/ttyUSB1:rwm" in compose["services"]["node-red"]["devices"]
        template = json.loads((tmp_path / "nr" / "portainer-template.json").read_text())
        jsonschema.validate(template, PORTAINER_V3_SCHEMA)
        assert "/dev/ttyUSB1" in template["templates"][0]["note"]
    finally:
        cleanup(prefix)


def test_a_bad_board_description_is_a_400_naming_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WISGATE_API_TOKEN", raising=False)
    set_running_config(parse_config({"apps": {"board": str(tmp_path / "missing.toml")}}))
    supervisor = Supervisor(open_target("sim"))
    try:
        with TestClient(create_app(supervisor.context, ApiSection(token=SecretStr(TOKEN)))) as http:
            answer = http.get("/api/apps")
        assert answer.status_code == 400 and "missing.toml" in answer.json()["detail"]
    finally:
        set_running_config(None)
        supervisor.context.target.close()
