"""``wisgate run`` on the simulated board with ``[mqtt]``: Home Assistant finds the board and drives its fan."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiomqtt
from lora_rig import free_port
from test_mqtt_forwarder import Broker  # the real Mosquitto, started by the tests


def test_daemon_is_discovered_and_takes_a_fan_command(tmp_path: Path) -> None:
    (tmp_path / "broker").mkdir()
    broker = Broker(tmp_path / "broker").start()
    config = tmp_path / "wisgate.toml"
    config.write_text(f"""
[api]
enabled = false
[display]
png = "{tmp_path / 'oled.png'}"
[lora]
traffic_url = "tcp://127.0.0.1:{free_port()}"
[lora.sim]
devices = 20
[mqtt]
enabled = true
port = {broker.port}
interval_s = 0.2
""")
    latest: dict[str, bytes] = {}
    seen: dict[str, Any] = {}

    def config_of(topic_end: str) -> dict[str, Any] | None:
        found = [t for t in latest if t.startswith("homeassistant/") and t.endswith(topic_end) and latest[t]]
        return json.loads(latest[found[0]]) if found else None

    async def session() -> None:
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            await client.subscribe("homeassistant/#", qos=1)
            await client.subscribe("wisgate/#", qos=1)
            base = ""
            async for message in client.messages:
                latest[str(message.topic)] = bytes(message.payload)  # type: ignore[arg-type]
                cpu = config_of("/cpu_temperature/config")
                if not base and cpu is not None and config_of("/lora0_received/config") is not None:
                    seen["cpu"], seen["lora"] = cpu, config_of("/lora0_received/config")
                    base = cpu["state_topic"].removesuffix("/reading/cpu_temperature")
                    await client.publish(f"{base}/set/fan_duty", b"77", qos=1)
                fan = latest.get(f"{base}/state/fan")
                if base and fan and json.loads(fan)["mode"] == "manual":
                    seen["fan"] = json.loads(fan)
                    seen["reading"] = json.loads(latest[f"{base}/reading/cpu_temperature"])
                    return

    env = {**os.environ, "WISGATE_STATE_DIR": str(tmp_path / "state")}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "wisgate", "run", "--sim", "--plain", "--config", str(config), "--duration", "40"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        asyncio.run(asyncio.wait_for(session(), 30))
    finally:
        daemon.terminate()
        try:
            output = daemon.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            daemon.kill()
            output = "DAEMON DID NOT STOP ON SIGTERM\n" + daemon.communicate()[0]
    try:
        async def availability() -> bytes:
            async with aiomqtt.Client("127.0.0.1", broker.port) as client:
                await client.subscribe("wisgate/+/availability", qos=1)
                async for message in client.messages:
                    return bytes(message.payload)  # type: ignore[arg-type]
            return b""

        last_word = asyncio.run(asyncio.wait_for(availability(), 5))
    finally:
        broker.stop()
    assert "wisgate stopped" in output, output[-3000:]
    cpu, lora = seen["cpu"], seen["lora"]
    serial = cpu["device"]["serial_number"]
    assert cpu["unique_id"] == f"wisgate_{serial.lower()}_cpu_temperature"
    assert cpu["device_class"] == "temperature" and lora["device"]["via_device"] == f"wisgate_{serial.lower()}"
    assert seen["reading"]["ok"] is True and 0 < seen["reading"]["value"] < 100
    assert seen["fan"]["duty_percent"] == 77
    assert last_word == b"offline"
