"""UDP forwarder against a GWMP network-server peer on loopback (like Semtech's util_net_downlink).

The gateway runs on simulated modules over real ZeroMQ sockets (the Rig of test_lora_gateway); the
peer is a small asyncio UDP server that acknowledges, records and sends PULL_RESP. Network timers are
shortened; the 10-minute outage runs on a SimClock (host time of every uplink) in about a second.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import sys
import termios
from collections.abc import Callable, Coroutine, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import pytest
from lora_rig import WALL0, Rig, data, event

from wisgate.clock import SimClock
from wisgate.errors import ConfigError
from wisgate.lora.backhaul import gwmp
from wisgate.lora.backhaul.store import StoreError, UplinkStore
from wisgate.lora.backhaul.udp_forwarder import MemoryStore, RecentUplinks, UdpForwarder, UdpServerConfig
from wisgate.lora.backhaul.uplink_queue import UplinkQueue
from wisgate.lora.core.filters import FilterSettings, UplinkFilter
from wisgate.lora.core.types import LoraModulation, ReceivedUplink, RxInfo, Uplink, UplinkFrame

GW_ID = "aa555a0000000000"


def make_rig(tmp_path: Path, *, modules: bool = True) -> Rig:
    return Rig(tmp_path, gateway_id=GW_ID, modules=modules, uplink_filter=UplinkFilter(lorawan_only=False))


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = make_rig(tmp_path)
    yield made
    made.close()


class NsPeer(asyncio.DatagramProtocol):
    """A network server: ACKs PUSH_DATA and PULL_DATA, records what it gets, sends PULL_RESP."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.up = True  # False: the network is down, datagrams vanish
        self.ack_pulls = True
        self.pushes: list[gwmp.PushData] = []
        self.rxpk: list[gwmp.Rxpk] = []
        self.pulls = 0
        self.tx_acks: list[gwmp.TxAck] = []
        self.gateway_addr: tuple[str, int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # the selector transport does not subclass it

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.up:
            return
        assert self.transport is not None
        packet = gwmp.decode(data)
        self.gateway_addr = addr
        if isinstance(packet, gwmp.PushData):
            self.pushes.append(packet)
            self.rxpk.extend(packet.rxpk)
            self.transport.sendto(gwmp.encode(gwmp.PushAck(packet.token, packet.version)), addr)
        elif isinstance(packet, gwmp.PullData):
            self.pulls += 1
            if self.ack_pulls:
                self.transport.sendto(gwmp.encode(gwmp.PullAck(packet.token, packet.version)), addr)
        elif isinstance(packet, gwmp.TxAck):
            self.tx_acks.append(packet)

    async def reconnect(self) -> None:
        """The network comes back: datagrams sent while it was down are dropped first.

        ``up`` is read when a datagram is handled, and the loop handles one per turn, so what the gateway sent
        during the outage may still wait in the socket; flipping ``up`` alone would deliver it after all.
        """
        assert self.transport is not None
        sock = self.transport.get_extra_info("socket")
        waiting = bytearray(4)
        async with asyncio.timeout(5):
            while True:
                fcntl.ioctl(sock.fileno(), termios.FIONREAD, waiting)
                if not int.from_bytes(waiting, sys.byteorder):
                    break
                await asyncio.sleep(0)
        self.up = True

    def pull_resp(self, txpk: gwmp.Txpk, token: int) -> None:
        assert self.transport is not None and self.gateway_addr is not None
        self.transport.sendto(gwmp.encode(gwmp.PullResp(token, txpk)), self.gateway_addr)


_PEERS: list[NsPeer] = []


async def start_peer(host: str = "127.0.0.1") -> NsPeer:
    """A peer on loopback; :func:`run` closes it when the test's coroutine ends."""
    loop = asyncio.get_running_loop()
    _, peer = await loop.create_datagram_endpoint(NsPeer, local_addr=(host, 0))
    _PEERS.append(peer)
    return peer


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.002)


def server(name: str, peer: NsPeer, **options: Any) -> UdpServerConfig:
    fast: dict[str, Any] = dict(keepalive_s=0.05, push_timeout_s=0.05, retry_interval_s=0.05, replay_interval_s=0.0,
                                stat_interval_s=0.0)
    fast.update(options)
    return UdpServerConfig(name=name, host="127.0.0.1", port_up=peer.port, port_down=peer.port, **fast)


