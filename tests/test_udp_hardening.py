"""UDP forwarder: nothing lost at start (slow DNS included), random tokens, ACKs only while outstanding,
the socket bound toward the server, warnings about strangers rate-limited."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from pathlib import Path
from typing import cast

import pytest
from lora_rig import data, event
from test_udp_forwarder import feed, make_rig, numbers, run, server, start_peer, until

from wisgate.lora.backhaul import gwmp
from wisgate.lora.backhaul.udp_forwarder import UdpForwarder, UdpServerConfig
from wisgate.lora.backhaul.udp_link import LATE_ACK_TIMEOUTS, UNKNOWN_SENDER_BURST, UNKNOWN_SENDERS_REMEMBERED


@pytest.mark.parametrize("dns_s", [0.0, 0.5])
def test_uplinks_emitted_while_the_servers_resolve_are_not_lost(tmp_path: Path, dns_s: float) -> None:
    """Before: the forwarder subscribed after resolving and opening every server; what came first was lost."""
    rig = make_rig(tmp_path, modules=False)
    g = rig.gateway

    async def slow_dns(host: str, port: int) -> str:
        await asyncio.sleep(dns_s)
        return "127.0.0.1"

    async def main() -> None:
        peer = await start_peer()
        config = server("ns", peer).model_copy(update={"host": "ns.example"})
        forwarder = UdpForwarder(g, [config], wall=rig.wall, clock=rig.clock, resolver=slow_dns)
        starting = asyncio.create_task(forwarder.start())
        await asyncio.sleep(0)  # start() has begun
        for n in range(40):
            g.handle(event(0, data(0x26000001, n), 1_000_000 + n * 300_000), now=rig.clock.monotonic())
            rig.clock.advance(0.3)
            g.emit_due(rig.clock.monotonic())
            await asyncio.sleep(dns_s / 40)
        await starting
        try:
            await until(lambda: len(peer.rxpk) == 40)
        finally:
            await forwarder.close()
        fcnts = [int.from_bytes(rx.data[6:8], "little") for rx in peer.rxpk]
        assert fcnts == list(range(40))

    try:
        run(main())
    finally:
        rig.close()


def test_tokens_are_random(tmp_path: Path) -> None:
    """Before: tokens counted up by one, so anyone could tell the next one."""
    rig = make_rig(tmp_path, modules=False)

    async def main() -> None:
        peer = await start_peer()
        async with UdpForwarder(rig.gateway, [server("ns", peer)], wall=rig.wall, clock=rig.clock) as fwd:
            for n in range(60):
                await feed(fwd, rig.clock, n, 1)
                await asyncio.sleep(0)
            await until(lambda: len(peer.pushes) >= 30)
        tokens = [p.token for p in peer.pushes]
        steps = [(b - a) & 0xFFFF for a, b in itertools.pairwise(tokens)]
        assert sum(step == 1 for step in steps) <= 2 and len(set(tokens)) >= len(tokens) - 2

    try:
        run(main())
    finally:
        rig.close()


class SilentServer(asyncio.DatagramProtocol):
    """A server that receives but never acknowledges (and can be made to send forged ACKs)."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.pushes: list[gwmp.PushData] = []
        self.gateway: tuple[str, int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        packet = gwmp.decode(data)
        if isinstance(packet, gwmp.PushData) and packet.rxpk:
            self.pushes.append(packet)
            self.gateway = addr

    def ack(self, token: int) -> None:
        assert self.transport is not None and self.gateway is not None
        self.transport.sendto(gwmp.encode(gwmp.PushAck(token)), self.gateway)


def test_an_ack_counts_only_while_its_token_is_outstanding(tmp_path: Path) -> None:
    """Before: any token of the last 256 timed-out datagrams deleted their uplinks, whenever it came."""
    rig = make_rig(tmp_path, modules=False)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        _, ns = await loop.create_datagram_endpoint(SilentServer, local_addr=("127.0.0.1", 0))
        assert ns.transport is not None
        port = int(ns.transport.get_extra_info("sockname")[1])
        config = UdpServerConfig(name="ns", host="127.0.0.1", port_up=port, port_down=port, uplink_only=True,
                                 push_timeout_s=0.1, retry_interval_s=30.0, stat_interval_s=0)
        async with UdpForwarder(rig.gateway, [config], wall=rig.wall, clock=rig.clock) as fwd:
            link = fwd.links["ns"]
            await feed(fwd, rig.clock, 0, 10)
            await until(lambda: len(ns.pushes) == 2)  # the live datagram, then (timed out) the first probe
            first, probe = ns.pushes
            assert numbers(list(first.rxpk)) == numbers(list(probe.rxpk)) == list(range(10))
            ns.ack(first.token)  # its uplinks went out again under another token: no longer outstanding
            ns.ack((probe.token + 1) & 0xFFFF)  # never issued
            await until(lambda: link.stats.bad_datagrams["ack-token"] == 2)
            assert len(link.store) == 10
            await asyncio.sleep(0.1 + LATE_ACK_TIMEOUTS * 0.1 + 0.2)  # the probe timed out long ago
            ns.ack(probe.token)
            await until(lambda: link.stats.bad_datagrams["ack-token"] == 3)
            assert len(link.store) == 10 and link.stats.late_acks == 0

    try:
        run(main())
    finally:
        rig.close()


def test_the_socket_is_bound_toward_the_server(tmp_path: Path) -> None:
    """Before: bound to 0.0.0.0, reachable from every interface; now to the address the server is reached from."""
    rig = make_rig(tmp_path, modules=False)

    async def main() -> None:
        peer = await start_peer()
        async with UdpForwarder(rig.gateway, [server("ns", peer)], wall=rig.wall, clock=rig.clock) as fwd:
            link = fwd.links["ns"]
            assert link.sock is not None and link.sock.getsockname()[0] == "127.0.0.1" == link.bound
            await feed(fwd, rig.clock, 0, 5)
            await until(lambda: len(peer.rxpk) == 5 and len(link.store) == 0)

    try:
        run(main())
    finally:
        rig.close()


def test_warnings_about_strangers_are_rate_limited_and_bounded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: one warning line per source address and port, each remembered forever (10,790 lines in 3.4 s)."""
    rig = make_rig(tmp_path, modules=False)
    strangers = 400

    async def main() -> None:
        peer = await start_peer()
        async with UdpForwarder(rig.gateway, [server("ns", peer)], wall=rig.wall, clock=rig.clock) as fwd:
            link = fwd.links["ns"]
            assert link.sock is not None
            target = link.sock.getsockname()[:2]
            for n in range(strangers):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.sendto(gwmp.encode(gwmp.PushAck(7)), target)
                if n % 20 == 19:
                    await asyncio.sleep(0.001)  # the forwarder reads them (no socket buffer overflow)
            await until(lambda: link.stats.bad_datagrams["unknown-address"] == strangers)
            assert len(link._unknown_named) <= UNKNOWN_SENDERS_REMEMBERED

    with caplog.at_level(logging.WARNING, logger="wisgate.lora.udp"):
        try:
            run(main())
        finally:
            rig.close()
    lines = [r for r in caplog.records if "not the configured server" in r.getMessage()]
    assert 1 <= len(lines) <= UNKNOWN_SENDER_BURST
