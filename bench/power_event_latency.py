"""Power-fail latency: GPIO16 falling edge to the ``supply.lost`` event in an event-bus subscriber.

The simulated board runs in real time under the supervisor with the power service (debounce 0, no
shutdown), as ``wisgate run --sim`` would. Each cut pulls the simulated supply; the clock is the wall
clock from the moment the GPIO16 line's edge callbacks run (a callback registered before the service's
own, on the bus worker thread where the simulation moves) to the moment a subscriber on the event loop
receives the event. The time from pulling the plug to the edge (the simulation's 5 ms tick) is not
counted: on hardware that part is the kernel's.

Run: .venv/bin/python bench/power_event_latency.py [cuts, default 300]
"""

from __future__ import annotations

import asyncio
import logging
import random
import statistics
import sys
import time

from wisgate.services.events import EventKind, Subscription
from wisgate.services.power import PowerSettings, power_service
from wisgate.services.supervisor import Supervisor
from wisgate.sim.board import SimBoard
from wisgate.sim.target import SimTarget

TIMEOUT_S = 2.0


async def wait_for(subscription: Subscription, kind: EventKind) -> float:
    """perf_counter() when the next event of ``kind`` reached the subscriber."""
    while True:
        event = await subscription.get(TIMEOUT_S)
        if event is None:
            raise TimeoutError(f"no {kind} within {TIMEOUT_S} s")
        if event.kind is kind:
            return time.perf_counter()


async def measure(cuts: int) -> list[float]:
    board = SimBoard(realtime=True)
    supervisor = Supervisor(SimTarget(board))
    supervisor.add("power", power_service(PowerSettings(debounce_s=0.0, shutdown_after_s=0.0)))
    edges: list[float] = []
    # registered before the service takes the line, so it runs first among the edge callbacks
    board.power_fail.on_edge(lambda level, _t: edges.append(time.perf_counter()) if not level else None)
    stop = asyncio.Event()
    running = asyncio.create_task(supervisor.run(stop))
    rng = random.Random(7)
    latencies: list[float] = []
    try:
        with supervisor.state.events.subscribe() as subscription:
            await asyncio.sleep(0.2)  # the service is up and watching
            for _ in range(cuts):
                before = len(edges)
                board.env.supply.cut()
                received = await wait_for(subscription, EventKind.SUPPLY_LOST)
                if len(edges) != before + 1:
                    raise RuntimeError(f"expected one falling edge per cut, saw {len(edges) - before}")
                latencies.append(received - edges[-1])
                board.env.supply.restore()
                await wait_for(subscription, EventKind.SUPPLY_RETURNED)
                # land the next cut anywhere within the simulation's tick
                await asyncio.sleep(rng.uniform(0.0, 0.005))
    finally:
        stop.set()
        await running
    return latencies


def main() -> None:
    cuts = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    logging.getLogger("wisgate").setLevel(logging.ERROR)  # two warnings per cut would swamp the figures
    wall = time.perf_counter()
    latencies = sorted(asyncio.run(measure(cuts)))
    ms = [x * 1000 for x in latencies]
    p99 = ms[min(len(ms) - 1, round(0.99 * len(ms)) - 1)]
    print(f"GPIO16 edge -> supply.lost at a subscriber, {len(ms)} cuts, debounce 0, simulated board (real time)")
    print(f"p50 {statistics.median(ms):.3f} ms   p99 {p99:.3f} ms   max {ms[-1]:.3f} ms   min {ms[0]:.3f} ms")
    print(f"(wall time {time.perf_counter() - wall:.1f} s)")


if __name__ == "__main__":
    main()
