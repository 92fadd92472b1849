"""A simulated OTAA device joins through the whole gateway: a GWMP network server answers its join request.

The network server here is the test's own (join-accept built and encrypted as LoRaWAN 1.0.4 §6.2.6 says);
the device decrypts it, checks its MIC, derives its session keys and sends data the server can verify.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from lora_rig import Rig
from test_udp_forwarder import server, start_peer, txpk, until

from wisgate.lora.backhaul.udp_forwarder import UdpForwarder
from wisgate.lora.core.filters import UplinkFilter
from wisgate.lora.frames.crypto import data_mic, encrypt_join_accept
from wisgate.lora.frames.phy import DataFrame, JoinRequest, parse
from wisgate.lora.plans.channels import Channel
from wisgate.sim.radio import RadioEnvironment, Receiver, SimDevice

APP_KEY = bytes(range(0x40, 0x50))
CH = Channel(868_100_000)
DEV_ADDR = 0x26ABCDEF


def _aes(key: bytes, block: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def test_otaa_device_joins_through_a_network_server_and_sends_with_its_derived_keys(tmp_path: Path) -> None:
    rig = Rig(tmp_path, uplink_filter=UplinkFilter(lorawan_only=False))
    env = RadioEnvironment([Receiver(rig.daemons[0], [CH]), Receiver(rig.daemons[1], [CH])], seed=11)
    device = SimDevice(0x0, [CH], position=(300, 0), mean_interval_s=20, dev_eui=0x70B3D57ED0001234,
                       join_eui=0x70B3D57ED0000000, app_key=APP_KEY, duty_cycle=1.0)
    env.add_device(device, first_at=rig.clock.monotonic() + 0.1)

    async def main() -> None:
        peer = await start_peer()
        pump = asyncio.create_task(rig.gateway.run())
        try:
            async with UdpForwarder(rig.gateway, [server("ns", peer)], wall=rig.wall):
                await until(lambda: peer.pulls >= 1)

                async def air(seconds: float) -> None:
                    for _ in range(int(seconds / 0.1)):
                        rig.clock.advance(0.1)
                        env.run_until(rig.clock.monotonic())
                        await asyncio.sleep(0.002)

                while not any(rig.daemons[0].heard):
                    await air(0.1)
                await asyncio.sleep(0.05)  # the event reaches the gateway
                await air(0.3)  # past the dedup hold (0.2 s), then the clock waits for the server
                await until(lambda: any(isinstance(parse(rx.data), JoinRequest) for rx in peer.rxpk))
                request_rx = next(rx for rx in peer.rxpk if isinstance(parse(rx.data), JoinRequest))
                request = parse(request_rx.data)
                assert isinstance(request, JoinRequest) and request.dev_eui == device.dev_eui
                # the network server: AppNonce, NetID 0x000013, the DevAddr, DLSettings 0, RxDelay 1
                plain = b"\x20" + b"\x0a\x0b\x0c" + b"\x13\x00\x00" + DEV_ADDR.to_bytes(4, "little") + b"\x00\x01"
                accept = encrypt_join_accept(APP_KEY, plain)
                peer.pull_resp(txpk(tmst=(request_rx.tmst + 5_000_000) & 0xFFFFFFFF, data=accept,
                                    datr=request_rx.datr, freq_hz=request_rx.freq_hz), token=0x4242)
                await until(lambda: len(peer.tx_acks) == 1)
                assert peer.tx_acks[0].ack is None  # sent as asked
                await air(6.0)
                assert device.joined and device.dev_addr == DEV_ADDR
                heard = len(rig.daemons[0].heard)
                while len(rig.daemons[0].heard) == heard:
                    await air(1.0)
                await asyncio.sleep(0.05)
                await air(0.3)
                await until(lambda: any(isinstance(parse(rx.data), DataFrame) for rx in peer.rxpk))
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            assert peer.transport is not None
            peer.transport.close()
        data = next(f for f in (parse(rx.data) for rx in peer.rxpk) if isinstance(f, DataFrame))
        tail = b"\x0a\x0b\x0c" + b"\x13\x00\x00" + request.dev_nonce.to_bytes(2, "little") + bytes(7)
        nwk_skey = _aes(APP_KEY, b"\x01" + tail)  # the server's own derivation
        assert data.dev_addr == DEV_ADDR and data.fcnt == 0
        assert data.mic == data_mic(nwk_skey, data)

    try:
        asyncio.run(main())
    finally:
        rig.close()
