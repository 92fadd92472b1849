"""``wisgate run`` end to end: simulated site → one gateway → a Semtech UDP server and a Mosquitto broker."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import aiomqtt
from chirpstack_api import gw
from lora_rig import free_port
from test_mqtt_forwarder import Broker  # the real Mosquitto, started by the tests

GATEWAY_ID = "0016c001ff1a7391"


class NetworkServer(threading.Thread):
    """A minimal GWMP server: ACKs every PUSH_DATA and PULL_DATA, keeps the rxpk objects."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.rxpk: list[dict[str, object]] = []
        self.pulls = 0
        self.eui = b""
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            version, token, kind = data[0], data[1:3], data[3]
            if kind == 0x00:  # PUSH_DATA
                self.eui = data[4:12]
                self.rxpk += json.loads(data[12:]).get("rxpk", [])
                self.sock.sendto(bytes([version]) + token + b"\x01", peer)
            elif kind == 0x02:  # PULL_DATA
                self.pulls += 1
                self.sock.sendto(bytes([version]) + token + b"\x04", peer)


def test_daemon_forwards_to_udp_and_mqtt(tmp_path: Path) -> None:
    (tmp_path / "broker").mkdir()
    broker = Broker(tmp_path / "broker").start()
    server = NetworkServer()
    server.start()
    config = tmp_path / "wisgate.toml"
    config.write_text(f"""
[display]
enabled = false
[api]
enabled = false
[lora]
traffic_url = "tcp://127.0.0.1:{free_port()}"
store_dir = "{tmp_path / 'store'}"
[lora.sim]
devices = 300
mean_interval_s = 3
[[lora.udp]]
name = "ns"
host = "127.0.0.1"
port_up = {server.port}
port_down = {server.port}
keepalive_s = 1
[lora.mqtt]
enabled = true
port = {broker.port}
""")
    mqtt_up: list[gw.UplinkFrame] = []

    async def listen() -> None:
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            await client.subscribe(f"gateway/{GATEWAY_ID}/event/up", qos=1)
            async for message in client.messages:
                frame = gw.UplinkFrame()
                frame.ParseFromString(bytes(message.payload))  # type: ignore[arg-type]
                mqtt_up.append(frame)
                if len(mqtt_up) >= 3:
                    return

    daemon = subprocess.Popen(
        [sys.executable, "-m", "wisgate", "run", "--sim", "--config", str(config), "--duration", "40"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        asyncio.run(asyncio.wait_for(listen(), 30))
        deadline = time.monotonic() + 20
        while (len(server.rxpk) < 3 or server.pulls < 2) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        daemon.terminate()
        try:
            output = daemon.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            daemon.kill()
            output = "DAEMON DID NOT STOP ON SIGTERM\n" + daemon.communicate()[0]
        server.stop.set()
        broker.stop()
    assert "wisgate stopped" in output, output
    assert server.eui == bytes.fromhex(GATEWAY_ID)
    assert len(server.rxpk) >= 3 and server.pulls >= 2, output[-3000:]
    for rxpk in server.rxpk[:3]:
        assert {"tmst", "freq", "datr", "rssi", "lsnr", "size", "data"} <= set(rxpk)
    assert len(mqtt_up) >= 3
    assert all(f.rx_info.gateway_id == GATEWAY_ID and len(f.rx_info.context) == 4 for f in mqtt_up)
    assert (tmp_path / "store" / "udp-ns.sqlite").exists() and (tmp_path / "store" / "mqtt.sqlite").exists()
