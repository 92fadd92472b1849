"""LoRa Basics Station backhaul against an LNS written from the protocol documentation, over TLS on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from lns_peer import EU868_DRS, GPS_EPOCH_OFFSET_US, Certificates, Lns
from lora_rig import Rig, data, event

from wisgate.lora.backhaul import lns
from wisgate.lora.backhaul.station import StationForwarder, StationSettings
from wisgate.lora.backhaul.store import UplinkStore
from wisgate.lora.backhaul.uplink_queue import UplinkQueue
from wisgate.lora.core.filters import UplinkFilter
from wisgate.lora.frames.crypto import build_join_request
from wisgate.lora.frames.phy import DataFrame, parse
from wisgate.lora.plans.allocation import Module

GATEWAY = "0016c001ff1a7391"
EU868_UP = [868_100_000, 868_300_000, 868_500_000, 867_100_000, 867_300_000, 867_500_000, 867_700_000, 867_900_000]
ROUTER_CONFIG: dict[str, Any] = {
    "region": "EU868", "hwspec": "sx1301/1", "freq_range": [863_000_000, 870_000_000], "DRs": EU868_DRS,
    "upchannels": [[f, 0, 5] for f in EU868_UP], "NetID": None, "JoinEui": None, "max_eirp": 16.0,
}


@pytest.fixture
def certs(tmp_path: Path) -> Certificates:
    return Certificates(tmp_path)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = Rig(tmp_path, gateway_id=GATEWAY, uplink_filter=UplinkFilter(lorawan_only=False))
    for board, link in made.gateway.links.items():
        link.module = Module.for_region(board, "EU868", tx=board == 0)
    yield made
    made.close()


def settings(server: Lns, certs: Certificates, **extra: Any) -> StationSettings:
    base: dict[str, Any] = dict(uri=server.uri, ca_file=certs.ca_file, cert_file=certs.client_cert,
                                key_file=certs.client_key, reconnect_min_s=0.05, reconnect_max_s=0.2,
                                timesync_interval_s=0.2, window=64)
    base.update(extra)
    return StationSettings(**base)


@contextlib.asynccontextmanager
async def station(rig: Rig, server: Lns, certs: Certificates, tmp_path: Path,
                  **extra: Any) -> AsyncIterator[StationForwarder]:
    store = UplinkQueue(UplinkStore(tmp_path / "station.db", server="station"), server="station")
    forwarder = StationForwarder(rig.gateway, settings(server, certs, **extra), store)
    task = asyncio.create_task(forwarder.run())
    try:
        yield forwarder
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        store.close()


def uplink(rig: Rig, board: int, payload: bytes, count: int, **radio: Any) -> None:
    now = rig.clock.monotonic()
    rig.gateway.handle(event(board, payload, count, **radio), now)
    rig.gateway.emit_due(now + 1.0)


async def connected(forwarder: StationForwarder) -> None:
    async with asyncio.timeout(10):
        await forwarder.configured.wait()


def test_discovery_router_config_and_every_kind_of_uplink(rig: Rig, certs: Certificates, tmp_path: Path) -> None:
    async def main() -> None:
        server = Lns(certs, router_config=ROUTER_CONFIG)
        await server.start()
        try:
            async with station(rig, server, certs, tmp_path) as forwarder:
                await connected(forwarder)
                # discovery declared the router in ID6 form; then version, protocol 2
                assert server.discoveries == [{"router": lns.id6(int(GATEWAY, 16))}]
                (version,) = server.versions
                assert version["protocol"] == 2 and version["model"] == "RAK7391"
                # router_config's channels placed on the modules: board 0 retuned, board 1 idle
                channels = rig.daemons[0].channels
                assert channels is not None and sorted(c.frequency_hz for c in channels) == sorted(EU868_UP)
                count = rig.daemons[0].count_us()
                up = data(0x26012345, 7)
                uplink(rig, 0, up, count, snr=7.25, rssi=-61)
                join = build_join_request(join_eui=0x70B3D57ED0000001, dev_eui=0x0004A30B001C0530, dev_nonce=0x1234,
                                          app_key=bytes(16)).to_bytes()
                uplink(rig, 0, join, count + 100_000, freq=868_300_000)
                prop = bytes([0xE0]) + b"vendor"
                uplink(rig, 0, prop, count + 200_000, freq=868_500_000)
                await server.wait_for(lambda: len(server.of("updf")) + len(server.of("jreq"))
                                      + len(server.of("propdf")) == 3)
        finally:
            await server.stop()
        (updf,) = server.of("updf")
        frame = parse(up)
        assert isinstance(frame, DataFrame)
        assert updf["MHdr"] == up[0] and updf["DevAddr"] == 0x26012345 and updf["FCnt"] == 7
        assert updf["FCtrl"] == up[5] and updf["FOpts"] == "" and updf["FPort"] == 1
        assert bytes.fromhex(updf["FRMPayload"]) == frame.frm_payload
        assert updf["MIC"] == int.from_bytes(up[-4:], "little", signed=True)
        assert updf["DR"] == 5 and updf["Freq"] == 868_100_000  # SF7BW125 in the router_config table
        info = updf["upinfo"]
        assert info["rctx"] == 0 and info["rssi"] == -61 and info["snr"] == 7.25
        unit, session, time_us = lns.xtime_parts(info["xtime"])
        assert unit == 0 and session == forwarder.session and time_us == count  # the board's own counter
        assert updf["RefTime"] >= server.muxtime  # MuxTime echoed forward
        (jreq,) = server.of("jreq")
        assert jreq["JoinEui"] == "70-B3-D5-7E-D0-00-00-01" and jreq["DevEui"] == "00-04-A3-0B-00-1C-05-30"
        assert jreq["DevNonce"] == 0x1234 and jreq["MIC"] == int.from_bytes(join[-4:], "little", signed=True)
        assert jreq["Freq"] == 868_300_000
        (propdf,) = server.of("propdf")
        assert propdf["FRMPayload"] == prop.hex().upper()

    asyncio.run(main())


def test_class_a_downlink_in_rx1_then_rx2_with_dntxed(rig: Rig, certs: Certificates, tmp_path: Path) -> None:
    async def main() -> None:
        server = Lns(certs, router_config=ROUTER_CONFIG)
        await server.start()
        try:
            async with station(rig, server, certs, tmp_path) as forwarder:
                await connected(forwarder)
                count = rig.daemons[0].count_us()
                uplink(rig, 0, data(0x26012345, 1), count)
                await server.wait_for(lambda: len(server.of("updf")) == 1)
                info = server.of("updf")[0]["upinfo"]
                base = {"msgtype": "dnmsg", "DevEui": "00-00-00-00-00-00-00-01", "dC": 0, "pdu": "60" + "00" * 12,
                        "RxDelay": 1, "RX2DR": 0, "RX2Freq": 869_525_000, "xtime": info["xtime"],
                        "rctx": info["rctx"], "priority": 0, "MuxTime": server.muxtime + 1}
                await server.send({**base, "diid": 1, "RX1DR": 5, "RX1Freq": 868_100_000})
                await server.wait_for(lambda: len(server.of("dntxed")) == 1)
                # RX1 outside the module's TX range: refused there, so RX2 one second later
                await server.send({**base, "diid": 2, "RX1DR": 5, "RX1Freq": 871_000_000})
                await server.wait_for(lambda: len(server.of("dntxed")) == 2)
                assert forwarder.stats.downlinks == {"OK": 2}
        finally:
            await server.stop()
        first, second = rig.daemons[0].module.transmissions
        assert first.count_us == (count + 1_000_000) & 0xFFFFFFFF
        assert first.item.tx_info.frequency == 868_100_000
        assert first.item.tx_info.modulation.lora.spreading_factor == 7
        assert first.item.tx_info.power == 14  # max_eirp 16 asked; the table has 14 and 20: the lower one
        assert second.count_us == (count + 2_000_000) & 0xFFFFFFFF
        assert second.item.tx_info.frequency == 869_525_000
        assert second.item.tx_info.modulation.lora.spreading_factor == 12  # RX2DR 0
        one, two = server.of("dntxed")
        assert (one["diid"], one["DR"], one["Freq"], one["rctx"]) == (1, 5, 868_100_000, 0)
        assert (two["diid"], two["DR"], two["Freq"]) == (2, 0, 869_525_000)
        assert lns.xtime_parts(one["xtime"])[2] == count + 1_000_000

    asyncio.run(main())


def test_timesync_gives_uplinks_a_gps_time(rig: Rig, certs: Certificates, tmp_path: Path) -> None:
    async def main() -> None:
        server = Lns(certs, router_config=ROUTER_CONFIG)
        await server.start()
        try:
            async with station(rig, server, certs, tmp_path) as forwarder:
                await connected(forwarder)
                await server.wait_for(lambda: len(server.of("timesync")) >= 1)
                async with asyncio.timeout(5):
                    while forwarder.gps_offset_us is None:
                        await asyncio.sleep(0.01)
                uplink(rig, 0, data(0x26012345, 3), rig.daemons[0].count_us())
                await server.wait_for(lambda: len(server.of("updf")) == 1)
        finally:
            await server.stop()
        request = server.of("timesync")[0]
        assert isinstance(request["txtime"], int)
        gpstime = server.of("updf")[0]["upinfo"]["gpstime"]
        # the LNS said GPS_EPOCH_OFFSET_US when the request came; the uplink came (sim clock) right after
        assert abs(gpstime - GPS_EPOCH_OFFSET_US) < 1_000_000

    asyncio.run(main())


def test_getxtime_is_answered_and_runcmd_and_rmtsh_are_refused(rig: Rig, certs: Certificates, tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    marker = tmp_path / "ran"

    async def main() -> tuple[StationForwarder, Lns, int]:
        server = Lns(certs, router_config=ROUTER_CONFIG)
        await server.start()
        try:
            async with station(rig, server, certs, tmp_path) as forwarder:
                await connected(forwarder)
                count = rig.daemons[0].count_us()
                uplink(rig, 0, data(0x26012345, 4), count)  # board 0 heard from: its time is known
                await server.wait_for(lambda: len(server.of("updf")) == 1)
                await server.send({"msgtype": "runcmd", "command": "touch", "arguments": [str(marker)]})
                await server.send({"msgtype": "rmtsh", "user": "root", "term": "xterm", "start": 0})
                await server.send({"msgtype": "getxtime", "MuxTime": 1_700_000_123.5})
                await server.wait_for(lambda: len(server.of("getxtime")) == 1)
        finally:
            await server.stop()
        return forwarder, server, count

    with caplog.at_level(logging.WARNING, logger="wisgate.lora.station"):
        forwarder, server, count = asyncio.run(main())
    assert not marker.exists()
    assert forwarder.stats.commands_refused == 2
    assert "asked to run 'touch' (runcmd): refused" in caplog.text
    assert "'remote shell' (rmtsh): refused" in caplog.text
    (answer,) = server.of("getxtime")
    assert answer["MuxTime"] == 1_700_000_123.5 and answer["ustime"] >= 0 and answer["UTCtime"] > 1.6e9
    xtimes = answer["xtimes"]
    assert len(xtimes) == len(rig.gateway.boards)
    unit, session, time_us = lns.xtime_parts(xtimes[0])
    assert (unit, session) == (0, forwarder.session)
    assert 0 <= time_us - count < 1_000_000  # board 0's counter now: at or a little after its uplink
    updf_xtime = server.of("updf")[0]["upinfo"]["xtime"]
    assert lns.xtime_parts(updf_xtime)[:2] == (0, forwarder.session)


def test_an_lns_restart_mid_stream_loses_nothing(rig: Rig, certs: Certificates, tmp_path: Path) -> None:
    total = 300

    def fcnts(server: Lns) -> set[int]:
        return {m["FCnt"] for m in server.of("updf")}

    async def main() -> None:
        server = Lns(certs, router_config=ROUTER_CONFIG)
        await server.start()
        try:
            async with station(rig, server, certs, tmp_path, window=16) as forwarder:
                await connected(forwarder)
                count = rig.daemons[0].count_us()
                for n in range(total):
                    uplink(rig, 0, data(0x26012345, n), (count + n * 1000) & 0xFFFFFFFF)
                    if n == 100:
                        await server.wait_for(lambda: len(fcnts(server)) >= 50)
                        await server.stop()  # mid-stream: some sent, some in flight, the rest queued
                        await asyncio.sleep(0.05)
                    if n == 200:
                        await server.start()  # back on the same port; the gateway rediscovers it
                    await asyncio.sleep(0)
                await server.wait_for(lambda: len(fcnts(server)) == total, timeout=20)
                assert forwarder.stats.connects >= 2 and len(server.discoveries) >= 2
                async with asyncio.timeout(5):
                    while forwarder.backlog:
                        await asyncio.sleep(0.01)
        finally:
            await server.stop()
        assert fcnts(server) == set(range(total))

    asyncio.run(main())


def test_the_lns_refuses_a_gateway_without_a_client_certificate(rig: Rig, certs: Certificates,
                                                                tmp_path: Path) -> None:
    async def main() -> None:
        server = Lns(certs, router_config=ROUTER_CONFIG, client_auth=True)
        await server.start()
        try:
            async with station(rig, server, certs, tmp_path, cert_file=None, key_file=None) as forwarder:
                async with asyncio.timeout(5):
                    while forwarder.stats.connect_failures < 2:
                        await asyncio.sleep(0.02)
                assert not forwarder.connected.is_set() and server.discoveries == []
        finally:
            await server.stop()

    asyncio.run(main())


def test_settings_refuse_tls_files_on_plain_ws() -> None:
    with pytest.raises(ValueError, match="use wss://"):
        StationSettings(uri="ws://127.0.0.1:1234", ca_file=Path("/tmp/ca.pem"))


def test_router_config_from_sx1301_conf_and_eui_forms() -> None:
    chip = {"radio_0": {"enable": True, "freq": 867_500_000}, "radio_1": {"enable": True, "freq": 868_500_000},
            "chan_multiSF_0": {"enable": True, "radio": 1, "if": -400_000},
            "chan_multiSF_1": {"enable": True, "radio": 0, "if": -400_000},
            "chan_Lora_std": {"enable": True, "radio": 1, "if": -200_000, "bandwidth": 250_000, "spread_factor": 7},
            "chan_FSK": {"enable": True, "radio": 1, "if": 300_000, "bandwidth": 125_000, "datarate": 50_000}}
    config = lns.parse_router_config({"region": "EU868", "DRs": EU868_DRS, "sx1301_conf": [chip], "MuxTime": 5.5})
    kinds = [(c.frequency_hz, c.kind.value) for c in config.plan.channels]
    assert kinds == [(868_100_000, "multi-SF"), (867_100_000, "multi-SF"), (868_300_000, "LoRa std"),
                     (868_800_000, "FSK")]
    assert config.muxtime == 5.5 and config.data_rates.index(config.data_rates.modulation(6)) == 6
    eui = 0x0016C001FF1A7391
    assert lns.parse_eui("00-16-C0-01-FF-1A-73-91", "x") == eui == lns.parse_eui(lns.id6(eui), "x")
    assert lns.parse_eui(eui, "x") == eui and lns.id6(1) == "::1" and lns.parse_eui("::1", "x") == 1
    with pytest.raises(lns.LnsError, match="not an EUI"):
        lns.parse_eui("12-34", "DevEui")
    with pytest.raises(lns.LnsError, match="RX1DR/RX1Freq nor RX2DR/RX2Freq"):
        lns.parse_dnmsg({"pdu": "00", "diid": 1})


def test_the_fast_updf_record_says_what_the_field_table_says() -> None:
    import json

    from wisgate.lora.core.types import LoraModulation, ReceivedUplink, RxInfo, Uplink, UplinkFrame
    from wisgate.lora.frames.crypto import build_data_frame
    from wisgate.lora.frames.phy import FCtrl, MType

    rates = lns.DataRates.parse(EU868_DRS)
    frames = [
        build_data_frame(mtype=MType.CONFIRMED_DATA_UP, dev_addr=0xFE000001, fcnt32=65535, nwk_skey=bytes(16),
                         app_skey=bytes(16), payload=b"", fport=None, fopts=b"\x02\x03", fctrl=FCtrl(adr=True)),
        build_data_frame(mtype=MType.UNCONFIRMED_DATA_UP, dev_addr=0x26000001, fcnt32=1, nwk_skey=bytes(16),
                         app_skey=bytes(16), payload=b"\x00\xff", fport=0),
    ]
    for built in frames:
        phy = built.to_bytes()
        frame = UplinkFrame(phy, 867_100_000, LoraModulation(9, 125_000),
                            RxInfo(board=1, count_us=5, rssi=-112.5, snr=-7.25, time_us=5))
        received = ReceivedUplink(Uplink((frame,), 0.0), parse(phy))
        record = lns.uplink_record(received, session=3, rxtime=1.5, received_host=0.0, gps_offset_us=None)
        assert record is not None
        message = json.loads(lns.uplink_message(record, rates, 2.25))
        expected = lns.frame_fields(received)
        assert expected is not None and {k: message[k] for k in expected} == expected
        assert (message["DR"], message["Freq"], message["RefTime"]) == (3, 867_100_000, 2.25)
        assert message["upinfo"]["rssi"] == round(-112.5) and message["upinfo"]["snr"] == -7.25
