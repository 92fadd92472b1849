"""The event stream and the history: ordered delivery to every subscriber (from any thread), bounded
queues that drop the oldest, readings bucketed into tiers, events that survive a restart, and the power
service putting everything on disk before it acts on a power failure."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from wisgate.services.events import Event, EventBus, EventKind, EventValue, Severity, Subscription
from wisgate.services.history import History, ReadOnlyHistory
from wisgate.services.power import PowerSettings, power_service
from wisgate.services.readings import number, text
from wisgate.services.state import BoardState
from wisgate.services.supervisor import Supervisor
from wisgate.sim.board import SimBoard
from wisgate.sim.target import SimTarget


def event(i: int, kind: EventKind = EventKind.OVERRIDE) -> Event:
    return Event(kind, "test", f"event {i}", data={"i": i})


# -- the event bus ---------------------------------------------------------------------------------


def test_every_subscriber_gets_every_event_in_order() -> None:
    bus = EventBus()
    stored: list[int] = []

    async def main() -> list[list[EventValue]]:
        bus.add_sink(lambda e: stored.append(e.seq))
        subs = [bus.subscribe() for _ in range(3)]
        for i in range(20):
            bus.publish(event(i))
        got = []
        for sub in subs:
            with sub:
                got.append([e.data["i"] async for e in take(sub, 20)])
                assert await sub.get(0.01) is None
        return got

    got = asyncio.run(main())
    assert got == [list(range(20))] * 3
    assert stored == list(range(1, 21))  # numbered in publishing order, the sink saw each once
    assert [e.seq for e in bus.recent] == list(range(1, 21))


def test_events_published_from_another_thread_arrive_in_order() -> None:
    bus = EventBus()

    async def main() -> tuple[list[EventValue], list[EventValue]]:
        first, second = bus.subscribe(), bus.subscribe()
        publisher = threading.Thread(target=lambda: [bus.publish(event(i)) for i in range(500)])
        publisher.start()  # while the loop runs: delivery goes through call_soon_threadsafe
        a = [e.data["i"] async for e in take(first, 500)]
        b = [e.data["i"] async for e in take(second, 500)]
        await asyncio.to_thread(publisher.join)
        return a, b

    a, b = asyncio.run(main())
    assert a == b == list(range(500))


async def take(subscription: Subscription, n: int) -> AsyncIterator[Event]:
    for _ in range(n):
        got = await subscription.get(5.0)
        assert got is not None, "an event published from the thread never arrived"
        yield got


def test_a_slow_subscriber_loses_its_oldest_events_and_counts_them() -> None:
    bus = EventBus()

    async def main() -> tuple[list[EventValue], int, list[EventValue], int]:
        slow, fast = bus.subscribe(maxsize=3), bus.subscribe(maxsize=100)
        for i in range(10):
            bus.publish(event(i))  # nobody reads meanwhile
        slow_got = [e.data["i"] for e in [await slow.get(0.1) for _ in range(4)] if e is not None]
        fast_got = [e.data["i"] for e in [await fast.get(0.1) for _ in range(10)] if e is not None]
        return slow_got, slow.dropped, fast_got, fast.dropped

    slow_got, slow_dropped, fast_got, fast_dropped = asyncio.run(main())
    assert slow_got == [7, 8, 9] and slow_dropped == 7
    assert fast_got == list(range(10)) and fast_dropped == 0


def test_a_closed_subscription_gets_nothing_more() -> None:
    bus = EventBus()

    async def main() -> Event | None:
        with bus.subscribe() as sub:
            pass
        bus.publish(event(1))
        return await sub.get(0.05)

    assert asyncio.run(main()) is None


# -- the history -----------------------------------------------------------------------------------


@pytest.fixture
def base() -> int:
    """A minute boundary an hour ago (inside both tiers' retention)."""
    return (int(time.time()) - 3600) // 60 * 60


def test_readings_are_bucketed_into_10_s_and_60_s_tiers(tmp_path: Path, base: int) -> None:
    history = History(tmp_path / "history.sqlite")
    values = [(1, 1.0), (5, 3.0), (12, 10.0), (19, 20.0), (61, 100.0)]
    for offset, value in values:
        history.add_readings([number("fan.rpm", "Fan", value, "rpm", "fan", base + offset),
                              text("supply", "supply", "ok", "power", base + offset)])
    # closed buckets are on disk already; the open ones (base+60) only after a flush
    assert [(s.t, s.mean) for s in history.samples("fan.rpm", since=base, step=10)] == [(base, 2.0),
                                                                                        (base + 10, 15.0)]
    history.flush()
    ten = history.samples("fan.rpm", since=base, step=10)
    assert [(s.t - base, s.mean, s.min, s.max, s.unit) for s in ten] == [
        (0, 2.0, 1.0, 3.0, "rpm"), (10, 15.0, 10.0, 20.0, "rpm"), (60, 100.0, 100.0, 100.0, "rpm")]
    minute = history.samples("fan.rpm", since=base, step=60)
    assert [(s.t - base, s.min, s.max) for s in minute] == [(0, 1.0, 20.0), (60, 100.0, 100.0)]
    assert minute[0].mean == pytest.approx(34.0 / 4)
    assert history.names() == ["fan.rpm"]  # text readings are not averaged
    # the finest tier that covers the range is chosen by default
    assert [s.t for s in history.samples("fan.rpm", since=base)] == [s.t for s in ten]
    history.close()


def test_events_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state" / "history.sqlite"
    writer = History(path)
    bus = EventBus()
    bus.add_sink(writer.add_event)
    bus.publish(Event(EventKind.SUPPLY_LOST, "power", "power supply lost", Severity.ALARM, time=1000.0))
    bus.publish(Event(EventKind.SUPPLY_RETURNED, "power", "back after 1.500 s", time=1001.5, data={"outage_s": 1.5}))
    writer.close()

    reopened = History(path)
    stored = reopened.events()
    assert [(e.kind, e.source, e.severity, e.time, dict(e.data)) for e in stored] == [
        (EventKind.SUPPLY_LOST, "power", Severity.ALARM, 1000.0, {}),
        (EventKind.SUPPLY_RETURNED, "power", Severity.INFO, 1001.5, {"outage_s": 1.5}),
    ]
    assert [e.message for e in reopened.events(after_seq=stored[0].seq)] == ["back after 1.500 s"]
    reopened.add_event(event(3))
    assert [e.seq for e in reopened.events()] == [1, 2, 3]  # numbering goes on after the restart
    reopened.close()


def test_a_reader_follows_a_running_writer(tmp_path: Path, base: int) -> None:
    path = tmp_path / "history.sqlite"
    with pytest.raises(FileNotFoundError, match="no history at"):
        ReadOnlyHistory(path)
    writer = History(path)
    writer.add_event(event(1))
    reader = ReadOnlyHistory(path)
    try:
        assert [e.data["i"] for e in reader.events()] == [1]
        writer.add_event(event(2))
        writer.add_readings([number("cpu.temperature", "CPU", 50.0, "°C", "cpu", base + 1)])
        writer.flush()
        assert [e.data["i"] for e in reader.events()] == [1, 2]
        assert [s.mean for s in reader.samples("cpu.temperature", since=base, step=10)] == [50.0]
    finally:
        reader.close()
        writer.close()


# -- the power service puts it all on disk first ---------------------------------------------------


def test_power_service_flushes_the_history_before_shutting_down(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    history = History(path)
    state = BoardState(history=history)
    state.events.add_sink(history.add_event)
    board = SimBoard(realtime=True)
    supervisor = Supervisor(SimTarget(board), state)
    supervisor.add("power", power_service(PowerSettings(debounce_s=0.02, shutdown_after_s=0.3)))
    seen_at_shutdown: dict[str, object] = {}
    reading_time = time.time()

    async def watch_for_shutdown() -> None:
        with state.events.subscribe() as sub:
            async for e in sub:
                if e.kind is EventKind.SHUTDOWN_RUN:
                    # what a reader finds on disk the moment the shutdown action runs
                    reader = ReadOnlyHistory(path)
                    seen_at_shutdown["kinds"] = [ev.kind for ev in reader.events()]
                    seen_at_shutdown["samples"] = reader.samples("probe.volts", since=reading_time - 60, step=10)
                    reader.close()
                    return

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        watcher = asyncio.create_task(watch_for_shutdown())
        # a reading whose bucket is still open: only a flush puts it on disk
        state.put_readings([number("probe.volts", "probe", 11.5, "V", "test", reading_time)])
        loop.call_later(0.2, board.env.supply.cut)
        running = asyncio.create_task(supervisor.run(stop))
        try:
            await asyncio.wait_for(watcher, 10.0)  # the shutdown is due 0.3 s after the cut
        finally:
            stop.set()
            await running

    asyncio.run(main())
    kinds = seen_at_shutdown["kinds"]
    assert isinstance(kinds, list)
    assert kinds[:2] == [EventKind.SUPPLY_LOST, EventKind.SHUTDOWN_SCHEDULED]
    samples = seen_at_shutdown["samples"]
    assert isinstance(samples, list) and [s.mean for s in samples] == [11.5]

    reopened = History(path)  # after the daemon stopped, as after a restart
    stored = [e for e in reopened.events() if e.source == "power"]
    assert [e.kind for e in stored][:3] == [EventKind.SUPPLY_LOST, EventKind.SHUTDOWN_SCHEDULED,
                                            EventKind.SHUTDOWN_RUN]
    assert stored[1].data["outage_s"] == pytest.approx(0.3)  # counted from the edge
    reopened.close()
