"""The ``lora-traffic`` service: every merged uplink and every downlink of the running gateway into the
traffic log.

The gateway belongs to the lora service and is replaced when that service restarts. This service is
told of each one as it is set (``LoraLinks.set_gateway``), so its downlinks are recorded from the first
(a downlink can be asked for the moment the gateway is there; polling for it once a second missed those
of a daemon's first second).
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


async def _uplinks(gateway: Gateway, log: TrafficLog) -> None:
    async for received in gateway.uplinks():
        log.add(received, time.time())


class _Recording:
    """One gateway's traffic into the log: its downlinks from now, its uplinks from the task's first step
    (before the gateway's own task emits any: created first)."""

    def __init__(self, gateway: Gateway, log: TrafficLog) -> None:
        def downlink(request: TxRequest, result: TxResult) -> None:
            log.add_downlink(request, result, time.time())

        self._stop = gateway.on_downlink(downlink)
        self.task = asyncio.create_task(_uplinks(gateway, log), name="lora-traffic-record")

    def end(self) -> None:
        self._stop()
        self.task.cancel()


def traffic_service(region: str = "EU868") -> ServiceFn:
    """``region``: ``[lora] region``, whose duty-cycle rules the load is measured against."""

    async def run(context: Context) -> None:
        links = context.state.lora
        links.traffic.duty.regulation = regulation_for(region)
        recording: _Recording | None = None
        failed = asyncio.Event()

        def ended(task: asyncio.Task[None]) -> None:
            # the current recording failing fails the service (the supervisor restarts it); a replaced one
            # was cancelled
            if recording is not None and task is recording.task and not task.cancelled():
                failed.set()

        def follow(gateway: Gateway | None) -> None:
            nonlocal recording
            if recording is not None:
                recording.end()
            recording = None if gateway is None else _Recording(gateway, links.traffic)
            if recording is not None:
                recording.task.add_done_callback(ended)

        links.gateway_listeners.append(follow)
        try:
            follow(links.gateway)  # the one set before this service started
            await failed.wait()
            if recording is not None:
                await recording.task  # raises what ended it
        finally:
            links.gateway_listeners.remove(follow)
            if recording is not None:
                recording.end()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await recording.task

    return run
