"""The Concentratord backend against the simulated daemon, over real ZeroMQ sockets (ipc)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq
from chirpstack_api import gw

from wisgate.clock import SimClock
from wisgate.lora.backends.concentratord.client import ConcentratordBackend, ConcentratordError
from wisgate.lora.core.types import LoraModulation, Malformed, UplinkFrame
from wisgate.sim.concentratord import SimConcentratord, SimModule


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[SimConcentratord, str, str]]:
    events, commands = f"ipc://{tmp_path}/event", f"ipc://{tmp_path}/command"
    clock = SimClock(100.0)
    sim = SimConcentratord(
        SimModule("0016c001ff10a235", board=1, counter_offset_us=0xFFFF_0000),
        clock=clock, event_url=events, command_url=commands,
    ).start()
    yield sim, events, commands
    sim.stop()


async def first_event(backend: ConcentratordBackend, publish: object) -> UplinkFrame | Malformed:
    stream = backend.events()
    task = asyncio.ensure_future(stream.__anext__())
    # a PUB/SUB pair drops messages sent before the subscription is joined: publish until one lands
    for _ in range(100):
        publish()  # type: ignore[operator]
        done, _ = await asyncio.wait([task], timeout=0.02)
        if done:
            return task.result()
    raise AssertionError("no event received")


def test_uplink_event_carries_the_counter_as_context(daemon: tuple[SimConcentratord, str, str]) -> None:
    sim, events, commands = daemon

    async def main() -> UplinkFrame | Malformed:
        backend = ConcentratordBackend(board=1, event_url=events, command_url=commands)
        try:
            return await first_event(
                backend,
                lambda: sim.receive(b"\x40\x01\x02\x03\x04", frequency=868_100_000, spreading_factor=7,
                                    rssi=-80, snr=7.5),
            )
        finally:
            backend.close()

    frame = asyncio.run(main())
    assert isinstance(frame, UplinkFrame)  # the backend hands the core its own types, not protobufs
    assert frame.phy_payload == b"\x40\x01\x02\x03\x04"
    assert frame.frequency_hz == 868_100_000
    assert frame.modulation == LoraModulation(7, 125_000, "4/5")
    assert frame.rx_info.board == 1 and frame.rx_info.rssi == -80
    # 100 s of clock plus the counter offset, wrapped at 2^32
    assert frame.rx_info.count_us == (100_000_000 + 0xFFFF_0000) & 0xFFFFFFFF


def test_commands_gateway_id_and_downlink_ack(daemon: tuple[SimConcentratord, str, str]) -> None:
    sim, events, commands = daemon

    async def main() -> tuple[str, gw.DownlinkTxAck, int]:
        backend = ConcentratordBackend(board=1, event_url=events, command_url=commands)
        try:
            gateway_id = await backend.gateway_id()
            frame = gw.DownlinkFrame(downlink_id=7)
            bad = frame.items.add(phy_payload=b"\x60rx1")
            bad.tx_info.frequency = 915_000_000  # outside the module's TX range
            bad.tx_info.power = 14
            bad.tx_info.modulation.lora.spreading_factor = 9
            bad.tx_info.modulation.lora.bandwidth = 125_000
            bad.tx_info.modulation.lora.code_rate = gw.CR_4_5
            good = frame.items.add(phy_payload=b"\x60rx2")
            good.tx_info.frequency = 869_525_000
            good.tx_info.power = 14
            good.tx_info.modulation.CopyFrom(bad.tx_info.modulation)
            uplink_count = sim.count_us()
            good.tx_info.context = uplink_count.to_bytes(4, "big")
            good.tx_info.timing.delay.delay.seconds = 2
            return gateway_id, await backend.send_frame(frame), uplink_count
        finally:
            backend.close()

    gateway_id, ack, uplink_count = asyncio.run(main())
    assert gateway_id == "0016c001ff10a235"
    assert [item.status for item in ack.items] == [gw.TX_FREQ, gw.OK]
    assert ack.downlink_id == 7
    (sent,) = sim.module.transmissions
    assert sent.item.phy_payload == b"\x60rx2"
    assert sent.count_us == (uplink_count + 2_000_000) & 0xFFFFFFFF


def test_malformed_events_are_counted_and_yielded_as_malformed(daemon: tuple[SimConcentratord, str, str]) -> None:
    sim, events, commands = daemon
    no_counter = gw.Event()
    no_counter.uplink_frame.phy_payload = b"\x40bad"
    no_counter.uplink_frame.tx_info.modulation.lora.spreading_factor = 7
    no_counter.uplink_frame.rx_info.context = b"\x01"

    async def main() -> tuple[ConcentratordBackend, list[UplinkFrame | Malformed]]:
        backend = ConcentratordBackend(board=1, event_url=events, command_url=commands)
        seen: list[UplinkFrame | Malformed] = []

        def publish() -> None:
            sim.publish_raw(b"\xff\xff\xff")
            sim.publish_raw(no_counter.SerializeToString())
            sim.receive(b"\x40ok", frequency=868_300_000, spreading_factor=9, rssi=-100, snr=-3.0)

        stream = backend.events()
        seen.append(await first_event(backend, publish))
        publish()  # subscribed now: this round arrives whole
        while True:
            try:
                seen.append(await asyncio.wait_for(stream.__anext__(), 0.3))
            except TimeoutError:
                break
        backend.close()
        return backend, seen

    backend, seen = asyncio.run(main())
    good = [f for f in seen if isinstance(f, UplinkFrame)]
    bad = [m for m in seen if isinstance(m, Malformed)]
    assert good and all(f.phy_payload == b"\x40ok" for f in good)
    reasons = {m.reason.split(" ")[0] for m in bad if isinstance(m, Malformed)}
    assert {"undecodable", "board"} <= reasons  # the protobuf, then the missing counter
    assert all(m.board == 1 for m in bad if isinstance(m, Malformed))
    assert backend.stats.malformed_events >= 2


def test_silent_daemon_times_out_and_the_socket_recovers(tmp_path: Path) -> None:
    commands = f"ipc://{tmp_path}/command"
    context = zmq.Context.instance()
    mute = context.socket(zmq.REP)
    mute.bind(commands)

    async def main() -> str:
        backend = ConcentratordBackend(
            board=0, event_url=f"ipc://{tmp_path}/event", command_url=commands, command_timeout=0.2
        )
        try:
            with pytest.raises(ConcentratordError, match="no answer"):
                await backend.gateway_id()
            # the daemon wakes up: the next command works on a fresh socket
            mute.recv()  # the lost request
            mute.send(b"")
            loop = asyncio.get_running_loop()
            answer = loop.run_in_executor(None, lambda: (mute.recv(), mute.send(
                gw.GetGatewayIdResponse(gateway_id="aa").SerializeToString())))
            gateway_id = await backend.gateway_id()
            await answer
            return gateway_id
        finally:
            backend.close()

    try:
        assert asyncio.run(main()) == "aa"
    finally:
        mute.close(linger=0)
