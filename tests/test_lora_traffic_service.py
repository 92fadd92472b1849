"""The lora-traffic service records a gateway's downlinks from the moment the lora service sets it."""

from __future__ import annotations

import asyncio
import time

from wisgate.clock import SimClock
from wisgate.lora.core.gateway import Gateway
from wisgate.lora.core.types import LoraModulation, TxClass, TxRequest
from wisgate.services.supervisor import Supervisor
from wisgate.services.traffic import traffic_service
from wisgate.target import open_target

REQUEST = TxRequest(b"\x60" + bytes(12), 869_525_000, 14, LoraModulation(9, 125_000), tx_class=TxClass.C)


def test_downlinks_are_recorded_from_the_gateway_s_first_moment() -> None:
    target = open_target("sim")
    supervisor = Supervisor(target)
    supervisor.add("lora-traffic", traffic_service())
    links = supervisor.state.lora

    def recorded() -> int:
        return sum(sum(series) for series in links.traffic.summary(time.time())["downlinks"].values())

    async def main() -> list[int]:
        stop = asyncio.Event()
        running = asyncio.create_task(supervisor.run(stop))
        await asyncio.sleep(0.1)  # the service is waiting for a gateway
        counts = []
        first = Gateway("aa555a0000000000", [], clock=SimClock())  # no module: every downlink is refused
        links.set_gateway(first)
        await first.send_downlink(REQUEST)  # at once, in the same turn of the loop
        counts.append(recorded())
        second = Gateway("aa555a0000000000", [], clock=SimClock())  # the lora service restarted
        links.set_gateway(second)
        await first.send_downlink(REQUEST)  # the old one is not followed any more
        await second.send_downlink(REQUEST)
        counts.append(recorded())
        links.set_gateway(None)
        await second.send_downlink(REQUEST)
        counts.append(recorded())
        stop.set()
        await running
        return counts

    try:
        assert asyncio.run(asyncio.wait_for(main(), 20)) == [1, 2, 2]
        assert links.gateway_listeners == []  # the stopped service let go
    finally:
        target.close()
