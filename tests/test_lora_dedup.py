"""Deduplication: copies within the airtime window merge, best first; outside it they stay apart."""

from __future__ import annotations

import pytest

from wisgate.lora.core.dedup import Deduplicator
from wisgate.lora.core.types import CrcStatus, FskModulation, LoraModulation, RxInfo, UplinkFrame
from wisgate.lora.frames.airtime import lora_airtime

SF7 = LoraModulation(7, 125_000)
PAYLOAD = bytes.fromhex("40F17DBE4900020001954378762B11FF0D")
AIRTIME = lora_airtime(len(PAYLOAD), 7, 125_000)  # 51.5 ms


def frame(board: int, snr: float, rssi: float, payload: bytes = PAYLOAD, channel: int = 0) -> UplinkFrame:
    return UplinkFrame(
        payload, 868_100_000, SF7, RxInfo(board=board, count_us=1000, rssi=rssi, snr=snr, channel=channel)
    )


def test_two_boards_one_uplink_best_first() -> None:
    d = Deduplicator(margin_s=0.05)
    d.push(frame(0, snr=5.0, rssi=-90), now=10.0)
    d.push(frame(1, snr=9.5, rssi=-100), now=10.02)
    d.push(frame(1, snr=9.5, rssi=-80, channel=3), now=10.03)  # image on another channel, same SNR
    assert d.pop_due(10.0 + AIRTIME + 0.049) == []  # window still open
    (uplink,) = d.pop_due(10.0 + AIRTIME + 0.05)
    assert [(r.rx_info.board, r.rx_info.rssi) for r in uplink.receptions] == [(1, -80), (1, -100), (0, -90)]
    assert uplink.best.rx_info.channel == 3
    assert uplink.phy_payload == PAYLOAD
    assert uplink.first_seen == 10.0
    assert d.stats.duplicates == 2 and d.stats.emitted == 1
    assert d.pending == 0


def test_same_payload_after_the_window_is_a_second_uplink() -> None:
    d = Deduplicator(margin_s=0.05)
    d.push(frame(0, 5, -90), now=1.0)
    late = 1.0 + AIRTIME + 0.05 + 0.001
    d.push(frame(1, 6, -95), now=late)
    out = d.pop_due(late)
    assert len(out) == 1 and out[0].receptions[0].rx_info.board == 0
    (second,) = d.pop_due(late + AIRTIME + 0.05)
    assert second.best.rx_info.board == 1
    assert d.stats.emitted == 2 and d.stats.duplicates == 0


def test_copy_at_the_window_edge_still_merges() -> None:
    d = Deduplicator(margin_s=0.05)
    d.push(frame(0, 5, -90), now=0.0)
    d.push(frame(1, 6, -95), now=AIRTIME + 0.05)
    (uplink,) = d.flush()
    assert len(uplink.receptions) == 2


def test_different_payloads_do_not_merge_and_close_in_order() -> None:
    d = Deduplicator(margin_s=0.0)
    long_payload = bytes(50)
    d.push(frame(0, 1, -100, payload=long_payload), now=0.0)  # 97 ms airtime
    d.push(frame(0, 1, -100, payload=b"\x40short-frame"), now=0.01)
    assert d.next_due() == pytest.approx(0.01 + lora_airtime(12, 7, 125_000))
    out = d.pop_due(1.0)
    assert [u.phy_payload for u in out] == [b"\x40short-frame", long_payload]


def test_window_follows_the_modulation() -> None:
    d = Deduplicator(margin_s=0.0)
    slow = UplinkFrame(PAYLOAD, 868_100_000, LoraModulation(12, 125_000), RxInfo(0, 0, -120, -15))
    d.push(slow, now=0.0)
    assert d.next_due() == pytest.approx(lora_airtime(len(PAYLOAD), 12, 125_000))  # ~1.3 s
    fsk = UplinkFrame(b"\x40abc", 868_800_000, FskModulation(50_000), RxInfo(0, 0, -80, 0))
    d.push(fsk, now=0.0)
    assert d.pop_due(0.0024)[0].best.modulation == FskModulation(50_000)  # (4+11)*8/50k = 2.4 ms


def test_memory_is_bounded_by_forcing_the_first_closing_group_out() -> None:
    d = Deduplicator(margin_s=1.0, max_pending=3)
    for i in range(5):
        d.push(frame(0, 1, -100, payload=bytes([0x40, i])), now=0.0 + i * 0.001)
    assert d.pending == 3
    assert d.stats.forced == 2
    early = d.pop_due(0.0)
    assert [u.phy_payload[1] for u in early] == [0, 1]


def test_receptions_per_uplink_are_capped() -> None:
    d = Deduplicator()
    for board in range(20):
        d.push(frame(board % 4, snr=board, rssi=-100), now=0.0)
    (uplink,) = d.flush()
    assert len(uplink.receptions) == 16
    assert d.stats.dropped_receptions == 4


def test_bad_crc_copy_has_other_bytes_and_stays_apart() -> None:
    d = Deduplicator()
    d.push(frame(0, 5, -90), now=0.0)
    corrupted = UplinkFrame(PAYLOAD[:-1] + b"\x00", 868_100_000, SF7, RxInfo(1, 0, -90, 5, crc_status=CrcStatus.BAD))
    d.push(corrupted, now=0.0)
    assert len(d.flush()) == 2


def test_context_is_the_big_endian_counter() -> None:
    assert RxInfo(0, 0x01020304, 0, 0).context == b"\x01\x02\x03\x04"


def test_hold_emits_early_and_drops_late_copies_in_the_window() -> None:
    slow = LoraModulation(12, 125_000)
    airtime = lora_airtime(len(PAYLOAD), 12, 125_000)  # 1.3 s: longer than RX1

    def sf12(board: int, snr: float) -> UplinkFrame:
        return UplinkFrame(PAYLOAD, 868_100_000, slow, RxInfo(board, 0, -120, snr))

    d = Deduplicator(margin_s=0.05, hold_s=0.1)
    d.push(sf12(0, -10), now=0.0)
    d.push(sf12(1, -5), now=0.08)
    assert d.next_due() == pytest.approx(0.1)
    (uplink,) = d.pop_due(0.1)
    assert [r.rx_info.board for r in uplink.receptions] == [1, 0]
    d.push(sf12(2, 0), now=0.5)  # a straggler inside the 1.35 s window
    assert d.pop_due(2.0) == [] and d.stats.late_duplicates == 1
    d.push(sf12(0, -10), now=airtime + 0.05 + 0.001)  # after the window: a new transmission
    assert len(d.flush()) == 1 and d.stats.emitted == 2


def test_forced_emission_also_suppresses_later_copies() -> None:
    d = Deduplicator(margin_s=1.0, max_pending=1)
    d.push(frame(0, 1, -100, payload=b"\x40a"), now=0.0)
    d.push(frame(0, 1, -100, payload=b"\x40b"), now=0.001)  # forces "a" out
    d.push(frame(1, 2, -90, payload=b"\x40a"), now=0.002)  # copy of "a" after it left
    assert d.stats.forced == 1 and d.stats.late_duplicates == 1
    assert [u.phy_payload for u in d.flush()] == [b"\x40a", b"\x40b"]