def run(main: Coroutine[Any, Any, None]) -> None:
    async def closing() -> None:
        try:
            await main
        finally:
            while _PEERS:
                transport = _PEERS.pop().transport
                if transport is not None:
                    transport.close()
            await asyncio.sleep(0)  # let the transports finish closing inside this loop

    asyncio.run(closing())


# ------------------------------------------------------------------------------------------- uplinks


def test_uplinks_arrive_field_exact_and_are_acknowledged(rig: Rig) -> None:
    g = rig.gateway
    payload = data(0x26000001, 1)

    async def main() -> None:
        peer = await start_peer()
        async with UdpForwarder(g, [server("ns", peer)], wall=rig.wall) as forwarder:
            g.handle(event(0, payload, 1_000_000, snr=2.0, rssi=-101), now=50.0)
            g.handle(event(1, payload, 4_000_000_000, snr=8.5, rssi=-77, channel=3), now=50.001)
            rig.clock.advance(0.5)
            g.emit_due(rig.clock.monotonic())
            await until(lambda: len(peer.rxpk) == 1)
            link = forwarder.links["ns"]
            await until(lambda: link.stats.acks == 1 and len(link.store) == 0)
            (push,) = peer.pushes
            assert push.gateway_id == GW_ID and push.version == 2 and push.stat is None
            (rx,) = peer.rxpk
            # the best reception (board 1): its counter, channel, rssi and snr
            assert rx == gwmp.Rxpk(
                tmst=4_000_000_000, freq_hz=868_100_000, chan=3, rfch=0, stat=1, modu="LORA", datr="SF7BW125",
                rssi=-77, data=payload, codr="4/5", lsnr=8.5, time=gwmp.utc_time(WALL0 + 50.0),
                jver=1, mid=3, rssis=-77, foff=0,  # the sx1302 set; this module reports no signal RSSI or offset
            )
            assert link.stats.pushes == 1 and link.stats.ack_ratio == 1.0 and link.stats.uplinks_acked == 1
            assert forwarder.recent.board_for(4_001_000_000, rig.clock.monotonic()) == 1

    run(main())


def test_keepalive_ack_stats_and_dns_re_resolution(rig: Rig) -> None:
    answers = iter(["127.0.0.2", "127.0.0.2", "127.0.0.1"])
    asked: list[str] = []

    async def resolver(host: str, port: int) -> str:
        asked.append(host)
        return next(answers, "127.0.0.1")

    async def main() -> None:
        peer = await start_peer()
        config = server("ns", peer, keepalive_max_failures=2).model_copy(update={"host": "ns.example"})
        async with UdpForwarder(rig.gateway, [config], wall=rig.wall, resolver=resolver) as forwarder:
            link = forwarder.links["ns"]
            assert link.address == "127.0.0.2"  # nobody listens there
            await until(lambda: link.stats.pull_acks >= 3)
            stats = link.stats
            assert stats.dns_resolutions == 3 and asked == ["ns.example"] * 3
            assert stats.keepalive_failures == 4  # two failures per resolution, twice
            assert link.address == "127.0.0.1"
            peer.ack_pulls = False
            before = stats.keepalive_failures
            await until(lambda: stats.keepalive_failures >= before + 1)
            assert stats.keepalives >= stats.pull_acks + stats.keepalive_failures

    run(main())


def test_stat_report_counts_the_interval(rig: Rig) -> None:
    g = rig.gateway

    async def main() -> None:
        peer = await start_peer()
        async with UdpForwarder(g, [server("ns", peer, stat_interval_s=3600)], wall=rig.wall,
                                temperature=lambda: 41.25) as forwarder:
            for n in range(3):
                g.handle(event(0, data(0x26000001, n), 1_000_000 + n * 100_000), now=50.0 + n * 0.1)
            rig.clock.advance(1.0)
            g.emit_due(rig.clock.monotonic())
            await until(lambda: len(peer.rxpk) == 3 and forwarder.links["ns"].stats.acks >= 1)
            await until(lambda: forwarder.links["ns"].stats.acks == forwarder.links["ns"].stats.pushes)
            forwarder.send_stats()
            await until(lambda: peer.pushes[-1].stat is not None)
            stat = peer.pushes[-1].stat
            assert stat is not None
            assert (stat.rxnb, stat.rxok, stat.rxfw, stat.ackr, stat.dwnb, stat.txnb) == (3, 3, 3, 100.0, 0, 0)
            assert stat.time == gwmp.stat_time(WALL0 + 51.0)
            assert stat.temp == 41.2  # sx1302 set: %.1f of the temperature source

    run(main())


