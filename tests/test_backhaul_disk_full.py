"""Both backhauls on a really small filesystem (a 1 MB tmpfs the test mounts): nothing lost while the server is up.

Before: on the UDP path a failing store write lost the batch whenever a backlog existed or the server
was down, and failed deletes made the replay send the same rows again and again; on the MQTT path a
store error ended the forwarder (and with it the LoRa service). Now a failing store degrades only that
server's link: uplinks wait in memory (unprotected), are still sent, deletes that failed are not sent
again, and the store works again by itself once space returns.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from chirpstack_api import gw
from lora_rig import Rig
from small_fs import fill, small_filesystem
from test_mqtt_forwarder import GATEWAY_ID, Broker, peer, received, running
from test_udp_forwarder import feed, make_rig, numbers, run, server, start_peer, until

from wisgate.lora.backhaul.mqtt_forwarder import MqttForwarder, MqttSettings, decode
from wisgate.lora.backhaul.store import UplinkStore
from wisgate.lora.backhaul.udp_forwarder import UdpForwarder
from wisgate.lora.backhaul.uplink_queue import UplinkQueue
from wisgate.lora.core.gateway import Gateway

FS_BYTES = 1 << 20


# -- UDP ----------------------------------------------------------------------------------------


def test_udp_full_disk_sends_live_unprotected_keeps_outage_uplinks_and_recovers(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, modules=False)

    async def main() -> None:
        with small_filesystem(tmp_path / "fs", FS_BYTES) as fs:
            filler = fill(fs)  # another process took the whole filesystem: the store cannot even be created
            peer = await start_peer()
            config = server("ns", peer, store_path=fs / "ns.db")
            async with UdpForwarder(rig.gateway, [config], wall=rig.wall, clock=rig.clock) as forwarder:
                link = forwarder.links["ns"]
                assert link.problem is not None and "ns.db" in link.problem
                await feed(forwarder, rig.clock, 0, 100)  # server up: sent live, unprotected
                await until(lambda: len(peer.rxpk) == 100 and len(link.store) == 0)
                assert link.sync_stats().unprotected == 100 and link.stats.store_errors >= 1
                peer.up = False  # an outage with the disk still full: the uplinks wait in memory
                await feed(forwarder, rig.clock, 100, 300)
                await until(lambda: not link.live)
                assert link.store.in_memory >= 290
                await peer.reconnect()
                await until(lambda: len(link.store) == 0 and not link.backlog)
                filler.unlink()  # space returns: the store opens by itself, no restart
                peer.up = False
                await feed(forwarder, rig.clock, 400, 300)
                # written: the writer thread may still be syncing the last batches when the memory is empty
                await until(lambda: link.store.problem is None and link.store.in_memory == 0 and not link.store.writing)
                assert isinstance(link.store.store, UplinkStore) and len(link.store.store) >= 290
                unprotected = link.sync_stats().unprotected
                await peer.reconnect()
                await until(lambda: len(link.store) == 0 and not link.backlog)
                assert link.problem is None and link.sync_stats().unprotected == unprotected
        got = Counter(numbers(peer.rxpk))
        assert set(got) == set(range(700))  # nothing lost: the outage on a full disk included
        firsts = list(dict.fromkeys(numbers(peer.rxpk)))
        assert firsts == sorted(firsts)

    try:
        run(main())
    finally:
        rig.close()


def test_udp_deletes_that_fail_never_cause_resends(tmp_path: Path) -> None:
    """A backlog replayed on a full disk: each acknowledged uplink is sent once although its delete fails.

    Before: the failed deletes left the rows queued, and the replay sent the same rows again and again.
    """
    rig = make_rig(tmp_path, modules=False)

    async def main() -> None:
        with small_filesystem(tmp_path / "fs", FS_BYTES) as fs:
            peer = await start_peer()
            config = server("ns", peer, store_path=fs / "ns.db")
            peer.up = False
            async with UdpForwarder(rig.gateway, [config], wall=rig.wall, clock=rig.clock) as forwarder:
                link = forwarder.links["ns"]
                await feed(forwarder, rig.clock, 0, 600)
                await until(lambda: not link.live)
                link.store.drain()  # the writer thread idle (it writes what comes in one transaction when busy)...
                disk = link.store.store
                assert isinstance(disk, UplinkStore) and len(disk) == 600
                disk._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # ...and the WAL gives its space back...
                filler = fill(fs)  # ...which another process takes with the rest of the disk during the outage
                await peer.reconnect()
                await until(lambda: len(link.store) == 0 and not link.backlog)
                await asyncio.sleep(0.3)  # several retry intervals: nothing is offered again
                failed = link.stats.store_errors
                filler.unlink()
                await feed(forwarder, rig.clock, 600, 10)  # the next write finds space: the deletes go through
                await until(lambda: link.store.problem is None and len(disk) == 0 and len(peer.rxpk) >= 610)
        got = numbers(peer.rxpk)
        assert failed >= 1  # some deletes did fail on the full disk
        assert Counter(got).most_common(1)[0][1] <= 2  # at most the probe and one window sent twice
        assert len(got) - 610 <= 4 * 12 and set(got) == set(range(610))

    try:
        run(main())
    finally:
        rig.close()


# -- MQTT ---------------------------------------------------------------------------------------


@pytest.fixture
def mqtt_broker(tmp_path: Path) -> Iterator[Broker]:
    (tmp_path / "broker").mkdir()
    made = Broker(tmp_path / "broker").start()
    yield made
    made.stop()


def mqtt_forwarder(gateway: Gateway, broker: Broker, path: Path) -> MqttForwarder:
    queue = UplinkQueue(opener=lambda: UplinkStore.recover(path, server="mqtt"), server="mqtt", retry_s=0.05)
    settings = MqttSettings(port=broker.port, reconnect_min_s=0.05, reconnect_max_s=0.2)
    return MqttForwarder(gateway, settings, queue)


def sent_numbers(payloads: list[bytes]) -> list[int]:
    return [int.from_bytes(decode(p, gw.UplinkFrame(), "protobuf").phy_payload, "big") for p in payloads]


async def feed_mqtt(forwarder: MqttForwarder, first: int, count: int) -> None:
    for n in range(first, first + count):
        forwarder.submit(received(n, 0.0))
        if n % 10 == 9:
            await asyncio.sleep(0)


def test_mqtt_full_disk_never_stops_the_forwarder_and_loses_nothing(
    tmp_path: Path, mqtt_broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    rig = Rig(tmp_path, gateway_id=GATEWAY_ID, modules=False)

    async def main() -> None:
        broker = mqtt_broker
        with small_filesystem(tmp_path / "fs", FS_BYTES) as fs:
            filler = fill(fs)
            forwarder = mqtt_forwarder(rig.gateway, broker, fs / "mqtt.db")
            async with peer(broker, identifier="ns-full", clean=False) as ns, running(forwarder) as task:
                await feed_mqtt(forwarder, 0, 100)  # broker up, disk full: published, unprotected
                await ns.wait_for(lambda: ns.ups == 100)
                got = sent_numbers(ns.on("/event/up"))
                async with asyncio.timeout(5):
                    while forwarder.backlog:  # every PUBACK seen
                        await asyncio.sleep(0.01)
                assert forwarder.snapshot()["unprotected"] == 100 and forwarder.snapshot()["ok"] is False
            async with running(forwarder) as task:
                broker.stop()  # an outage with the disk full: the uplinks wait in memory
                async with asyncio.timeout(5):
                    while forwarder.connected.is_set():
                        await asyncio.sleep(0.01)
                await feed_mqtt(forwarder, 100, 200)
                await asyncio.sleep(0.2)
                assert not task.done() and forwarder.store.in_memory == 200
                broker.start()
                async with asyncio.timeout(5):
                    while forwarder.backlog:
                        await asyncio.sleep(0.01)
                filler.unlink()  # space returns: the store opens by itself
                await feed_mqtt(forwarder, 300, 50)
                async with asyncio.timeout(5):
                    while forwarder.backlog or forwarder.store.problem is not None:
                        await asyncio.sleep(0.01)
                assert forwarder.snapshot()["ok"] is True and not task.done()
            async with peer(broker, identifier="ns-full", clean=False) as ns:
                await ns.wait_for(lambda: ns.ups == 250)
                got += sent_numbers(ns.on("/event/up"))
            forwarder.store.close()
        assert sorted(got) == list(range(350))  # nothing lost, the outage on a full disk included

    with caplog.at_level(logging.WARNING):
        run(main())
    rig.close()


def test_mqtt_stop_on_a_full_disk_names_the_uplinks_it_could_not_keep(
    tmp_path: Path, mqtt_broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: the failing batch was dropped before the write and the stop message said 0 uplinks."""
    rig = Rig(tmp_path, gateway_id=GATEWAY_ID, modules=False)

    async def main() -> None:
        with small_filesystem(tmp_path / "fs", FS_BYTES) as fs:
            forwarder = mqtt_forwarder(rig.gateway, mqtt_broker, fs / "mqtt.db")
            mqtt_broker.stop()
            task = asyncio.create_task(forwarder.run())
            await feed_mqtt(forwarder, 0, 20)  # stored
            await asyncio.sleep(0.05)
            fill(fs)
            await feed_mqtt(forwarder, 20, 30)  # the disk is full: in memory
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            forwarder.store.close()
            assert forwarder.store.lost_at_close == 30

    with caplog.at_level(logging.ERROR):
        run(main())
    rig.close()
    assert any("30 uplinks held in memory could not be stored and are lost at stop" in r.getMessage()
               for r in caplog.records)
