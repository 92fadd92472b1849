"""The API's history, events, live streams, LoRa traffic, controls and offline docs, against the whole
daemon running on a real-time simulated board and served over loopback."""

from __future__ import annotations

import asyncio
import struct
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from daemon_rig import LiveDaemon, SseReader
from prometheus_client.parser import text_string_to_metric_families

from wisgate.api.models import StatusOut
from wisgate.lora.core.types import LoraModulation, TxClass, TxRequest
from wisgate.lora.frames.crypto import build_data_frame
from wisgate.lora.frames.phy import MType
from wisgate.sim.chips.ssd1306 import SSD1306Model

TOKEN = "live-token-0123456789"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDaemon]:
    live = LiveDaemon(tmp_path_factory.mktemp("daemon"), token=TOKEN, devices=30, interval_s=1.0)
    yield live
    live.stop()


def wait_for(check: Any, timeout: float = 10, step: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(step)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_history_of_a_reading_in_columns(daemon: LiveDaemon) -> None:
    assert wait_for(lambda: daemon.request("GET", "/api/status")[1]["fan"], 10)
    daemon.on_loop(daemon.history.flush)  # the open 10 s bucket, as a shutdown would write it
    status, body = daemon.request("GET", "/api/history/cpu.temperature?since=-600")
    assert status == 200, body
    assert body["step_s"] == 10 and body["unit"] == "°C"
    assert len(body["t"]) == len(body["mean"]) == len(body["min"]) == len(body["max"]) >= 1
    assert all(lo <= mean <= hi for lo, mean, hi in zip(body["min"], body["mean"], body["max"], strict=True))
    cpu = daemon.request("GET", "/api/status")[1]
    assert 20 < body["mean"][-1] < 90 and cpu["fan"]["cpu_c"] == pytest.approx(body["mean"][-1], abs=5)
    names = daemon.request("GET", "/api/history")[1]["names"]
    assert "cpu.temperature" in names and "fan.rpm" in names
    assert daemon.request("GET", "/api/history/cpu.temperature?step=60&since=-600")[1]["step_s"] == 60
    missing = daemon.request("GET", "/api/history/no.such.reading")
    assert missing[0] == 404 and "no.such.reading" in missing[1]["detail"]
    assert daemon.request("GET", "/api/history/cpu.temperature?step=7")[0] == 422


def test_events_are_paged_from_the_history(daemon: LiveDaemon) -> None:
    for n in range(5):
        status, _ = daemon.request("POST", "/api/oled", {"lines": [f"page {n}"], "seconds": 1}, token=TOKEN)
        assert status == 200
    first = daemon.request("GET", "/api/events?limit=2")[1]
    assert first["source"] == "history" and len(first["events"]) == 2 and first["more"] is True
    seen = [e["seq"] for e in first["events"]]
    after = first["next"]
    while True:
        page = daemon.request("GET", f"/api/events?after={after}&limit=2")[1]
        seen += [e["seq"] for e in page["events"]]
        after = page["next"]
        if not page["more"]:
            break
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    messages = [e["message"] for e in daemon.request("GET", "/api/events?limit=1000")[1]["events"]]
    assert sum("OLED text set" in m for m in messages) >= 5


def test_event_stream_is_live_and_resumes_from_last_event_id(daemon: LiveDaemon) -> None:
    reader = SseReader(daemon.port, "/api/events/stream")
    try:
        daemon.request("POST", "/api/oled", {"lines": ["one"], "seconds": 1}, token=TOKEN)
        one = reader.until(lambda e: e.event == "event" and "OLED" in e.data["message"])
        assert one.id is not None and one.id.endswith(f".{one.data['seq']}")
    finally:
        reader.close()
    # two events while the client is away; it comes back with the last id it saw
    daemon.request("POST", "/api/fan", {"duty": 40, "seconds": 1}, token=TOKEN)
    daemon.request("POST", "/api/oled", {"lines": ["two"], "seconds": 1}, token=TOKEN)
    resumed = SseReader(daemon.port, "/api/events/stream", headers={"Last-Event-ID": one.id})
    try:
        replayed = [resumed.until(lambda e: e.event == "event") for _ in range(2)]
        assert [e.data["seq"] for e in replayed] == [one.data["seq"] + 1, one.data["seq"] + 2]
        assert "fan duty 40" in replayed[0].data["message"] and "OLED" in replayed[1].data["message"]
    finally:
        resumed.close()
    # an id from another run (the daemon restarted): every recent event of this run is sent
    other = SseReader(daemon.port, "/api/events/stream", headers={"Last-Event-ID": "0badc0de.99999"})
    try:
        assert other.until(lambda e: e.event == "event").data["seq"] == daemon.supervisor.state.events.recent[0].seq
    finally:
        other.close()


def test_status_stream_shows_a_supply_cut_at_once(daemon: LiveDaemon) -> None:
    reader = SseReader(daemon.port, "/api/status/stream")
    try:
        first = reader.until(lambda e: e.event == "status" and e.data["power"] is not None)
        assert first.data["power"]["supply"] == "ok"
        cut = time.monotonic()
        daemon.cut_supply()
        lost = reader.until(lambda e: e.event == "status" and e.data["power"]["supply"] == "lost", timeout=5)
        assert time.monotonic() - cut < 0.8, "the status stream waited for its period instead of the event"
        assert lost.data["power"]["since"] is not None
        StatusOut.model_validate(lost.data)  # as the document says, with an outage running
    finally:
        daemon.restore_supply()
        reader.close()
    assert wait_for(lambda: daemon.request("GET", "/api/status")[1]["power"]["supply"] == "ok", 5)


def test_lora_packets_stream_and_traffic(daemon: LiveDaemon) -> None:
    reader = SseReader(daemon.port, "/api/lora/stream")
    try:
        packets = [reader.until(lambda e: e.event == "uplink", timeout=15) for _ in range(3)]
    finally:
        reader.close()
    for packet in packets:
        record = packet.data
        assert record["receptions"] and record["mtype"] in ("UNCONFIRMED_DATA_UP", "CONFIRMED_DATA_UP",
                                                            "JOIN_REQUEST")
        assert record["time"] == pytest.approx(time.time(), abs=30)
        assert record.get("dev_addr") or record.get("dev_eui")
    recent = daemon.request("GET", "/api/lora/packets?limit=500")[1]
    assert {p["phy_payload"] for p in (e.data for e in packets)} <= {r["phy_payload"] for r in recent}
    traffic = daemon.request("GET", "/api/lora/traffic")[1]
    assert len(traffic["minutes"]) == 60 and sum(traffic["uplinks"]) >= 3
    receptions = sum(sum(series) for m in traffic["modules"].values() for series in m["datarates"].values())
    assert receptions == sum(sum(c["counts"]) for c in traffic["channels"]) == sum(traffic["rssi"]["counts"])
    assert receptions >= sum(traffic["uplinks"])  # a packet heard by two modules counts on both
    assert all(rate.startswith("SF") for m in traffic["modules"].values() for rate in m["datarates"])
    assert traffic["active_devices"] >= 1 and traffic["devices"][0]["uplinks"] >= 1
    # the per-channel statistics carry the data rates too
    stats = daemon.request("GET", "/api/lora/stats")[1]
    assert any(c["received"] for m in stats["modules"] for c in m["channels"])


def test_metrics_per_channel_and_data_rate_with_the_gateway_label(daemon: LiveDaemon) -> None:
    assert wait_for(lambda: daemon.supervisor.state.lora.traffic.uplinks > 0, 15)
    text = daemon.request("GET", "/metrics")[1].decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    gateway = daemon.config.lora.gateway_id
    assert all(s.labels["gateway"] == gateway for f in families.values() for s in f.samples)
    rates = families["wisgate_lora_datarate_received"].samples
    assert rates and all({"board", "frequency_hz", "datarate"} <= set(s.labels) for s in rates)
    by_channel = {(s.labels["board"], s.labels["frequency_hz"]): s.value
                  for s in families["wisgate_lora_channel_received"].samples}
    summed: dict[tuple[str, str], float] = {}
    for s in rates:
        key = (s.labels["board"], s.labels["frequency_hz"])
        summed[key] = summed.get(key, 0) + s.value
    assert summed == pytest.approx(by_channel)


def test_oled_picture_and_text_control(daemon: LiveDaemon) -> None:
    status, png = daemon.request("GET", "/api/oled.png")
    assert status == 200 and png_size(png) == (128, 64)
    assert daemon.request("POST", "/api/oled", {"lines": ["HELLO WEB"], "seconds": 30}, token=TOKEN)[0] == 200

    def shown() -> bool:
        model = daemon.target.board.models["oled"]
        assert isinstance(model, SSD1306Model)
        return daemon.request("GET", "/api/oled.png")[1] != png

    assert wait_for(shown, 5), "the posted text never reached the panel's picture"


def test_leds_and_expander_pins_go_through_the_bus(daemon: LiveDaemon) -> None:
    assert daemon.request("POST", "/api/leds/6", {"on": True})[0] == 401
    status, body = daemon.request("POST", "/api/leds/6", {"on": True}, token=TOKEN)
    assert status == 200 and body == {"led": "LED IO0_6", "on": True}
    assert daemon.on_board(daemon.target.board.loads.leds)["LED IO0_6"] is True
    daemon.request("POST", "/api/leds/6", {"on": False}, token=TOKEN)
    assert daemon.on_board(daemon.target.board.loads.leds)["LED IO0_6"] is False
    assert daemon.request("POST", "/api/leds/5", {"on": True}, token=TOKEN)[0] == 422
    status, body = daemon.request("POST", "/api/gpio/expander2/3", {"level": True}, token=TOKEN)
    assert status == 200 and body["level"] is True
    model = daemon.target.board.models["expander2"]
    assert daemon.on_board(lambda: model.level(3)) is True  # type: ignore[attr-defined]
    assert daemon.request("POST", "/api/gpio/expander3/3", {"level": True}, token=TOKEN)[0] == 422
    assert daemon.request("POST", "/api/gpio/expander2/16", {"level": True}, token=TOKEN)[0] == 422


def test_rtc_wake_alarm(daemon: LiveDaemon) -> None:
    at = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    status, body = daemon.request("POST", "/api/rtc/alarm", {"at": at.isoformat()}, token=TOKEN)
    assert status == 200 and body["at"] == at.isoformat()
    rtc = daemon.on_board(daemon.target.rtc)
    alarm = daemon.on_board(rtc.alarm)  # type: ignore[union-attr]
    assert (alarm.day, alarm.hour, alarm.minute, alarm.second) == (at.day, at.hour, at.minute, at.second)
    assert daemon.request("GET", "/api/status")[1]["rtc"]["wake_alarm"] == at.timestamp()
    far = daemon.request("POST", "/api/rtc/alarm", {"at": (at + timedelta(days=40)).isoformat()}, token=TOKEN)
    assert far[0] == 422 and "28 days" in far[1]["detail"][0]["msg"]
    naive = daemon.request("POST", "/api/rtc/alarm", {"at": "2030-01-01T00:00:00"}, token=TOKEN)
    assert naive[0] == 422
    assert daemon.request("DELETE", "/api/rtc/alarm", token=TOKEN)[0] == 200
    assert not daemon.on_board(rtc.alarm).enabled  # type: ignore[union-attr]


def test_buzzer_beep_is_played_by_the_buzzer_service(daemon: LiveDaemon) -> None:
    line = daemon.target.board.buzzer_line
    edges_before = len(line.history)  # type: ignore[attr-defined]
    status, _ = daemon.request("POST", "/api/buzzer", {"frequency_hz": 1000, "duration_s": 0.05}, token=TOKEN)
    assert status == 200
    assert wait_for(lambda: len(line.history) >= edges_before + 90, 5)  # type: ignore[attr-defined]


def test_fan_holds_a_target_temperature(daemon: LiveDaemon) -> None:
    cpu = daemon.request("GET", "/api/status")[1]["fan"]["cpu_c"]
    status, body = daemon.request("POST", "/api/fan", {"target_c": 30, "seconds": 30}, token=TOKEN)
    assert status == 200 and body == {"target_c": 30.0, "seconds": 30.0}

    def held() -> Any:
        fan = daemon.request("GET", "/api/status")[1]["fan"]
        return fan if fan["mode"] == "closed-loop" and fan["target_c"] == 30 and fan["duty_percent"] > 0 else None

    fan = wait_for(held, 5)
    # a PI loop toward 30 °C with the CPU well above it: most of the airflow at once
    assert fan and fan["target_c"] == 30 and cpu > 35 and fan["duty_percent"] >= 60
    StatusOut.model_validate(daemon.request("GET", "/api/status")[1])  # as documented, with the override held
    assert daemon.request("POST", "/api/fan", {"target_c": 30, "duty": 10}, token=TOKEN)[0] == 422
    assert daemon.request("DELETE", "/api/fan", token=TOKEN)[0] == 200
    def released() -> bool:
        status = daemon.request("GET", "/api/status")[1]
        return status["overrides"]["fan"] is None and status["fan"]["target_c"] is None

    assert wait_for(released, 5)


def test_docs_work_offline(daemon: LiveDaemon) -> None:
    status, page = daemon.request("GET", "/docs")
    assert status == 200
    html = page.decode()
    assert "/docs-assets/swagger-ui-bundle.js" in html and "cdn" not in html.lower()
    status, script = daemon.request("GET", "/docs-assets/swagger-ui-bundle.js")
    assert status == 200 and len(script) > 500_000
    schema = daemon.request("GET", "/openapi.json")[1]
    for path in ("/api/history/{name}", "/api/events/stream", "/api/lora/stream", "/api/leds/{pin}",
                 "/api/rtc/alarm", "/api/buzzer", "/api/gpio/{expander}/{pin}", "/api/oled.png"):
        assert path in schema["paths"], path
    assert "text/event-stream" in schema["paths"]["/api/events/stream"]["get"]["responses"]["200"]["content"]


def test_the_dashboard_and_its_assets_come_from_the_package(daemon: LiveDaemon) -> None:
    status, page = daemon.request("GET", "/")
    assert status == 200 and b"<html" in page.lower()
    status, script = daemon.request("GET", "/static/vendor/uPlot.iife.min.js")
    assert status == 200 and b"uPlot" in script
    assert daemon.request("GET", "/static/vendor/uPlot.LICENSE")[0] == 200
    assert zlib.crc32(script) == zlib.crc32((Path(__file__).parent.parent / "src/wisgate/api/web/vendor/"
                                             "uPlot.iife.min.js").read_bytes())


def test_downlinks_reach_the_stream_with_their_outcome(daemon: LiveDaemon) -> None:
    # the API answers before the lora service has its modules' site up and its gateway made (no
    # downlink can be asked for before that); run alone, this test comes that early
    gateway = wait_for(lambda: daemon.supervisor.state.lora.gateway, 15)
    assert gateway is not None
    payload = build_data_frame(mtype=MType.UNCONFIRMED_DATA_DOWN, dev_addr=0x26011234, fcnt32=5, nwk_skey=bytes(16),
                               app_skey=bytes(16), payload=b"hi", fport=3).to_bytes()
    request = TxRequest(payload, 869_525_000, 14, LoraModulation(9, 125_000), tx_class=TxClass.C, board=0)
    reader = SseReader(daemon.port, "/api/lora/stream")
    try:
        result = asyncio.run_coroutine_threadsafe(gateway.send_downlink(request), daemon.loop).result(5)
        down = reader.until(lambda e: e.event == "downlink")
    finally:
        reader.close()
    assert result.ok, result
    record = down.data
    assert record["direction"] == "down" and record["outcome"] == "OK" and record["board"] == 0
    assert record["mtype"] == "UNCONFIRMED_DATA_DOWN" and record["dev_addr"] == "26011234" and record["fcnt"] == 5
    assert record["frequency_hz"] == 869_525_000 and record["datr"] == "SF9BW125" and record["tx_class"] == "C"
    traffic = daemon.request("GET", "/api/lora/traffic")[1]
    assert sum(traffic["downlinks"]["OK"]) >= 1
    text = daemon.request("GET", "/metrics")[1].decode()
    sent = [s for f in text_string_to_metric_families(text) if f.name == "wisgate_lora_downlinks"
            for s in f.samples if s.labels["outcome"] == "OK" and s.labels["board"] == "0"]
    assert sent and sent[0].value >= 1


def test_an_event_stream_outlives_the_request_deadline(tmp_path: Path) -> None:
    """A request must be taken within request_timeout_s; a stream the client keeps reading goes on."""
    live = LiveDaemon(tmp_path, devices=2, api={"request_timeout_s": 1.0})
    try:
        reader = SseReader(live.port, "/api/status/stream")
        started = time.monotonic()
        statuses = 0
        try:
            for event in reader.events():
                statuses += event.event == "status"
                if time.monotonic() - started > 3.5:
                    break
        finally:
            reader.close()
        assert statuses >= 4, f"the stream ended after {statuses} statuses"
    finally:
        live.stop()
