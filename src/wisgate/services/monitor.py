"""Reads every sensor on an interval; the latest rows are the board state other services show."""

from __future__ import annotations

import asyncio
import logging

from wisgate.services.status import read_status
from wisgate.services.supervisor import Context, ServiceFn

log = logging.getLogger("wisgate.monitor")


def monitor_service(interval_s: float) -> ServiceFn:
    async def run(context: Context) -> None:
        reported: set[str] = set()
        while True:
            rows = await context.bus.run(lambda: read_status(context.target))
            context.state["status"] = rows
            for row in rows:
                key = f"{row.device}:{row.value}"
                if not row.ok and key not in reported:
                    log.warning("%s: %s", row.device, row.value)
                    reported.add(key)
                elif row.ok:
                    reported = {k for k in reported if not k.startswith(f"{row.device}:")}
            log.info("status: %s", "; ".join(f"{r.device} {r.label} {r.value}" for r in rows if r.ok))
            await asyncio.sleep(interval_s)

    return run
