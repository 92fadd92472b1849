"""The forwarders' own counters (link health, unprotected sends, store errors, queue, bad datagrams) in the API."""

from __future__ import annotations

import socket
from pathlib import Path

from fastapi.testclient import TestClient
from lora_rig import free_port
from prometheus_client.parser import text_string_to_metric_families
from test_udp_forwarder import feed, make_rig, run, server, start_peer, until

from wisgate.api.backhaul import problems
from wisgate.api.http import create_app
from wisgate.config import ApiSection
from wisgate.lora.backhaul import gwmp
from wisgate.lora.backhaul.mqtt_forwarder import MqttForwarder, MqttSettings
from wisgate.lora.backhaul.station import StationForwarder
from wisgate.lora.backhaul.station_settings import StationSettings
from wisgate.lora.backhaul.udp_forwarder import UdpForwarder
from wisgate.lora.backhaul.uplink_queue import MemoryStore, UplinkQueue
from wisgate.services.supervisor import Supervisor
from wisgate.target import open_target


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text) for s in family.samples
    }


def test_backhaul_counters_in_the_api_and_metrics(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, modules=False)
    supervisor = Supervisor(open_target("sim"))
    state = supervisor.context.state
    (tmp_path / "blocked").write_text("a file where the store's directory should be")

    async def main() -> None:
        peer = await start_peer()
        servers = [server("ns", peer), server("broken", peer, store_path=tmp_path / "blocked" / "s.db")]
        async with UdpForwarder(rig.gateway, servers, wall=rig.wall, clock=rig.clock) as forwarder:
            links = forwarder.links
            await feed(forwarder, rig.clock, 0, 10)
            await until(lambda: all(link.stats.uplinks_acked == 10 for link in links.values()))
            assert links["ns"].sock is not None
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
                stranger.sendto(gwmp.encode(gwmp.PushAck(1)), links["ns"].sock.getsockname()[:2])
            await until(lambda: links["ns"].stats.bad_datagrams["unknown-address"] == 1)
            state.lora.udp = forwarder
            state.lora.mqtt = MqttForwarder(rig.gateway, MqttSettings(port=free_port()),
                                               UplinkQueue(MemoryStore(), server="mqtt"))
            state.lora.station = StationForwarder(rig.gateway, StationSettings(uri=f"ws://127.0.0.1:{free_port()}"),
                                                  MemoryStore())
            client = TestClient(create_app(supervisor.context, ApiSection()))
            body = client.get("/api/lora/backhaul").json()
            metrics = samples(client.get("/metrics").text)
            assert list(problems(state)) == ["udp/broken"]
            health = client.get("/api/health").json()
            assert list(health["backhaul"]) == ["udp/broken"] and "s.db" in health["backhaul"]["udp/broken"]
        ns, broken = body["udp"]["ns"], body["udp"]["broken"]
        assert ns["ok"] is True and ns["problem"] is None and ns["unprotected"] == 0
        assert ns["bad_datagrams"] == {"unknown-address": 1} and ns["queued"] == 0
        assert broken["ok"] is False and "s.db" in broken["problem"] and "memory" in broken["problem"]
        assert broken["unprotected"] == 10 and broken["store_errors"] >= 1 and broken["queued"] == 0
        assert body["mqtt"]["ok"] is True and body["mqtt"]["connected"] is False
        station = body["station"]
        assert station["ok"] is True and station["connected"] is False and station["queued"] == 0
        assert station["muxs"] == "" and station["timesync"] is False and station["lost"] == 0
        assert metrics[("wisgate_backhaul_ok", (("backhaul", "station"), ("server", "station")))] == 1.0
        udp = (("backhaul", "udp"), ("server", "broken"))
        assert metrics[("wisgate_backhaul_ok", udp)] == 0.0
        assert metrics[("wisgate_backhaul_unprotected_total", udp)] == 10.0
        assert metrics[("wisgate_backhaul_store_errors_total", udp)] >= 1.0
        assert metrics[("wisgate_backhaul_ok", (("backhaul", "udp"), ("server", "ns")))] == 1.0
        assert metrics[("wisgate_backhaul_bad_datagrams_total",
                        (("backhaul", "udp"), ("reason", "unknown-address"), ("server", "ns")))] == 1.0
        assert metrics[("wisgate_backhaul_queued", (("backhaul", "mqtt"), ("server", "mqtt")))] == 0.0

    try:
        run(main())
    finally:
        rig.close()
        supervisor.context.bus.close()


def test_no_forwarder_no_backhaul() -> None:
    supervisor = Supervisor(open_target("sim"))
    client = TestClient(create_app(supervisor.context, ApiSection()))
    assert client.get("/api/lora/backhaul").json() == {"udp": {}, "mqtt": None, "station": None}
    assert "wisgate_backhaul_ok{" not in client.get("/metrics").text
    supervisor.context.bus.close()
