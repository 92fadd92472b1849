"""The daemon's HTTP API and metrics over a board state filled by the real services on the simulated board."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from chirpstack_api import gw
from fastapi.testclient import TestClient
from lora_rig import data, event, free_port
from PIL import Image
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from tests.conftest import HardwareLikeTarget
from wisgate.api.http import create_app
from wisgate.api.models import StatusOut
from wisgate.api.service import _listen, api_service
from wisgate.chips.ssd1306 import SSD1306, render_text
from wisgate.clock import SimClock
from wisgate.config import ApiSection, parse_config
from wisgate.lora.core.gateway import Gateway
from wisgate.services.display import display_service
from wisgate.services.fan import FanCurve, fan_service
from wisgate.services.monitor import monitor_service
from wisgate.services.power import PowerSettings, power_service
from wisgate.services.readings import format_value
from wisgate.services.state import BoardState, FanOverride, OledOverride, Overrides, ServiceHealth
from wisgate.services.status import read_status
from wisgate.services.supervisor import Supervisor
from wisgate.sim.board import SimBoard
from wisgate.sim.chips.ssd1306 import SSD1306Model
from wisgate.sim.target import SimTarget
from wisgate.target import Target, open_target

TOKEN = "correct horse battery staple"
ROOT = Path(__file__).resolve().parent.parent


def run_for(supervisor: Supervisor, seconds: float) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, stop.set)
        await supervisor.run(stop)

    asyncio.run(main())


def lora_gateway() -> Gateway:
    """The gateway's own hot path fed by hand: one frame heard by boards 0 and 1, one bad CRC on board 1."""
    gateway = Gateway("aa555a0000000000", [], clock=SimClock())
    for board in (0, 1):
        gateway.pipeline.timebase(board)
    frame = data(0x26011234, 7)
    gateway.handle(event(0, frame, 1_000_000), 10.0)
    gateway.handle(event(1, frame, 5_000_000), 10.001)
    gateway.handle(event(1, data(0x26015678, 1), 6_000_000, freq=868_300_000, crc=gw.BAD_CRC), 10.5)
    gateway.emit_due(20.0)
    return gateway


@dataclass
class Board:
    target: Target
    supervisor: Supervisor

    @property
    def state(self) -> BoardState:
        return self.supervisor.state

    def client(self, token: str | None = None, **api: Any) -> TestClient:
        settings = ApiSection(token=None if token is None else SecretStr(token), **api)
        return TestClient(create_app(self.supervisor.context, settings, stale_after_s=3600))


@pytest.fixture(scope="module")
def board() -> Iterator[Board]:
    target = open_target("sim")
    supervisor = Supervisor(target)
    supervisor.add("monitor", monitor_service(0.05, skip=("power",)))
    supervisor.add("fan", fan_service(FanCurve(), 0.05))
    supervisor.add("power", power_service(PowerSettings()))
    run_for(supervisor, 0.3)
    # a service that failed twice and runs again: healthy now, its last failure kept
    supervisor.state.services["flaky"] = ServiceHealth("flaky", "running", 2, None, "OSError: bus gone", 1.0, 2.0)
    supervisor.state.lora.gateway = lora_gateway()
    yield Board(target, supervisor)
    target.close()


@pytest.fixture(autouse=True)
def no_env_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WISGATE_API_TOKEN", raising=False)


def test_status_has_the_readings_and_the_service_summaries(board: Board) -> None:
    body = board.client().get("/api/status").json()
    StatusOut.model_validate(body)  # the route writes its answer unchecked: it must be as its document says
    rows = {r["name"]: r for r in body["readings"]}
    climate = rows["pcb.temperature"]
    assert climate["ok"] and climate["unit"] == "°C" and climate["device"] == "temperature_sensor"
    assert climate["number"] == pytest.approx(float(climate["value"].removesuffix(" °C")), abs=0.05)
    assert climate["time"] > 0 and climate["stale"] is False
    assert rows["supply"]["value"] == "ok" and "number" not in rows["supply"]
    assert "number" not in rows["expander1.port0"]  # a bit pattern is not a quantity
    assert "number" not in rows["rtc.time"]
    fan = board.state.fan
    assert fan is not None and body["fan"]["duty_percent"] == fan.duty_percent and body["fan"]["mode"] == "curve"
    assert body["fan"]["age_s"] >= 0
    assert body["power"]["supply"] == "ok" and body["power"]["losses"] == 0
    assert body["lora"]["gateway_id"] == "aa555a0000000000" and body["lora"]["uplinks"] == 1
    assert body["lora"]["modules"]["0"]["forwarded"] == 1
    assert body["lora"]["modules"]["1"]["received"] == 2 and body["lora"]["modules"]["1"]["duplicates"] == 1
    assert body["overrides"] == {"fan": None, "oled": None}


