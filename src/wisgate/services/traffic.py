"""The ``lora-traffic`` service: every merged uplink and every downlink of the running gateway into the
traffic log.

The gateway belongs to the lora service and is replaced when that service restarts, so this one
follows whichever gateway the state holds now, checking once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from wisgate.lora.core.dutyload import regulation_for
from wisgate.lora.core.gateway import Gateway
from wisgate.lora.core.traffic import TrafficLog
from wisgate.lora.core.types import TxRequest, TxResult
from wisgate.services.supervisor import Context, ServiceFn

CHECK_S = 1.0


async def _record(gateway: Gateway, log: TrafficLog) -> None:
    def downlink(request: TxRequest, result: TxResult) -> None:
        log.add_downlink(request, result, time.time())

    stop = gateway.on_downlink(downlink)
    try:
        async for received in gateway.uplinks():
            log.add(received, time.time())
    finally:
        stop()


def traffic_service(region: str = "EU868") -> ServiceFn:
    """``region``: ``[lora] region``, whose duty-cycle rules the load is measured against."""

    async def run(context: Context) -> None:
        links = context.state.lora
        links.traffic.duty.regulation = regulation_for(region)
        while True:
            gateway = links.gateway
            if gateway is None:
                await asyncio.sleep(CHECK_S)
                continue
            recording = asyncio.create_task(_record(gateway, links.traffic), name="lora-traffic-record")
            try:
                while links.gateway is gateway and not recording.done():
                    await asyncio.sleep(CHECK_S)
            finally:
                recording.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await recording

    return run
