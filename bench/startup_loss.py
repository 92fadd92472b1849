"""Uplinks lost while the UDP forwarder starts, under load: a normal start and one with a slow DNS answer.

The gateway emits uplinks at ``--rate`` per second from the moment the forwarder is started (as in
``wisgate run``, where the gateway and the backhaul start together); the forwarder's resolver answers
after ``--dns-s`` seconds (0 and 6 by default, the issue's slow answer). A GWMP peer on loopback
acknowledges and records. Printed per run: uplinks the gateway emitted, delivered, lost.

Usage: ``python bench/startup_loss.py [--rate 100] [--dns-s 0 6] [--seconds 10]``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from typing import cast

from wisgate.clock import SimClock
from wisgate.lora.backends.concentratord.client import ConcentratordBackend
from wisgate.lora.backhaul import gwmp
from wisgate.lora.backhaul.udp_forwarder import UdpForwarder, UdpServerConfig
from wisgate.lora.core.filters import UplinkFilter
from wisgate.lora.core.gateway import Gateway, ModuleLink
from wisgate.lora.core.jit import JitQueue
from wisgate.lora.core.types import LoraModulation, RxInfo, UplinkFrame


class Server(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: set[int] = set()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        packet = gwmp.decode(data)
        if isinstance(packet, gwmp.PushData):
            self.received.update(int.from_bytes(rx.data[:4], "big") for rx in packet.rxpk)
            self.transport.sendto(gwmp.encode(gwmp.PushAck(packet.token, packet.version)), addr)
        elif isinstance(packet, gwmp.PullData):
            self.transport.sendto(gwmp.encode(gwmp.PullAck(packet.token, packet.version)), addr)


async def start_under_load(rate: int, dns_s: float, seconds: float) -> tuple[int, int]:
    loop = asyncio.get_running_loop()
    _, server = await loop.create_datagram_endpoint(Server, local_addr=("127.0.0.1", 0))
    assert server.transport is not None
    port = int(server.transport.get_extra_info("sockname")[1])
    clock = SimClock(0.0)
    workdir = tempfile.mkdtemp(prefix="wisgate-startup-")
    backend = ConcentratordBackend(board=0, event_url=f"ipc://{workdir}/e0", command_url=f"ipc://{workdir}/c0")
    module = ModuleLink(0, backend, JitQueue(board=0, tx_freq_min_hz=863_000_000, tx_freq_max_hz=870_000_000,
                                             power_lut=(14,)))  # no daemon behind it: uplinks are handed in
    gateway = Gateway("aa555a0000000000", [module], clock=clock, uplink_filter=UplinkFilter(lorawan_only=False))

    async def resolver(host: str, port: int) -> str:
        await asyncio.sleep(dns_s)
        return "127.0.0.1"

    config = UdpServerConfig(name="ns", host="ns.example", port_up=port, port_down=port, stat_interval_s=0)
    forwarder = UdpForwarder(gateway, [config], resolver=resolver)
    # the daemon starts the backhaul task with the gateway's; its first step runs before any uplink can be emitted
    starting = asyncio.create_task(forwarder.start())
    await asyncio.sleep(0)
    emitted = 0
    for n in range(int(rate * seconds)):
        frame = UplinkFrame(n.to_bytes(4, "big") + bytes(16), 868_100_000, LoraModulation(7, 125_000),
                            RxInfo(board=0, count_us=n * 10_000, rssi=-80, snr=5.0))
        gateway.handle(frame, now=clock.monotonic())
        clock.advance(1.0)
        emitted += len(gateway.emit_due(clock.monotonic()))
        await asyncio.sleep(1 / rate)
    await starting
    link = forwarder.links["ns"]
    deadline = loop.time() + 10
    while (len(link.store) or link.backlog) and loop.time() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    await forwarder.close()
    server.transport.close()
    backend.close()
    return emitted, len(server.received)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=int, default=100, help="uplinks per second")
    parser.add_argument("--dns-s", type=float, nargs="+", default=[0.0, 6.0], help="DNS answer delays to run")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the gateway emits")
    args = parser.parse_args()
    print(f"{'DNS answer':>10} {'emitted':>8} {'delivered':>9} {'lost':>5}")
    for dns_s in args.dns_s:
        emitted, delivered = asyncio.run(start_under_load(args.rate, dns_s, args.seconds))
        print(f"{dns_s:>9.1f}s {emitted:>8} {delivered:>9} {emitted - delivered:>5}")


if __name__ == "__main__":
    main()