def test_each_server_gets_its_own_rxpk_field_set(rig: Rig) -> None:
    g = rig.gateway

    async def main() -> None:
        new, old = await start_peer(), await start_peer()
        servers = [server("new", new, stat_interval_s=3600), server("old", old, fields="sx1301", stat_interval_s=3600)]
        async with UdpForwarder(g, servers, wall=rig.wall, temperature=lambda: 30.0) as forwarder:
            g.handle(event(0, data(0x26000001, 1), 1_000_000, snr=2.0, rssi=-101), now=50.0)
            rig.clock.advance(0.5)
            g.emit_due(rig.clock.monotonic())
            await until(lambda: len(new.rxpk) == 1 and len(old.rxpk) == 1)
            (a,), (b,) = new.rxpk, old.rxpk
            assert (a.jver, a.mid, a.rssis, a.foff) == (1, 0, -101, 0)
            assert (b.jver, b.mid, b.rssis, b.foff) == (None, None, None, None)
            assert (a.tmst, a.rssi, a.lsnr) == (b.tmst, b.rssi, b.lsnr)
            await until(lambda: all(link.stats.acks >= 1 for link in forwarder.links.values()))
            forwarder.send_stats()
            await until(lambda: new.pushes[-1].stat is not None and old.pushes[-1].stat is not None)
            assert new.pushes[-1].stat is not None and new.pushes[-1].stat.temp == 30.0
            assert old.pushes[-1].stat is not None and old.pushes[-1].stat.temp is None
        for peer in (new, old):
            assert peer.transport is not None
            peer.transport.close()

    run(main())


def test_an_unknown_field_set_is_a_config_error() -> None:
    from wisgate.config import parse_config

    with pytest.raises(ConfigError, match="fields") as caught:
        parse_config({"lora": {"udp": [{"name": "a", "host": "127.0.0.1", "fields": "sx1308"}]}})
    assert "sx1302" in str(caught.value) and "sx1301" in str(caught.value)
    old = parse_config({"lora": {"udp": [{"name": "a", "host": "h", "fields": "sx1301"}]}})
    assert old.lora.udp[0].fields == "sx1301"


# ------------------------------------------------------------------------------------------- downlinks


def txpk(**fields: Any) -> gwmp.Txpk:
    base: dict[str, Any] = dict(freq_hz=869_525_000, modu="LORA", datr="SF9BW125", codr="4/5", data=b"\x60" + bytes(12),
                                powe=14, ipol=True)
    base.update(fields)
    return gwmp.Txpk(**base)


