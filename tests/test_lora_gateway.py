"""The one-gateway assembly: modules over real ZeroMQ sockets, dedup across boards, filters, downlinks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from chirpstack_api import gw
from lora_rig import KEY, Rig, data, event, proto_event

from wisgate.lora.backends.concentratord.wire import uplink_from_proto
from wisgate.lora.core.filters import UplinkFilter, parse_prefix
from wisgate.lora.core.gateway import UplinkSubscription
from wisgate.lora.core.types import LoraModulation, Malformed, TxClass, TxOutcome, TxRequest
from wisgate.lora.errors import ParseError
from wisgate.lora.frames.crypto import build_join_request
from wisgate.lora.plans.channels import Channel
from wisgate.sim.radio import RadioEnvironment, Receiver, SimDevice

SF7 = LoraModulation(7, 125_000)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = Rig(tmp_path, tx_powers=(12, 14, 16, 20))
    yield made
    made.close()


def test_same_frame_on_two_boards_is_one_uplink_best_first(rig: Rig) -> None:
    g = rig.gateway
    payload = data(0x26000001, 1)
    g.handle(event(0, payload, 1_000_000, snr=2.0), now=50.0)
    g.handle(event(1, payload, 4_000_000_000, snr=8.5), now=50.001)
    g.handle(event(0, data(0x26000001, 2), 2_000_000), now=50.002)
    assert g.emit_due(50.01) == []  # windows still open
    first, second = (r.uplink for r in g.emit_due(51.0))
    assert [r.rx_info.board for r in first.receptions] == [1, 0]
    assert first.best.rx_info.snr == 8.5
    assert len(second.receptions) == 1
    assert g.stats.module(1).channel(868_100_000).forwarded == 0
    assert g.stats.module(1).channel(868_100_000).duplicates == 1
    assert g.stats.uplinks == 2


def test_a_copy_after_its_uplink_left_early_is_a_duplicate_not_a_forward(rig: Rig) -> None:
    g = rig.gateway
    payload = data(0x26000001, 1)
    sf12 = LoraModulation(12, 125_000)
    g.handle(replace(event(0, payload, 1_000_000), modulation=sf12), now=50.0)
    assert len(g.emit_due(50.3)) == 1  # held 0.2 s, not the whole airtime window (over 1 s at SF12)
    g.handle(replace(event(1, payload, 4_000_000_000), modulation=sf12), now=50.5)  # inside that window
    assert g.emit_due(52.0) == []
    channel = g.stats.module(1).channel(868_100_000)
    assert (channel.forwarded, channel.duplicates) == (0, 1)


def test_timebase_survives_the_counter_wrap(rig: Rig) -> None:
    g = rig.gateway
    g.handle(event(1, data(0x26000001, 1), 0xFFFF_FF00), now=50.0)
    g.handle(event(1, data(0x26000001, 2), 0x0000_0100), now=50.001)
    a, b = (r.uplink for r in g.emit_due(52.0))
    assert b.best.rx_info.time_us - a.best.rx_info.time_us == 0x200


def test_filters_are_counted_per_reason(tmp_path: Path) -> None:
    rig = Rig(tmp_path, tx_powers=(12, 14, 16, 20), uplink_filter=UplinkFilter(
        dev_addr_prefixes=[parse_prefix("26000000/7")], join_eui_ranges=[(0x10, 0x1F)],
    ))
    try:
        g = rig.gateway
        g.handle(event(0, data(0x26000001, 1), 1), now=50.0)  # passes
        g.handle(event(0, data(0x48000001, 1), 2), now=50.0)  # other network
        g.handle(event(0, b"\x00\x01", 3), now=50.0)  # not LoRaWAN
        g.handle(event(0, data(0x26000001, 5), 4, crc=gw.BAD_CRC), now=50.0)
        join = build_join_request(join_eui=0x42, dev_eui=1, dev_nonce=1, app_key=KEY).to_bytes()
        g.handle(event(0, join, 5), now=50.0)
        bad = proto_event(data(0x26000001, 9), 6)
        bad.rx_info.context = b"\x01"
        with pytest.raises(ParseError, match="context is 1 bytes"):
            uplink_from_proto(bad, 0)  # the backend yields it as Malformed (test_lora_concentratord)
        g.malformed(Malformed(0, "uplink context is 1 bytes, not the 4-byte counter"))
        channel = g.stats.module(0).channel(868_100_000)
        assert dict(channel.dropped) == {"dev-addr": 1, "not-lorawan": 1, "crc-bad": 1, "join-eui": 1}
        assert channel.received == 5 and channel.crc_bad == 1 and channel.forwarded == 1
        assert g.stats.module(0).malformed == 1
        assert len(g.emit_due(60.0)) == 1
    finally:
        rig.close()


def test_end_to_end_radio_to_merged_uplinks_over_sockets(rig: Rig) -> None:
    ch = Channel(868_100_000)
    env = RadioEnvironment([Receiver(rig.daemons[0], [ch]), Receiver(rig.daemons[1], [ch])], seed=9)
    for n in range(5):
        env.add_device(SimDevice(0x26000100 + n, [ch], position=(300 + 100 * n, 0), mean_interval_s=1e6),
                       first_at=51.0 + n)

    async def main() -> list[object]:
        got: list[object] = []
        runner = asyncio.create_task(rig.gateway.run())

        async def collect() -> None:
            async for uplink in rig.gateway.uplinks():
                got.append(uplink)

        collector = asyncio.create_task(collect())
        await asyncio.sleep(0.3)  # let the SUB sockets join
        for _ in range(80):
            rig.clock.advance(0.1)
            env.run_until(rig.clock.monotonic())
            await asyncio.sleep(0.01)
            if len(got) >= 5:
                break
        runner.cancel()
        collector.cancel()
        await asyncio.gather(runner, collector, return_exceptions=True)
        return got

    uplinks = asyncio.run(main())
    assert len(uplinks) == 5
    assert all(len(u.uplink.receptions) == 2 for u in uplinks)  # type: ignore[attr-defined]
    assert rig.gateway.stats.module(0).channel(868_100_000).received == 5


def test_downlink_goes_to_the_module_that_can_transmit(rig: Rig) -> None:
    g = rig.gateway
    count0, count1 = rig.daemons[0].count_us(), rig.daemons[1].count_us()
    g.handle(event(0, data(0x26000001, 1), count0), now=50.0)
    g.handle(event(1, data(0x26000001, 1), count1), now=50.0)
    # heard best by board 1 (RX only): the answer must leave from board 0, one second after the uplink
    request = TxRequest(b"\x60" + bytes(12), 869_525_000, 14, LoraModulation(9, 125_000),
                        count_us=(count1 + 1_000_000) & 0xFFFFFFFF, board=1)

    async def main() -> tuple[object, object]:
        ok = await g.send_downlink(request)
        late = await g.send_downlink(TxRequest(b"\x60" + bytes(12), 869_525_000, 14, SF7,
                                               count_us=(count1 + 10_000) & 0xFFFFFFFF, board=1))
        return ok, late

    ok, late = asyncio.run(main())
    assert ok.outcome is TxOutcome.OK and ok.board == 0  # type: ignore[attr-defined]
    assert ok.count_us == count0 + 1_000_000  # type: ignore[attr-defined]
    assert late.outcome is TxOutcome.TOO_LATE  # type: ignore[attr-defined]
    (sent,) = rig.daemons[0].module.transmissions
    assert sent.count_us == count0 + 1_000_000
    assert g.stats.module(0).tx_outcomes["OK"] == 1


def test_module_refusal_is_reported_as_its_outcome(rig: Rig) -> None:
    g = rig.gateway
    count0 = rig.daemons[0].count_us()
    g.handle(event(0, data(0x26000001, 1), count0), now=50.0)
    # the gateway's power table has 27 dBm; this module's has not
    request = TxRequest(b"\x60" + bytes(12), 869_525_000, 27, SF7, count_us=count0 + 1_000_000, board=0)
    result = asyncio.run(g.send_downlink(request))
    assert result.outcome is TxOutcome.TX_POWER and "module said TX_POWER" in result.detail


def test_power_sent_is_the_table_entry_the_scheduler_chose(rig: Rig) -> None:
    g = rig.gateway
    count0 = rig.daemons[0].count_us()
    g.handle(event(0, data(0x26000001, 1), count0), now=50.0)
    request = TxRequest(b"\x60" + bytes(12), 869_525_000, 15, SF7, count_us=count0 + 1_000_000, board=0)
    result = asyncio.run(g.send_downlink(request))
    assert result.ok and result.power_dbm == 14 and result.warning is TxOutcome.TX_POWER
    assert rig.daemons[0].module.transmissions[0].item.tx_info.power == 14


def test_many_downlinks_over_time_do_not_fill_the_queue(rig: Rig) -> None:
    g = rig.gateway
    daemon = rig.daemons[0]

    async def main() -> list[TxOutcome]:
        outcomes = []
        for n in range(40):
            count = daemon.count_us()
            g.handle(event(0, data(0x26000001, n), count), now=rig.clock.monotonic())
            request = TxRequest(b"\x60" + bytes(12), 869_525_000, 14, SF7, count_us=count + 1_000_000, board=0)
            outcomes.append((await g.send_downlink(request)).outcome)
            rig.clock.advance(2.0)  # the last one has been sent
        return outcomes

    assert asyncio.run(main()) == [TxOutcome.OK] * 40


def test_concurrent_downlinks_share_the_command_socket(rig: Rig) -> None:
    g = rig.gateway
    count0 = rig.daemons[0].count_us()
    g.handle(event(0, data(0x26000001, 1), count0), now=50.0)

    async def main() -> list[TxOutcome]:
        requests = [
            TxRequest(b"\x60" + bytes(12), 869_525_000, 14, SF7, count_us=count0 + 1_000_000 * (n + 1), board=0)
            for n in range(6)
        ]
        results = await asyncio.gather(*(g.send_downlink(r) for r in requests))
        return [r.outcome for r in results]

    assert asyncio.run(main()) == [TxOutcome.OK] * 6
    assert len(rig.daemons[0].module.transmissions) == 6


def test_class_c_downlink_is_sent_immediately_on_a_synced_module(rig: Rig) -> None:
    g = rig.gateway
    count0 = rig.daemons[0].count_us()
    g.handle(event(0, data(0x26000001, 1), count0), now=50.0)
    request = TxRequest(b"\x60" + bytes(12), 869_525_000, 20, SF7, tx_class=TxClass.C)
    result = asyncio.run(g.send_downlink(request))
    assert result.ok and result.board == 0
    assert 80_000 <= (result.count_us or 0) - count0 <= 81_000
    (sent,) = rig.daemons[0].module.transmissions
    assert 80_000 <= sent.count_us - count0 <= 81_000


def test_class_c_leaves_on_the_module_s_own_counter_when_our_estimate_of_it_lags(rig: Rig) -> None:
    """The gateway maps a board's counter from its uplinks, each handled some time after the module stamped
    it (the module's polling, ZeroMQ, a busy event loop: 134 ms for the first uplink of a daemon starting).
    A class C downlink is "as soon as possible": the module reads its own counter and takes it at its now
    + 80 ms, so the lag cannot make it TOO_LATE (it did from 37.5 ms of lag, departing at our now + 80 ms)."""
    g = rig.gateway
    stamped = rig.daemons[0].count_us()
    rig.clock.advance(0.134)  # the uplink reaches the gateway's loop 134 ms after its count_us
    g.handle(event(0, data(0x26000001, 1), stamped), now=rig.clock.monotonic())
    request = TxRequest(b"\x60" + bytes(12), 869_525_000, 20, SF7, tx_class=TxClass.C)
    result = asyncio.run(g.send_downlink(request))
    assert result.ok and result.board == 0, result
    (sent,) = rig.daemons[0].module.transmissions
    assert sent.count_us == (rig.daemons[0].count_us() + 80_000) & 0xFFFFFFFF


def test_class_c_goes_out_on_a_module_not_heard_from_yet(rig: Rig) -> None:
    """Right after the gateway starts no uplink has mapped board 0's counter: the module still takes a
    class C downlink (at its now + 80 ms), as a packet forwarder reading its concentrator's counter would."""
    request = TxRequest(b"\x60" + bytes(12), 869_525_000, 20, SF7, tx_class=TxClass.C)
    result = asyncio.run(rig.gateway.send_downlink(request))
    assert result.ok and result.board == 0, result
    (sent,) = rig.daemons[0].module.transmissions
    assert sent.count_us == (rig.daemons[0].count_us() + 80_000) & 0xFFFFFFFF
    assert rig.gateway.stats.module(0).tx_outcomes["OK"] == 1


def test_a_downlink_moves_between_drifting_module_counters(rig: Rig) -> None:
    """Counters 80 ppm apart (8 ms per 100 s): each uplink re-syncs its board, so a moved downlink lands."""
    g = rig.gateway
    rig.daemons[0].module.drift_ppm, rig.daemons[1].module.drift_ppm = 40.0, -40.0
    rig.clock.advance(100.0)
    now = rig.clock.monotonic()
    count0, count1 = rig.daemons[0].count_us(), rig.daemons[1].count_us()
    ran0 = (count0 - rig.daemons[0].module.count_at(0)) & 0xFFFFFFFF
    ran1 = (count1 - rig.daemons[1].module.count_at(0)) & 0xFFFFFFFF
    assert ran0 - ran1 == round(now * 1e6 * 80e-6)  # they really drift apart (12 ms over 150 s)
    g.handle(event(0, data(0x26000001, 1), count0), now=now)
    g.handle(event(1, data(0x26000001, 2), count1), now=now)
    request = TxRequest(b"\x60" + bytes(12), 869_525_000, 14, LoraModulation(9, 125_000),
                        count_us=(count1 + 1_000_000) & 0xFFFFFFFF, board=1)
    result = asyncio.run(g.send_downlink(request))
    assert result.outcome is TxOutcome.OK and result.board == 0
    (sent,) = rig.daemons[0].module.transmissions
    # where board 0's counter really is one second later, up to the drift within that second (40 ppm of 1 s
    # on each side; a preamble at SF7 lasts 8 ms): without the fresh sync it would be 12 ms off
    error = ((sent.count_us - rig.daemons[0].module.count_at(now + 1.0)) + 2**31) % 2**32 - 2**31
    assert abs(error) <= 80


def test_a_module_that_never_answers_is_a_reported_problem(tmp_path: Path) -> None:
    (tmp_path / "gone").mkdir()
    (tmp_path / "alive").mkdir()
    gone = Rig(tmp_path / "gone", modules=False)
    alive = Rig(tmp_path / "alive")
    for backend in (link.backend for rig in (gone, alive) for link in rig.gateway.links.values()):
        backend.command_timeout = 0.2  # type: ignore[attr-defined]
    told: list[tuple[str, int, bool, str]] = []
    gone.gateway.on_module_state(lambda board, up, detail: told.append(("gone", board, up, detail)))
    stop = alive.gateway.on_module_state(lambda board, up, detail: told.append(("alive", board, up, detail)))
    try:
        problems = asyncio.run(gone.gateway.check_modules())
        assert sorted(problems) == [0, 1] and "does not answer" in problems[0]
        assert asyncio.run(alive.gateway.check_modules()) == {}
        asyncio.run(gone.gateway.check_modules())  # still silent: not told again
        assert [(who, board, up) for who, board, up, _ in told] == [
            ("gone", 0, False), ("gone", 1, False), ("alive", 0, True), ("alive", 1, True)]
        assert "no answer from" in told[0][3] and told[2][3] == "module answers"
        stop()
        asyncio.run(alive.gateway.check_modules())
        assert len(told) == 4
    finally:
        gone.close()
        alive.close()


def test_batch_and_single_readers_see_every_uplink_and_a_slow_reader_loses_its_oldest(rig: Rig) -> None:
    g = rig.gateway

    async def main() -> None:
        batches = g.uplink_batches()
        singles = g.uplinks()
        for n in range(1, 4):
            g.handle(event(0, data(0x26000001, n), n * 1000), now=50.0 + n * 0.001)
        g.emit_due(51.0)
        g.handle(event(0, data(0x26000001, 9), 9000), now=52.0)
        g.emit_due(53.0)
        got = await anext(batches)
        assert [r.uplink.phy_payload for r in got] == [data(0x26000001, n) for n in (1, 2, 3, 9)]
        assert [(await anext(singles)).uplink.phy_payload for _ in range(4)] == [r.uplink.phy_payload for r in got]
        await batches.aclose()  # type: ignore[attr-defined]
        await singles.aclose()  # type: ignore[attr-defined]
        assert g._subscribers == []

    asyncio.run(main())
    slow = UplinkSubscription(limit=3)
    uplinks = [object() for _ in range(5)]
    slow.add(uplinks[:2])  # type: ignore[arg-type]
    slow.add(uplinks[2:])  # type: ignore[arg-type]
    assert slow.lost == 2
    assert asyncio.run(slow.take()) == uplinks[2:]


def test_a_downlink_moved_to_a_module_quiet_for_a_minute_lands_on_its_drifted_counter(rig: Rig) -> None:
    """Board 0 runs 40 ppm fast and heard nothing for 60 s: 2.4 ms off without its estimated drift rate."""
    g = rig.gateway
    rig.daemons[0].module.drift_ppm, rig.daemons[1].module.drift_ppm = 40.0, -10.0
    fcnt = 0
    for _ in range(150):  # both boards hear an uplink every 2 s for 5 minutes
        rig.clock.advance(2.0)
        now = rig.clock.monotonic()
        for board in (0, 1):
            fcnt += 1
            g.handle(event(board, data(0x26000001, fcnt), rig.daemons[board].count_us()), now=now)
    assert abs((g.timebases[0].drift_ppm or 0) - 40.0) < 0.5 and abs((g.timebases[1].drift_ppm or 0) + 10.0) < 0.5
    rig.clock.advance(60.0)  # board 0 goes quiet; board 1 hears one more
    now = rig.clock.monotonic()
    count1 = rig.daemons[1].count_us()
    g.handle(event(1, data(0x26000001, fcnt + 1), count1), now=now)
    request = TxRequest(b"\x60" + bytes(12), 869_525_000, 14, LoraModulation(9, 125_000),
                        count_us=(count1 + 1_000_000) & 0xFFFFFFFF, board=1)
    result = asyncio.run(g.send_downlink(request))
    assert result.outcome is TxOutcome.OK and result.board == 0
    (sent,) = rig.daemons[0].module.transmissions
    error = ((sent.count_us - rig.daemons[0].module.count_at(now + 1.0)) + 2**31) % 2**32 - 2**31
    assert abs(error) <= 80  # one second of each board's drift at most; 2,400 µs without the rate