def test_lora_stats_per_module_and_channel(board: Board) -> None:
    body = board.client().get("/api/lora/stats").json()
    modules = {m["board"]: m for m in body["modules"]}
    assert set(modules) == {0, 1}
    channels = {c["frequency_hz"]: c for c in modules[1]["channels"]}
    assert channels[868_100_000]["duplicates"] == 1 and channels[868_100_000]["crc_ok"] == 1
    assert channels[868_300_000]["crc_bad"] == 1 and sum(channels[868_300_000]["dropped"].values()) == 1
    assert modules[0]["total"]["airtime_s"] > 0 and modules[1]["total"]["received"] == 2


def test_lora_stats_without_a_gateway_is_empty() -> None:
    target = open_target("sim")
    supervisor = Supervisor(target)
    client = TestClient(create_app(supervisor.context, ApiSection()))
    assert client.get("/api/lora/stats").json() == {"gateway_id": None, "uplinks": 0, "modules": []}
    assert client.get("/api/status").json()["lora"] is None
    supervisor.context.bus.close()


def test_health_lists_the_supervisor_services(board: Board) -> None:
    body = board.client().get("/api/health").json()
    services = {s["name"]: s for s in body["services"]}
    assert list(services) == ["monitor", "fan", "power", "flaky"]
    assert services["fan"]["restarts"] == 0 and services["fan"]["last_error"] is None
    assert services["flaky"]["restarts"] == 2 and services["flaky"]["last_error"] == "OSError: bus gone"
    # health is the state now: a service that recovered is ok, its last failure kept as history
    assert services["flaky"]["ok"] is True and services["flaky"]["error"] is None
    assert body["ok"] is True
    board.state.services["flaky"] = ServiceHealth("flaky", "failed", 3, "OSError: bus gone", "OSError: bus gone",
                                                  3.0, 3.0)
    failing = board.client().get("/api/health").json()
    assert failing["ok"] is False
    board.state.services["flaky"] = ServiceHealth("flaky", "running", 2, None, "OSError: bus gone", 1.0, 2.0)
    # a LoRa module whose Concentratord never answers makes the daemon unhealthy, naming the board
    gateway, before = lora_gateway(), board.state.lora.gateway
    gateway.module_problems[1] = "module does not answer: board 1: no answer from ipc:///x within 1.0 s"
    board.state.lora.gateway = gateway
    try:
        silent = board.client().get("/api/health").json()
        assert silent["ok"] is False and silent["lora_modules"] == [
            {"board": 1, "problem": "module does not answer: board 1: no answer from ipc:///x within 1.0 s"}]
    finally:
        board.state.lora.gateway = before


