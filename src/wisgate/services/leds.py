"""The two LEDs on expander 0x27 (port 0 pins 6 and 7, active low) show what the board is doing.

Each LED has a role from the config: ``heartbeat`` (blinks once a second while the daemon runs),
``alarm`` (on while the supply is lost, the fan has a fault, a temperature limit is exceeded or a service
has failed), ``lora`` (a short flash for every uplink the gateway emits) or ``off``. An LED held on or off
through the API (``state.overrides.leds``) shows that instead until the hold ends. Lines go through the
target's expander (raw I2C, or the kernel's gpiochip on RAKPiOS), on the bus worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Sequence
from typing import Literal

from wisgate.board.expander_lines import LED_LINES, ExpanderLine
from wisgate.errors import WisgateError
from wisgate.services.state import BoardState
from wisgate.services.supervisor import Context, ServiceFn

log = logging.getLogger("wisgate.leds")

Role = Literal["heartbeat", "alarm", "lora", "off"]
TICK_S = 0.1
FLASH_S = 0.1


def alarm_active(state: BoardState) -> bool:
    power, fan, environment = state.power, state.fan, state.environment
    return bool(
        (power is not None and power.supply == "lost")
        or (fan is not None and fan.fault)
        or (environment is not None and environment.alarms)
        or any(not health.ok for health in state.services.values())
    )


def led_level(role: Role, state: BoardState, now: float, last_uplink: float) -> bool:
    """Whether an LED in ``role`` is lit at ``now`` (seconds, monotonic)."""
    if role == "heartbeat":
        return now % 1.0 < 0.1
    if role == "alarm":
        return alarm_active(state)
    if role == "lora":
        return now - last_uplink < FLASH_S
    return False


def leds_service(roles: Sequence[Role]) -> ServiceFn:
    lines = list(zip(LED_LINES, roles, strict=False))

    async def run(context: Context) -> None:
        target = context.target
        expander = await context.bus.run(lambda: target.expander(lines[0][0].expander))
        last_uplink = float("-inf")
        shown: dict[int, bool] = {}

        def drive(levels: list[tuple[ExpanderLine, bool]]) -> None:
            for line, lit in levels:
                expander.set_direction(line.pin, output=True, initial=lit != line.active_low)

        async def watch_uplinks() -> None:
            nonlocal last_uplink
            while True:
                gateway = context.state.lora.gateway
                if gateway is None:
                    await asyncio.sleep(1.0)
                    continue
                async for _ in gateway.uplinks():
                    last_uplink = time.monotonic()

        uplinks = asyncio.create_task(watch_uplinks()) if "lora" in roles else None
        overrides, clock = context.state.overrides, target.clock

        def level(line: ExpanderLine, role: Role, now: float) -> bool:
            held = overrides.led(line.pin, clock.monotonic())
            return led_level(role, context.state, now, last_uplink) if held is None else held

        try:
            while True:
                now = time.monotonic()
                changed = [(line, lit) for line, role in lines
                           if shown.get(line.pin) != (lit := level(line, role, now))]
                if changed:
                    await context.bus.run(functools.partial(drive, changed))
                    shown.update((line.pin, lit) for line, lit in changed)
                await asyncio.sleep(TICK_S)
        finally:
            if uplinks is not None:
                uplinks.cancel()
            with contextlib.suppress(WisgateError, OSError):  # dark when the daemon stops
                await context.bus.run(lambda: drive([(line, False) for line, _ in lines]))

    return run