def test_downlink_round_trip_to_the_module_with_tx_ack_outcomes(rig: Rig) -> None:
    g = rig.gateway
    count0, count1 = rig.daemons[0].count_us(), rig.daemons[1].count_us()

    async def main() -> None:
        peer = await start_peer()
        async with UdpForwarder(g, [server("ns", peer)], wall=rig.wall) as forwarder:
            await until(lambda: peer.gateway_addr is not None)
            g.handle(event(0, data(0x26000001, 1), count0), now=50.0)
            g.handle(event(1, data(0x26000002, 1), count1), now=50.0)
            rig.clock.advance(0.3)
            g.emit_due(rig.clock.monotonic())
            await until(lambda: len(peer.rxpk) == 2)
            link = forwarder.links["ns"]
            # RX1 of the uplink board 1 heard: board 1 cannot transmit, so it leaves from board 0
            peer.pull_resp(txpk(tmst=(count1 + 1_000_000) & 0xFFFFFFFF), token=0x0101)
            await until(lambda: len(peer.tx_acks) == 1)
            assert peer.tx_acks[0] == gwmp.TxAck(0x0101, GW_ID, None)  # success: no JSON (sx1302 forwarder)
            (sent,) = rig.daemons[0].module.transmissions
            assert sent.count_us == count0 + 1_000_000
            # too late: 10 ms after the uplink
            peer.pull_resp(txpk(tmst=count0 + 10_000), token=0x0202)
            # power the table lacks: sent at the next lower entry, reported as a warning
            peer.pull_resp(txpk(tmst=count0 + 2_000_000, powe=16), token=0x0303)
            # class B without GPS
            peer.pull_resp(txpk(tmms=1_400_000_000_000), token=0x0404)
            # class C
            peer.pull_resp(txpk(imme=True, datr="SF12BW125", freq_hz=869_525_000), token=0x0505)
            await until(lambda: len(peer.tx_acks) == 5)
            acks = {a.token: a.ack for a in peer.tx_acks}
            assert acks[0x0202] == gwmp.TxpkAck(error="TOO_LATE")
            assert acks[0x0303] == gwmp.TxpkAck(warn="TX_POWER", value=14)
            assert acks[0x0404] == gwmp.TxpkAck(error="GPS_UNLOCKED")
            assert acks[0x0505] is None
            assert link.stats.downlinks_received == 5 and link.stats.downlinks_sent == 3
            assert dict(link.stats.downlinks_refused) == {"TOO_LATE": 1, "GPS_UNLOCKED": 1}
            assert len(rig.daemons[0].module.transmissions) == 3
            assert forwarder.recent.board_for((count1 + 1_000_000) & 0xFFFFFFFF, rig.clock.monotonic()) == 1

    run(main())


def test_tx_ack_none_style_and_brd_extension(rig: Rig) -> None:
    g = rig.gateway
    count0 = rig.daemons[0].count_us()

    async def main() -> None:
        peer = await start_peer()
        config = server("ns", peer, tx_ack_error_none=True, extensions=True)
        async with UdpForwarder(g, [config], wall=rig.wall):
            await until(lambda: peer.gateway_addr is not None)
            g.handle(event(0, data(0x26000001, 1), count0), now=50.0)
            rig.clock.advance(0.3)
            g.emit_due(rig.clock.monotonic())
            await until(lambda: len(peer.rxpk) == 1)
            assert peer.rxpk[0].brd == 0 and peer.rxpk[0].rsig == (gwmp.Rsig(0, 0, -90, 5.0),)
            peer.pull_resp(txpk(tmst=count0 + 1_000_000, brd=0), token=7)
            await until(lambda: len(peer.tx_acks) == 1)
            assert peer.tx_acks[0].ack == gwmp.TxpkAck(error="NONE")

    run(main())


