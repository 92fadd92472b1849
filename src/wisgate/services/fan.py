"""The fan service: the CPU temperature through a fan policy (closed loop by default, or a curve) to the EMC2301.

The duty is rewritten every interval even when unchanged, which also feeds the EMC2301's 4 s
watchdog (it would otherwise drive the fan at 100 %). A stalled or failing fan is an event once per
episode; a CPU temperature that cannot be read drives the fan at full speed until it can.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

from wisgate.chips.emc2301 import FanStatus
from wisgate.errors import ChipError, WisgateError
from wisgate.services.events import EventKind, Severity
from wisgate.services.fan_control import FanCurve, FanPolicy, PiController
from wisgate.services.readings import non_finite_name
from wisgate.services.state import FanState
from wisgate.services.supervisor import Context, ServiceFn

log = logging.getLogger("wisgate.fan")

#: whatever the policy says, a CPU this hot gets full airflow (the CM4 throttles at 80-85 °C)
CRITICAL_FALLBACK_C = 80.0

__all__ = ["FanCurve", "PiController", "fan_service"]


def held(controller: PiController | None, target_c: float, critical_c: float) -> PiController:
    """The closed loop for a temperature held through the API: the same one while the target stays. Full
    speed comes at the configured ``critical_c``, or just above a held target as high as that."""
    if controller is not None and controller.target_c == target_c:
        return controller
    return PiController(target_c=target_c, critical_c=max(critical_c, target_c + 1))


def fan_fault(status: FanStatus) -> str | None:
    if status.drive_failed:
        return "drive failure (the RPM loop cannot reach its target)"
    if status.spin_up_failed:
        return "spin-up failed"
    if status.stalled:
        return "stalled or unplugged"
    return None


def fan_service(policy: FanPolicy, interval_s: float) -> ServiceFn:
    async def run(context: Context) -> None:
        from wisgate.chips.emc2301 import EMC2301

        target = context.target
        fan = await context.bus.run(lambda: EMC2301.open(target.bus, target.addresses["fan"], clock=target.clock))
        sensor = target.cpu_temperature()
        duty = 0.0
        fault: str | None = None
        sensor_error: str | None = None
        holding: PiController | None = None
        critical_c = policy.critical_c if isinstance(policy, PiController) else CRITICAL_FALLBACK_C
        while True:
            mode = policy.name
            try:
                celsius: float | None = await asyncio.to_thread(sensor.read_celsius)
                if celsius is not None and not math.isfinite(celsius):
                    # no policy can act on it, and every comparison with NaN is false: as unreadable
                    raise ChipError(f"sensor returned {non_finite_name(celsius)}", chip="CPU temperature")
                sensor_error = None
            except (WisgateError, OSError) as exc:
                if sensor_error is None:
                    log.error("CPU temperature not read (%s): fan at full speed until it is", exc)
                celsius, sensor_error, mode = None, str(exc), "failsafe"
            now = target.clock.monotonic()
            manual = context.state.overrides.fan_duty(now)
            hold_c = context.state.overrides.fan_target(now)
            if manual is not None:
                duty, mode = manual, "manual"
            elif celsius is None or celsius >= CRITICAL_FALLBACK_C:
                duty = 100.0
            elif hold_c is not None:
                holding = held(holding, hold_c, critical_c)
                duty, mode = holding.duty(celsius, now), "closed-loop"
            else:
                duty = policy.duty(celsius, target.clock.monotonic())
            if hold_c is None:
                holding = None

            def apply(level: float = duty) -> tuple[float, str | None]:
                fan.set_duty(level)
                return fan.read_rpm(), fan_fault(fan.status())

            rpm, now_fault = await context.bus.run(apply)
            now_fault = now_fault if duty > 0 else None
            if now_fault != fault:
                _report_fault(context, now_fault, duty, rpm)
            fault = now_fault
            context.state.fan = FanState(cpu_c=celsius, duty_percent=duty, rpm=rpm, mode=mode, fault=fault,
                                         time=time.time(), target_c=hold_c)
            await asyncio.sleep(interval_s)

    return run


def _report_fault(context: Context, fault: str | None, duty: float, rpm: float) -> None:
    if fault is None:
        log.info("fan runs again (%.0f RPM)", rpm)
        context.publish(EventKind.FAN_OK, "fan", f"fan runs again ({rpm:.0f} RPM)", rpm=rpm)
        return
    log.warning("fan fault at %.0f %% duty (%.0f RPM): %s", duty, rpm, fault)
    kind = EventKind.FAN_DRIVE_FAIL if fault.startswith("drive") else EventKind.FAN_STALL
    context.publish(kind, "fan", f"fan {fault} at {duty:.0f} % duty ({rpm:.0f} RPM)", Severity.ALARM,
                    duty_percent=duty, rpm=rpm)
