"""The simulated radio environment: real frames, propagation, capture, overlap between modules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from chirpstack_api import gw

from wisgate.clock import SimClock
from wisgate.lora.backends.concentratord.wire import uplink_from_proto
from wisgate.lora.backhaul import gwmp
from wisgate.lora.backhaul.mqtt_forwarder import uplink_message
from wisgate.lora.frames.airtime import lora_airtime
from wisgate.lora.frames.crypto import data_mic, join_request_mic
from wisgate.lora.frames.phy import DataFrame, JoinRequest, parse
from wisgate.lora.plans.channels import Channel, eu868, ism2400
from wisgate.sim.concentratord import SimConcentratord, SimModule
from wisgate.sim.radio import RadioEnvironment, Receiver, SimDevice


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[list[SimConcentratord]]:
    clock = SimClock()
    made = [
        SimConcentratord(
            SimModule(f"00000000000000{b:02x}", board=b, counter_offset_us=b * 1_000_000),
            clock=clock, event_url=f"ipc://{tmp_path}/e{b}", command_url=f"ipc://{tmp_path}/c{b}",
        )
        for b in range(2)
    ]
    yield made
    for daemon in made:
        daemon.stop()


CH = Channel(868_100_000)


def test_frames_are_valid_lorawan_with_correct_mic(daemons: list[SimConcentratord]) -> None:
    env = RadioEnvironment([Receiver(daemons[0], [CH])], seed=3)
    device = SimDevice(0x26011BDA, [CH], mean_interval_s=10, nwk_skey=b"\x11" * 16)
    env.add_device(device, first_at=0.0)
    env.run_until(600)
    heard = list(daemons[0].heard)
    assert len(heard) >= 5
    fcnts = []
    for uplink in heard:
        frame = parse(uplink.phy_payload)
        assert isinstance(frame, DataFrame)
        assert frame.dev_addr == 0x26011BDA
        assert frame.mic == data_mic(b"\x11" * 16, frame)
        fcnts.append(frame.fcnt)
    assert fcnts == list(range(len(heard)))


def test_otaa_device_joins_first(daemons: list[SimConcentratord]) -> None:
    env = RadioEnvironment([Receiver(daemons[0], [CH])], seed=4)
    env.add_device(SimDevice(0x01, [CH], dev_eui=0x70B3D57ED0000001, join_eui=0x1, app_key=b"\x22" * 16),
                   first_at=0.0)
    env.run_until(300)
    first = parse(daemons[0].heard[0].phy_payload)
    assert isinstance(first, JoinRequest)
    assert first.mic == join_request_mic(b"\x22" * 16, first)
    # nobody answers: it keeps asking (a new DevNonce each time) and never sends data with made-up keys
    frames = [parse(u.phy_payload) for u in daemons[0].heard]
    assert len(frames) >= 2 and all(isinstance(f, JoinRequest) for f in frames)
    assert len({f.dev_nonce for f in frames if isinstance(f, JoinRequest)}) == len(frames)


def test_counter_is_the_end_of_the_frame_on_each_module(daemons: list[SimConcentratord]) -> None:
    env = RadioEnvironment([Receiver(daemons[0], [CH]), Receiver(daemons[1], [CH])], seed=5)
    device = SimDevice(0x02, [CH], mean_interval_s=1000)
    env.add_device(device, first_at=10.0)
    env.run_until(11)
    (a,), (b,) = daemons[0].heard, daemons[1].heard
    assert a.phy_payload == b.phy_payload  # the same frame heard by both modules
    end_us = 10_000_000 + round(lora_airtime(len(a.phy_payload), 7, 125_000) * 1e6)
    assert int.from_bytes(a.rx_info.context, "big") == pytest.approx(end_us, abs=1)
    assert int.from_bytes(b.rx_info.context, "big") == pytest.approx(end_us + 1_000_000, abs=1)


def test_module_without_the_channel_hears_nothing(daemons: list[SimConcentratord]) -> None:
    env = RadioEnvironment([Receiver(daemons[0], [CH]), Receiver(daemons[1], [Channel(867_100_000)])])
    env.add_device(SimDevice(0x03, [CH]), first_at=1.0)
    env.run_until(2)
    assert len(daemons[0].heard) == 1 and len(daemons[1].heard) == 0


def test_capture_effect_and_collision(daemons: list[SimConcentratord]) -> None:
    env = RadioEnvironment([Receiver(daemons[0], [CH])], shadowing_db=0.0)
    near = SimDevice(0x10, [CH], position=(100, 0), mean_interval_s=1e6)
    far = SimDevice(0x11, [CH], position=(2000, 0), mean_interval_s=1e6)
    twin = SimDevice(0x12, [CH], position=(2000, 0.1), mean_interval_s=1e6)
    env.add_device(near, first_at=1.0)
    env.add_device(far, first_at=1.01)
    env.run_until(5)
    good = [parse(u.phy_payload) for u in daemons[0].heard if u.rx_info.crc_status == gw.CRC_OK]
    assert [f.dev_addr for f in good if isinstance(f, DataFrame)] == [0x10]  # the near one captures
    assert [u.rx_info.crc_status for u in daemons[0].heard].count(gw.BAD_CRC) == 1  # the far one
    daemons[0].heard.clear()
    env.add_device(twin, first_at=10.0)
    far_next = SimDevice(0x13, [CH], position=(2000, -0.1), mean_interval_s=1e6)
    env.add_device(far_next, first_at=10.005)
    env.run_until(15)
    # equal strength: neither survives
    assert [u.rx_info.crc_status for u in daemons[0].heard] == [gw.BAD_CRC, gw.BAD_CRC]
    assert env.stats.collisions == 3


def test_out_of_range_device_is_not_heard(daemons: list[SimConcentratord]) -> None:
    env = RadioEnvironment([Receiver(daemons[0], [CH])], shadowing_db=0.0)
    env.add_device(SimDevice(0x20, [CH], position=(200_000, 0), spreading_factor=7), first_at=1.0)
    env.run_until(3)
    assert len(daemons[0].heard) == 0 and env.stats.below_sensitivity == 1


def test_duty_cycle_spaces_transmissions(daemons: list[SimConcentratord]) -> None:
    env = RadioEnvironment([Receiver(daemons[0], [CH])])
    device = SimDevice(0x30, [CH], spreading_factor=12, mean_interval_s=1.0, position=(10, 0))
    env.add_device(device, first_at=0.0)
    env.run_until(3600)
    airtime = lora_airtime(25, 12, 125_000)
    assert 0 < len(daemons[0].heard) <= 3600 / (airtime * 100) + 1


def test_2g4_devices_reach_the_sx1280_module(daemons: list[SimConcentratord]) -> None:
    plan = ism2400((12, 10, 7))
    env = RadioEnvironment([Receiver(daemons[0], eu868().channels), Receiver(daemons[1], plan.channels)])
    env.add_device(SimDevice(0x40, plan.channels, position=(50, 0), mean_interval_s=30), first_at=0.0)
    env.run_until(600)
    assert not daemons[0].heard and daemons[1].heard
    for uplink in daemons[1].heard:
        assert uplink.tx_info.frequency in (2_403_000_000, 2_425_000_000, 2_479_000_000)
        sf = {2_403_000_000: 12, 2_425_000_000: 10, 2_479_000_000: 7}[uplink.tx_info.frequency]
        assert uplink.tx_info.modulation.lora.spreading_factor == sf
        # the SX1280 modem's coding rate (4/8 with long interleaving), the one its airtime was computed at
        assert uplink.tx_info.modulation.lora.code_rate == gw.CR_LI_4_8
    frame = uplink_from_proto(daemons[1].heard[0], 1)
    assert frame.modulation.code_rate == "4/8LI"  # type: ignore[union-attr]
    rxpk = json.loads(gwmp.encode_rxpk(gwmp.rxpk_from_frame(frame)))
    assert rxpk["codr"] == "4/8LI" and rxpk["datr"].endswith("BW812")
    message = uplink_message(frame, gateway_id="00" * 8, uplink_id=1, gw_time=0.0)
    assert message.tx_info.modulation.lora.code_rate == gw.CR_LI_4_8


def test_sx1302_extras_channel_rssi_signal_rssi_offset_and_modem(daemons: list[SimConcentratord]) -> None:
    env = RadioEnvironment([Receiver(daemons[0], eu868().channels)], seed=5)
    near = SimDevice(0x41, [CH], position=(100, 0), mean_interval_s=20)
    far = SimDevice(0x42, [CH], position=(6000, 0), spreading_factor=12, mean_interval_s=200)
    env.add_device(near, first_at=0.0)
    env.add_device(far, first_at=5.0)
    env.run_until(400)
    by_device: dict[int, list[gw.UplinkFrame]] = {}
    for uplink in daemons[0].heard:
        by_device.setdefault(parse(uplink.phy_payload).dev_addr, []).append(uplink)  # type: ignore[union-attr]
    assert by_device.keys() == {0x41, 0x42}
    for uplinks in by_device.values():
        frames = [uplink_from_proto(u, 0) for u in uplinks]
        # the channel RSSI holds the noise too, so it is never below the signal's, and far above it below the noise
        assert all(f.rx_info.rssi >= round(f.rx_info.rssi_signal or 0) for f in frames)
        assert all(f.rx_info.modem_id == f.rx_info.channel for f in frames)  # multi-SF channel: its IF chain
        offsets = {f.rx_info.freq_offset_hz for f in frames}
        assert len(offsets) == 1 and offsets != {0}  # one crystal per device, a few ppm off
    weak = uplink_from_proto(by_device[0x42][0], 0)
    assert weak.rx_info.snr < 0 and weak.rx_info.rssi - (weak.rx_info.rssi_signal or 0) > 1


def test_module_counters_drift_apart_by_their_crystals() -> None:
    fast = SimModule("00", board=0, counter_offset_us=0, drift_ppm=20.0)
    slow = SimModule("01", board=1, counter_offset_us=0, drift_ppm=-10.0)
    assert fast.count_at(0.0) == slow.count_at(0.0) == 0
    assert fast.count_at(100.0) - slow.count_at(100.0) == 3000  # 30 ppm of 100 s
    assert SimModule("02", counter_offset_us=0xFFFF_FFFF).count_at(1e-6) == 0  # wraps at 2^32