def test_state_changes_need_the_token(board: Board, monkeypatch: pytest.MonkeyPatch) -> None:
    off = board.client().post("/api/fan", json={"duty": 40})
    assert off.status_code == 403 and "WISGATE_API_TOKEN" in off.json()["detail"]
    assert board.client().post("/api/oled", json={"lines": ["hi"]}).status_code == 403
    client = board.client(TOKEN)
    missing = client.post("/api/fan", json={"duty": 40})
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    wrong = client.post("/api/fan", json={"duty": 40}, headers={"Authorization": "Bearer " + TOKEN[:-1]})
    assert wrong.status_code == 401
    basic = client.post("/api/fan", json={"duty": 40}, headers={"Authorization": "Basic " + TOKEN})
    assert basic.status_code == 401
    assert board.state.overrides.fan is None
    right = client.post("/api/fan", json={"duty": 40, "seconds": 5}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200 and right.json() == {"duty": 40.0, "seconds": 5.0}
    override = board.state.overrides.fan
    board.state.overrides.fan = None
    assert isinstance(override, FanOverride) and override.duty == 40
    assert override.until == pytest.approx(board.target.clock.monotonic() + 5, abs=0.1)
    # the environment's token wins over the file's
    monkeypatch.setenv("WISGATE_API_TOKEN", "from-env")
    client = board.client(TOKEN)
    assert client.post("/api/fan", json={"duty": 1}, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 401
    assert client.post("/api/fan", json={"duty": 1}, headers={"Authorization": "Bearer from-env"}).status_code == 200
    board.state.overrides.fan = None
    # reading stays open
    assert client.get("/api/status").status_code == 200 and client.get("/metrics").status_code == 200


def test_bodies_are_validated(board: Board) -> None:
    client = board.client(TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for body in ({"duty": 150}, {"duty": -1}, {}, {"duty": 50, "seconds": 0}, {"duty": 50, "rpm": 3}):
        response = client.post("/api/fan", json=body, headers=auth)
        assert response.status_code == 422, body
    assert client.post("/api/fan", json={"duty": 150}, headers=auth).json()["detail"][0]["loc"] == ["body", "duty"]
    bad_texts: list[dict[str, Any]] = [{"lines": []}, {"lines": ["x"] * 6}, {"lines": ["x" * 22]}, {"text": "x"}]
    for text in bad_texts:
        assert client.post("/api/oled", json=text, headers=auth).status_code == 422, text
    assert board.state.overrides.fan is None and board.state.overrides.oled is None


def test_overrides_expire_on_the_target_clock() -> None:
    clock = SimClock()
    overrides = Overrides(fan=FanOverride(70, clock.monotonic() + 60), oled=OledOverride(("hi",), 30))
    assert overrides.fan_duty(clock.monotonic()) == 70 and overrides.oled_lines(clock.monotonic()) == ["hi"]
    clock.sleep(60)
    assert overrides.fan_duty(clock.monotonic()) is None and overrides.fan is None
    assert overrides.oled_lines(clock.monotonic()) is None


def test_the_fan_service_drives_the_posted_duty() -> None:
    target = open_target("sim")
    supervisor = Supervisor(target)
    supervisor.add("fan", fan_service(FanCurve(), 0.05))
    client = TestClient(create_app(supervisor.context, ApiSection(token=SecretStr(TOKEN))))
    assert client.post("/api/fan", json={"duty": 65}, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    run_for(supervisor, 0.3)
    fan = supervisor.state.fan
    assert fan is not None and fan.duty_percent == 65 and fan.manual
    target.clock.sleep(1.0)  # the chip ramps its drive toward the written duty
    rows = {row.name: row for row in read_status(target)}
    assert format_value(rows["fan.duty"]) == "65 %"  # what the chip itself reports
    target.close()


def test_posted_text_reaches_the_simulated_panel() -> None:
    target = open_target("sim")
    assert isinstance(target, SimTarget)
    model = target.board.models["oled"]
    assert isinstance(model, SSD1306Model)
    supervisor = Supervisor(target)
    supervisor.add("display", display_service(0.05))
    client = TestClient(create_app(supervisor.context, ApiSection(token=SecretStr(TOKEN))))
    lines = ["maintenance", "back at 14:00"]
    response = client.post("/api/oled", json={"lines": lines}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200 and response.json()["seconds"] == 60
    status = client.get("/api/status").json()
    assert status["overrides"]["oled"]["lines"] == lines
    StatusOut.model_validate(status)
    shown: list[bool] = []

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        expected = render_text(lines)
        loop.call_later(0.3, lambda: shown.append(model.ram_frame() == expected))
        loop.call_later(0.4, stop.set)
        await supervisor.run(stop)

    asyncio.run(main())
    assert shown == [True]
    target.close()


def oled_png(client: TestClient) -> bytes:
    response = client.get("/api/oled.png")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png" and response.headers["cache-control"] == "no-store"
    with Image.open(io.BytesIO(response.content)) as image:
        assert (image.size, image.mode) == ((128, 64), "1")
        return image.tobytes()


def test_the_oled_picture_is_the_simulated_glass_else_the_frame_the_display_sent() -> None:
    target = open_target("sim")
    assert isinstance(target, SimTarget)
    model = target.board.models["oled"]
    assert isinstance(model, SSD1306Model)
    client = TestClient(create_app(Supervisor(target).context, ApiSection()))
    oled = SSD1306(target.bus, target.addresses["oled"], clock=target.clock)
    oled.init(render_text(["on the glass"]))
    oled.invert()  # the glass shows it inverted; the picture is the glass
    assert oled_png(client) == model.image().tobytes() != render_text(["on the glass"]).image().tobytes()
    target.close()

    hardware = HardwareLikeTarget(SimBoard())  # a panel that cannot be read back
    supervisor = Supervisor(hardware)
    client = TestClient(create_app(supervisor.context, ApiSection()))
    assert client.get("/api/oled.png").status_code == 404
    supervisor.state.display_image = render_text(["sent"])
    assert oled_png(client) == render_text(["sent"]).image().tobytes()
    hardware.close()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text) for s in family.samples
    }


def test_metrics_come_from_the_state(board: Board) -> None:
    response = board.client().get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    values = samples(response.text)
    climate = board.state.value("pcb.temperature")
    key = (("device", "temperature_sensor"), ("name", "pcb.temperature"), ("unit", "celsius"))
    assert values[("wisgate_reading", key)] == climate  # the number itself, never parsed back from text
    fan = board.state.fan
    assert fan is not None
    assert values[("wisgate_fan_duty_percent", ())] == fan.duty_percent
    assert values[("wisgate_fan_rpm", ())] == pytest.approx(fan.rpm)
    assert values[("wisgate_cpu_temperature_celsius", ())] == pytest.approx(fan.cpu_c)
    assert values[("wisgate_supply_ok", ())] == 1.0
    assert values[("wisgate_probe_ok", (("device", "secure_element"),))] == 1.0
    assert values[("wisgate_lora_received_total", (("board", "1"),))] == 2
    assert values[("wisgate_lora_duplicates_total", (("board", "1"),))] == 1
    assert values[("wisgate_lora_forwarded_total", (("board", "0"),))] == 1
    assert values[("wisgate_lora_uplinks_total", ())] == 1
    assert sum(v for (name, labels), v in values.items() if name == "wisgate_lora_dropped_total") == 1
    assert values[("wisgate_service_restarts_total", (("service", "flaky"),))] == 2
    assert not any(name == "wisgate_reading" and ("name", "rtc.time") in labels for name, labels in values)
    assert b"wisgate_" not in generate_latest(REGISTRY)  # every app has its own registry


def test_concurrent_scrapes_share_a_body_no_older_than_metrics_max_age_s(board: Board) -> None:
    fan = board.state.fan
    assert fan is not None
    held, fresh = board.client(metrics_max_age_s=10.0), board.client(metrics_max_age_s=0.2)
    duty = ("wisgate_fan_duty_percent", ())
    before = samples(held.get("/metrics").text)[duty]
    assert samples(fresh.get("/metrics").text)[duty] == before
    board.state.fan = replace(fan, duty_percent=before + 11)
    try:
        assert samples(held.get("/metrics").text)[duty] == before  # within its 10 s: the shared body
        time.sleep(0.25)
        assert samples(fresh.get("/metrics").text)[duty] == before + 11  # past its 0.2 s: the state now
        assert samples(board.client(metrics_max_age_s=0.0).get("/metrics").text)[duty] == before + 11
    finally:
        board.state.fan = fan


def test_openapi_documents_the_endpoints_and_the_bearer_scheme(board: Board) -> None:
    schema = board.client().get("/openapi.json").json()
    paths = {"/api/status", "/api/lora/stats", "/api/health", "/api/oled", "/api/fan", "/metrics"}
    assert paths <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert schema["paths"]["/api/fan"]["post"]["security"] == [{"HTTPBearer": []}]
    assert board.client().get("/docs").status_code == 200


def test_a_busy_port_is_an_os_error_naming_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=rf"HTTP API cannot listen on 127\.0\.0\.1:{port}"):
            _listen("127.0.0.1", port)


def test_the_service_serves_on_the_daemon_loop_and_leaves_the_signals_alone() -> None:
    port = free_port()
    target = open_target("sim")
    supervisor = Supervisor(target)
    supervisor.add("monitor", monitor_service(0.05))
    supervisor.add("api", api_service(ApiSection(port=port)))
    seen: dict[str, Any] = {}

    async def main() -> None:
        seen["before"] = signal.getsignal(signal.SIGINT)  # asyncio.run's own
        stop = asyncio.Event()
        runner = asyncio.create_task(supervisor.run(stop))
        seen["health"] = await asyncio.get_running_loop().run_in_executor(
            None, lambda: wait_for(lambda: http("GET", f"http://127.0.0.1:{port}/api/health")[1], 5))
        seen["handler"] = signal.getsignal(signal.SIGINT)
        stop.set()
        await asyncio.wait_for(runner, 5)

    asyncio.run(main())
    assert [s["name"] for s in seen["health"]["services"]] == ["monitor", "api"]
    assert seen["handler"] is seen["before"]  # uvicorn did not take SIGINT from the daemon
    with pytest.raises(ConnectionRefusedError):  # the listening socket is closed once the service is cancelled
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert all(s.restarts == 0 for s in supervisor.services)
    target.close()


def test_a_uvicorn_exit_is_a_service_error_not_the_daemon_s_end(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    async def exits(self: uvicorn.Server, sockets: Any = None) -> None:
        raise SystemExit(3)

    monkeypatch.setattr(uvicorn.Server, "serve", exits)
    supervisor = Supervisor(open_target("sim"))
    supervisor.add("api", api_service(ApiSection(port=free_port())))
    run_for(supervisor, 0.2)
    assert supervisor.services[0].last_error == "RuntimeError: HTTP API server did not start (uvicorn exit status 3)"
    assert supervisor.state.services["api"].state == "failed"


def test_the_docs_config_example_loads() -> None:
    text = (ROOT / "docs/api.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", text, flags=re.S)
    assert blocks
    for block in blocks:
        parse_config(tomllib.loads(block), source="docs/api.md")


def http(method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data_ = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data_, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_for(check: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        try:
            result = check()
        except OSError:
            result = None
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def test_wisgate_run_serves_the_api(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "wisgate.toml"
    config.write_text(f"""
[monitor]
interval_s = 0.2
[fan]
interval_s = 0.2
[display]
enabled = false
[lora]
enabled = false
[api]
port = {port}
""")
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "WISGATE_API_TOKEN": TOKEN}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "wisgate", "run", "--sim", "--config", str(config), "--duration", "30"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        def readings() -> Any:
            status = http("GET", f"{base}/api/status")[1]
            return status if status["readings"] and status["fan"] else None

        status = wait_for(readings, 15)
        assert status, "no readings from /api/status"
        assert any(r["label"] == "PCB temperature" and r["ok"] for r in status["readings"])
        assert http("POST", f"{base}/api/fan", {"duty": 88})[0] == 401
        assert http("POST", f"{base}/api/fan", {"duty": 88}, token=TOKEN) == (200, {"duty": 88.0, "seconds": 60.0})

        def driven() -> Any:
            status = http("GET", f"{base}/api/status")[1]
            rows = {r["label"]: r["value"] for r in status["readings"]}
            return status if status["fan"]["duty_percent"] == 88 and rows.get("fan duty") == "88 %" else None

        status = wait_for(driven, 5)
        assert status, "the posted duty never reached the fan"
        assert status["fan"]["mode"] == "manual" and status["overrides"]["fan"]["duty"] == 88
    finally:
        daemon.terminate()
        output = daemon.communicate(timeout=20)[0]
    assert daemon.returncode == 0, output
    assert "wisgate stopped" in output and f"HTTP API on http://127.0.0.1:{port}" in output
    assert f"dashboard: http://127.0.0.1:{port}/" in output  # the README's first command prints it
    assert TOKEN not in output  # never logged