def test_downlink_from_an_unknown_address_is_ignored_and_counted(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        peer = await start_peer()
        stranger = await start_peer()
        async with UdpForwarder(rig.gateway, [server("ns", peer)], wall=rig.wall) as forwarder:
            await until(lambda: peer.gateway_addr is not None)
            link = forwarder.links["ns"]
            stranger.gateway_addr = peer.gateway_addr
            for token in (1, 2):
                stranger.pull_resp(txpk(imme=True), token=token)
            peer.transport.sendto(b"\x02\x00\x01\x03{not json", peer.gateway_addr)  # type: ignore[union-attr]
            peer.transport.sendto(b"\x02\x00\x01\x03{not json", peer.gateway_addr)  # type: ignore[union-attr]
            peer.transport.sendto(b"\x07", peer.gateway_addr)  # type: ignore[union-attr]
            await until(lambda: sum(link.stats.bad_datagrams.values()) == 5)
            assert dict(link.stats.bad_datagrams) == {"unknown-address": 2, "json": 2, "truncated": 1}
            assert link.stats.downlinks_received == 0 and stranger.tx_acks == [] and peer.tx_acks == []
            assert rig.daemons[0].module.transmissions == []

    with caplog.at_level(logging.WARNING, logger="wisgate.lora.udp"):
        run(main())
    messages = [r.getMessage() for r in caplog.records]
    assert sum("not the configured server" in m for m in messages) == 1
    assert sum("bad datagram (json)" in m for m in messages) == 1


def test_two_servers_one_uplink_only_with_its_own_filter(rig: Rig) -> None:
    g = rig.gateway

    async def main() -> None:
        full, uplink_only = await start_peer(), await start_peer()
        servers = [
            server("full", full),
            server("upl", uplink_only, uplink_only=True,
                   filters=FilterSettings(lorawan_only=False, dev_addr_prefixes=["26000000/8"])),
        ]
        async with UdpForwarder(g, servers, wall=rig.wall) as forwarder:
            g.handle(event(0, data(0x26000001, 1), 1_000_000), now=50.0)
            g.handle(event(0, data(0x48000001, 1), 1_100_000), now=50.0)
            rig.clock.advance(0.5)
            g.emit_due(rig.clock.monotonic())
            await until(lambda: len(full.rxpk) == 2 and len(uplink_only.rxpk) == 1)
            await asyncio.sleep(0.15)  # three keepalive periods
            assert full.pulls >= 2 and uplink_only.pulls == 0
            upl = forwarder.links["upl"]
            assert dict(upl.stats.filtered) == {"dev-addr": 1}
            uplink_only.pull_resp(txpk(imme=True), token=3)
            await until(lambda: upl.stats.downlinks_received == 1)
            assert dict(upl.stats.downlinks_refused) == {"uplink-only": 1} and uplink_only.tx_acks == []

    run(main())


# ------------------------------------------------------------------------------------------- outages


def make_uplink(n: int, clock: SimClock) -> ReceivedUplink:
    frame = UplinkFrame(n.to_bytes(4, "big") + b"outage", 868_100_000, LoraModulation(7, 125_000),
                        RxInfo(board=0, count_us=(n * 20_000) & 0xFFFFFFFF, rssi=-80, snr=4.0))
    return ReceivedUplink(Uplink((frame,), clock.monotonic()), None)


def numbers(rxpk: list[gwmp.Rxpk]) -> list[int]:
    return [int.from_bytes(rx.data[:4], "big") for rx in rxpk]


async def feed(forwarder: UdpForwarder, clock: SimClock, first: int, count: int, *, rate: int = 50) -> None:
    """``count`` uplinks at ``rate`` per simulated second; the event loop runs once per simulated second."""
    for n in range(first, first + count):
        forwarder.submit(make_uplink(n, clock))
        clock.advance(1 / rate)
        if n % rate == rate - 1:
            await asyncio.sleep(0)


def test_ten_minute_outage_at_50_per_second_loses_nothing_and_replays_in_order(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, modules=False)
    total = 600 * 50

    async def main() -> None:
        peer = await start_peer()
        config = server("ns", peer, store_path=tmp_path / "ns.db", max_datagram_bytes=16_384)
        async with UdpForwarder(rig.gateway, [config], wall=rig.wall, clock=rig.clock) as forwarder:
            link = forwarder.links["ns"]
            await feed(forwarder, rig.clock, 0, 100)
            await until(lambda: link.stats.uplinks_acked == 100)
            peer.up = False
            await feed(forwarder, rig.clock, 100, total - 100)
            await until(lambda: link.stats.push_timeouts >= 1)
            await asyncio.sleep(0.05)  # what was sent before the timeout has reached the (deaf) peer
            assert not link.live and len(link.store) >= total - 200
            assert len(peer.rxpk) == 100
            await peer.reconnect()
            await until(lambda: len(link.store) == 0 and not link.backlog, timeout=30)
            got = numbers(peer.rxpk)
            assert set(got) == set(range(total))
            firsts = list(dict.fromkeys(got))
            assert firsts == sorted(firsts)  # replayed oldest first
            assert link.stats.replayed >= total - 200 and link.stats.dropped_at_cap == 0
            # replays carry their real reception time: the oldest queued one is ten minutes old
            times = {numbers([rx])[0]: datetime.fromisoformat(rx.time or "") for rx in peer.rxpk}
            assert times[100].timestamp() == pytest.approx(WALL0 + 50.0 + 100 / 50, abs=1e-3)
            assert (times[total - 1] - times[100]).total_seconds() == pytest.approx((total - 101) / 50, abs=1e-3)
            # live again: a new uplink goes straight out
            await feed(forwarder, rig.clock, total, 1)
            await until(lambda: numbers(peer.rxpk)[-1] == total)

    try:
        run(main())
    finally:
        rig.close()


def test_restart_mid_outage_loses_nothing(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, modules=False)
    path = tmp_path / "ns.db"

    async def main() -> None:
        peer = await start_peer()
        config = server("ns", peer, store_path=path)
        peer.up = False
        async with UdpForwarder(rig.gateway, [config], wall=rig.wall, clock=rig.clock) as forwarder:
            await feed(forwarder, rig.clock, 0, 3000)
            assert len(forwarder.links["ns"].store) == 3000
        # the daemon restarts while the server is still away
        async with UdpForwarder(rig.gateway, [config], wall=rig.wall, clock=rig.clock) as forwarder:
            link = forwarder.links["ns"]
            assert len(link.store) == 3000 and link.backlog
            await feed(forwarder, rig.clock, 3000, 500)
            await asyncio.sleep(0.1)
            await peer.reconnect()
            await until(lambda: len(link.store) == 0 and not link.backlog, timeout=30)
        got = numbers(peer.rxpk)
        assert set(got) == set(range(3500))
        firsts = list(dict.fromkeys(got))
        assert firsts == sorted(firsts)

    try:
        run(main())
    finally:
        rig.close()


def test_recent_uplink_index_is_wrap_safe_and_prefers_exact_rx_delays() -> None:
    index = RecentUplinks(6.5)
    index.add(0, 0xFFFF_FF00, when=10.0)  # just before board 0's counter wraps
    index.add(1, 0xFFFF_FF00 - 300_000, when=10.0)
    assert index.board_for((0xFFFF_FF00 + 1_000_000) & 0xFFFFFFFF, now=10.5) == 0
    assert index.board_for((0xFFFF_FF00 - 300_000 + 2_000_000) & 0xFFFFFFFF, now=10.5) == 1
    # no exact delay: the board whose uplink lies 0..6.5 s before the tmst
    index.add(2, 5_000_000, when=11.0)
    assert index.board_for(7_345_678, now=11.2) == 2
    assert index.board_for(20_500_000, now=11.2) is None  # 15.5 s: no RX delay, outside the window
    assert index.board_for(20_000_000, now=11.2) == 2  # RX1 delay 15 s (RXTimingSetupReq allows it)
    assert index.board_for(7_345_678, now=100.0) is None  # forgotten


def test_cap_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, modules=False)

    async def main() -> None:
        peer = await start_peer()
        peer.up = False
        config = server("ns", peer, store_path=tmp_path / "ns.db", store_max=50)
        async with UdpForwarder(rig.gateway, [config], wall=rig.wall, clock=rig.clock) as forwarder:
            link = forwarder.links["ns"]
            await feed(forwarder, rig.clock, 0, 80, rate=10)
            await until(lambda: not link.live)
            await asyncio.sleep(0.05)  # what was sent before the timeout has reached the (deaf) peer
            assert forwarder.stats()["ns"].dropped_at_cap == 30 and forwarder.stats()["ns"].queued == 50
            await peer.reconnect()
            await until(lambda: len(link.store) == 0 and not link.backlog)
        firsts = list(dict.fromkeys(numbers(peer.rxpk)))
        assert firsts == list(range(30, 80))

    try:
        run(main())
    finally:
        rig.close()


