"""The uplink pipeline: parse, extend board time, merge copies, filter."""

from __future__ import annotations

from dataclasses import fields, replace

from wisgate.lora.core.filters import UplinkFilter
from wisgate.lora.core.pipeline import UplinkPipeline
from wisgate.lora.core.timebase import COUNTER_MASK
from wisgate.lora.core.types import CrcStatus, LoraModulation, RxInfo, UplinkFrame
from wisgate.lora.frames import crypto
from wisgate.lora.frames.phy import DataFrame, MType

SF7 = LoraModulation(7, 125_000)
KEY = bytes(16)


def uplink(
    board: int, count_us: int, payload: bytes, *, snr: float = 5.0, crc: CrcStatus = CrcStatus.OK
) -> UplinkFrame:
    return UplinkFrame(payload, 868_100_000, SF7, RxInfo(board, count_us, -90.0, snr, crc_status=crc))


def data(fcnt: int) -> bytes:
    frame = crypto.build_data_frame(
        mtype=MType.UNCONFIRMED_DATA_UP,
        dev_addr=0x26000001,
        fcnt32=fcnt,
        nwk_skey=KEY,
        app_skey=KEY,
        payload=b"hi",
        fport=1,
    )
    return frame.to_bytes()


def test_two_boards_merge_and_carry_extended_time() -> None:
    p = UplinkPipeline()
    p.push(uplink(0, COUNTER_MASK - 5, data(1)), now=0.0)  # board 0 epoch just before its wrap
    p.push(uplink(0, 10, data(2)), now=0.5)  # after the wrap
    p.push(uplink(1, 777, data(2), snr=9.0), now=0.501)
    assert p.pop_due(0.4)[0].frame is not None
    (out,) = p.pop_due(1.0)
    assert isinstance(out.frame, DataFrame) and out.frame.fcnt == 2
    assert [r.rx_info.board for r in out.uplink.receptions] == [1, 0]
    assert [r.rx_info.time_us for r in out.uplink.receptions] == [777, COUNTER_MASK + 1 + 10]


def test_non_lorawan_is_forwarded_or_filtered() -> None:
    p = UplinkPipeline()
    p.push(uplink(0, 1, b"\x41junk"), now=0.0)
    (out,) = p.pop_due(1.0)
    assert out.frame is None and "major version" in out.parse_error
    strict = UplinkPipeline(UplinkFilter(lorawan_only=True))
    assert strict.push(uplink(0, 1, b"\x41junk"), now=0.0) == "not-lorawan"
    assert strict.pop_due(1.0) == [] and strict.stats.dropped["not-lorawan"] == 1


def test_crc_bad_receptions_are_dropped_by_default() -> None:
    p = UplinkPipeline()
    p.push(uplink(0, 1, data(1), crc=CrcStatus.BAD), now=0.0)
    assert p.pop_due(1.0) == [] and p.stats.dropped["crc-bad"] == 1
    keep = UplinkPipeline(UplinkFilter(forward_crc_bad=True, lorawan_only=False))
    keep.push(uplink(0, 1, data(1), crc=CrcStatus.BAD), now=0.0)
    assert len(keep.pop_due(1.0)) == 1


def test_with_time_keeps_every_other_field() -> None:
    """with_time copies RxInfo field by field (it is on the hot path): a field added later must be copied too."""
    values: dict[str, object] = {
        "board": 3, "count_us": 123, "rssi": -99.5, "snr": 7.25, "channel": 4, "rf_chain": 1, "antenna": 2,
        "crc_status": CrcStatus.BAD, "time_us": 5, "rssi_signal": -101.0, "freq_offset_hz": -1200, "modem_id": 17,
    }
    assert set(values) == {f.name for f in fields(RxInfo)}, "a new RxInfo field: give it a value here"
    frame = UplinkFrame(b"\x40\x01", 868_100_000, LoraModulation(9, 125_000, "4/6"), RxInfo(**values))  # type: ignore[arg-type]
    timed = frame.with_time(1 << 40)
    assert timed == replace(frame, rx_info=replace(frame.rx_info, time_us=1 << 40))