def test_version_1_server_gets_version_1_datagrams_and_no_tx_ack(rig: Rig) -> None:
    g = rig.gateway
    count0 = rig.daemons[0].count_us()

    async def main() -> None:
        peer = await start_peer()
        async with UdpForwarder(g, [server("old", peer, version=1)], wall=rig.wall) as forwarder:
            await until(lambda: peer.gateway_addr is not None)
            g.handle(event(0, data(0x26000001, 1), count0), now=50.0)
            rig.clock.advance(0.3)
            g.emit_due(rig.clock.monotonic())
            await until(lambda: len(peer.rxpk) == 1)
            assert peer.pushes[0].version == 1
            link = forwarder.links["old"]
            await until(lambda: link.stats.acks == 1)
            peer.pull_resp(txpk(tmst=count0 + 1_000_000), token=0)
            await until(lambda: link.stats.downlinks_sent == 1)
            await asyncio.sleep(0.05)
            assert peer.tx_acks == [] and link.stats.tx_acks == 0
            assert len(rig.daemons[0].module.transmissions) == 1

    run(main())


def test_uplink_only_server_is_resolved_again_after_unanswered_pushes(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, modules=False)
    answers = iter(["127.0.0.2"])

    async def resolver(host: str, port: int) -> str:
        return next(answers, "127.0.0.1")

    async def main() -> None:
        peer = await start_peer()
        config = server("upl", peer, uplink_only=True, keepalive_max_failures=2).model_copy(
            update={"host": "ns.example"})
        async with UdpForwarder(rig.gateway, [config], wall=rig.wall, clock=rig.clock, resolver=resolver) as fwd:
            link = fwd.links["upl"]
            for n in range(3):
                await feed(fwd, rig.clock, n * 10, 10, rate=10)
                await asyncio.sleep(0.06)  # each batch's push (or probe) times out against 127.0.0.2
            await until(lambda: link.address == "127.0.0.1")
            await until(lambda: len(link.store) == 0 and not link.backlog)
            assert link.stats.dns_resolutions == 2 and link.stats.keepalives == 0
        assert sorted(set(numbers(peer.rxpk))) == list(range(30))

    try:
        run(main())
    finally:
        rig.close()


class BrokenStore(MemoryStore):
    def put_many(self, items: Sequence[tuple[bytes, float]]) -> list[int]:
        raise StoreError("disk full", path=Path("/nowhere"))


def test_a_failing_store_is_counted_and_uplinks_still_go_out(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, modules=False)

    async def main() -> None:
        peer = await start_peer()
        async with UdpForwarder(rig.gateway, [server("ns", peer)], wall=rig.wall, clock=rig.clock) as forwarder:
            link = forwarder.links["ns"]
            link.store = UplinkQueue(BrokenStore(), server="ns")
            await feed(forwarder, rig.clock, 0, 20, rate=10)
            await until(lambda: len(peer.rxpk) == 20 and link.stats.acks >= 2)
            assert link.stats.store_errors >= 1 and link.stats.unprotected == 20 and len(link.store) == 0

    try:
        run(main())
    finally:
        rig.close()


def test_each_server_reports_stat_at_its_own_interval(rig: Rig) -> None:
    async def main() -> None:
        fast, slow = await start_peer(), await start_peer()
        servers = [server("fast", fast, stat_interval_s=0.03), server("slow", slow, stat_interval_s=3600)]
        async with UdpForwarder(rig.gateway, servers, wall=rig.wall):
            await until(lambda: sum(p.stat is not None for p in fast.pushes) >= 3)
            assert all(p.stat is not None and p.rxpk == () for p in fast.pushes)
            assert slow.pushes == []

    run(main())


def test_a_server_unresolvable_at_start_gets_its_queue_once_resolved(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, modules=False)
    calls: list[str] = []

    async def resolver(host: str, port: int) -> str:
        calls.append(host)
        if len(calls) < 3:
            raise OSError("Temporary failure in name resolution")
        return "127.0.0.1"

    async def main() -> None:
        peer = await start_peer()
        config = server("ns", peer).model_copy(update={"host": "ns.example"})
        async with UdpForwarder(rig.gateway, [config], wall=rig.wall, clock=rig.clock, resolver=resolver) as fwd:
            link = fwd.links["ns"]
            assert link.address is None
            await feed(fwd, rig.clock, 0, 20, rate=10)
            assert len(link.store) == 20 and link.backlog
            await until(lambda: len(link.store) == 0 and not link.backlog)
            assert len(calls) == 3 and link.stats.dns_resolutions == 1
        assert numbers(peer.rxpk) == list(range(20))

    try:
        run(main())
    finally:
        rig.close()


def test_a_damaged_store_file_is_moved_aside_and_forwarding_goes_on(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, modules=False)
    path = tmp_path / "ns.db"
    path.write_bytes(b"this is not an SQLite database" * 100)

    async def main() -> None:
        peer = await start_peer()
        async with UdpForwarder(rig.gateway, [server("ns", peer, store_path=path)], wall=rig.wall,
                                clock=rig.clock) as forwarder:
            link = forwarder.links["ns"]
            assert isinstance(link.store.store, UplinkStore) and link.store.lost == 1
            await feed(forwarder, rig.clock, 0, 10, rate=10)
            await until(lambda: len(peer.rxpk) == 10 and len(link.store) == 0)
        assert len(list(tmp_path.glob("ns.db.corrupt-*"))) == 1

    try:
        run(main())
    finally:
        rig.close()

