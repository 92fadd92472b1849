"""The power service: the supply's power-fail line (CM4 GPIO16), ride-through and a clean halt.

Facts (see docs/services.md): GPIO16 falls when the DC input goes away while the ultracapacitors keep
the board running, and rises when it returns (RAK's dying-gasp test and OLED service, pull-up). On
newer RAKPiOS gpio-keys owns the line and reports it as KEY_PROG1 input events instead. No public
source gives the hold-up time or an ADC channel that measures the supply, so the shutdown delay is
configuration and the voltage measurement is off unless an ADC channel and divider are configured.

An edge counts once the level has held for the debounce time: a micro-cut shorter than that is
ignored. A confirmed loss starts the shutdown countdown from the moment of the falling edge; the
supply returning before it ends cancels it and the outage is logged (ride-through).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from wisgate.aio import wait_event
from wisgate.chips.rtc_kernel import KernelRTC
from wisgate.clock import Clock
from wisgate.errors import WisgateError
from wisgate.services.events import EventKind, Severity
from wisgate.services.readings import Reading, text
from wisgate.services.settings import PowerSettings
from wisgate.services.state import PowerState, ShutdownRecord
from wisgate.services.supervisor import Context, ServiceFn

if TYPE_CHECKING:
    from wisgate.target import Rtc

log = logging.getLogger("wisgate.power")

POWER_FAIL_LINE = "GPIO16"
OWNER = "power"
MESSAGE = "POWER SUPPLY ISSUES!"
#: edges wake the service at once; this is only the longest sleep between looks at the deadlines
POLL_S = 1.0
SHUTDOWN_TIMEOUT_S = 30.0
#: times compared after subtraction: 10.02 - 10.0 < 0.02 in binary floating point
TIME_EPSILON = 1e-9
#: how often a running outage is written to the outage record
RECORD_EVERY_S = 0.5


@dataclass(frozen=True)
class SupplyLost:
    at: float


@dataclass(frozen=True)
class SupplyRestored:
    at: float
    outage_s: float


@dataclass(frozen=True)
class ShutdownDue:
    at: float
    outage_s: float


PowerEvent = SupplyLost | SupplyRestored | ShutdownDue


class PowerMonitor:
    """Debounced supply state from raw power-fail edges, and when to shut down. No I/O, no clock of its own:
    edges carry their times and :meth:`tick` is told the time."""

    def __init__(self, settings: PowerSettings, *, now: float, supply_ok: bool) -> None:
        self.settings = settings
        self.ok = supply_ok
        self.since: float | None = None if supply_ok else now
        self.events = 0 if supply_ok else 1
        #: edges that did not last the debounce time
        self.glitches = 0
        self.last_outage_s: float | None = None
        self.shutdown_issued = False
        self._pending: tuple[bool, float] | None = None
        self._out: list[PowerEvent] = [] if supply_ok else [SupplyLost(now)]

    @property
    def shutdown_at(self) -> float | None:
        if self.ok or self.since is None or self.settings.shutdown_after_s <= 0 or self.shutdown_issued:
            return None
        return self.since + self.settings.shutdown_after_s

    def edge(self, level: bool, t: float) -> None:
        self._settle(t)
        if level == self.ok:
            if self._pending is not None:
                self.glitches += 1
            self._pending = None
        elif self._pending is None:
            self._pending = (level, t)

    def tick(self, now: float) -> list[PowerEvent]:
        self._settle(now)
        out, self._out = self._out, []
        return out

    def next_deadline(self) -> float | None:
        times = [t for t in (self.shutdown_at,) if t is not None]
        if self._pending is not None:
            times.append(self._pending[1] + self.settings.debounce_s)
        return min(times, default=None)

    def _settle(self, now: float) -> None:
        if self._pending is not None and now - self._pending[1] >= self.settings.debounce_s - TIME_EPSILON:
            level, t = self._pending
            self._pending = None
            self._confirm(level, t)
        due = self.shutdown_at
        if due is not None and now >= due - TIME_EPSILON and self.since is not None:
            self.shutdown_issued = True
            self._out.append(ShutdownDue(due, due - self.since))

    def _confirm(self, level: bool, t: float) -> None:
        if not level:
            self.ok, self.since = False, t
            self.events += 1
            self._out.append(SupplyLost(t))
            return
        outage = t - (self.since if self.since is not None else t)
        self.ok, self.since, self.last_outage_s = True, None, outage
        self.shutdown_issued = False
        self._out.append(SupplyRestored(t, outage))


class OutageRecord:
    """A small JSON file rewritten atomically (write, fsync, rename) while the board runs on its capacitors."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.broken = False

    def take(self) -> dict[str, object] | None:
        """What the previous run left (then removed), or None."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.error("outage record %s unreadable (%s): ignored", self.path, exc)
            data = None
        self.clear()
        return data if isinstance(data, dict) else None

    def write(self, survived_s: float, phase: str) -> None:
        if self.broken:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            with open(tmp, "w", encoding="utf-8") as out:
                json.dump({"survived_s": round(survived_s, 3), "phase": phase}, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as exc:
            log.error("outage record %s cannot be written (%s): hold-up will not be measured", self.path, exc)
            self.broken = True

    def clear(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)


@dataclass
class PowerWatch:
    """The service's logic on one thread: edges in (from any thread), state and log out.

    ``powered``: where the target knows it (the simulated board), whether the board still runs (false
    once the ultracapacitors are spent), which gives the hold-up time. ``simulated``: the shutdown
    command is recorded, never run.
    """

    settings: PowerSettings
    clock: Clock
    level: bool
    powered: Callable[[], bool] | None = None
    simulated: bool = False
    monitor: PowerMonitor = field(init=False)
    hold_up_s: float | None = None
    #: the simulated board ran out of ultracapacitor charge during the current outage
    _browned: bool = False
    shutdown: ShutdownRecord | None = None
    #: the board browned out during an outage since the last look (reported once)
    browned_now: bool = False
    volts: float | None = None
    record: OutageRecord | None = None
    _last_record: float = float("-inf")
    _edges: deque[tuple[bool, float]] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        now = self.clock.monotonic()
        self.monitor = PowerMonitor(self.settings, now=now, supply_ok=self.level)
        if not self.level:
            log.warning("power-fail line %s is low at start: supply already lost", POWER_FAIL_LINE)
        if self.record is None and self.settings.outage_record is not None:
            self.record = OutageRecord(self.settings.outage_record)
        previous = self.record.take() if self.record else None
        if previous is not None:
            self._previous_outage(previous)

    def _previous_outage(self, previous: dict[str, object]) -> None:
        survived = previous.get("survived_s")
        if not isinstance(survived, int | float):
            return
        if previous.get("phase") == "on_caps":
            self.hold_up_s = float(survived)
            log.warning("the last outage ran the board down: it lasted at least %.1f s on the ultracapacitors "
                        "(hold-up time; keep [power] shutdown_after_s well below it)", survived)
        else:
            log.info("the last outage ended in the shutdown command after %.1f s on the ultracapacitors", survived)

    def edge(self, level: bool, t: float) -> None:
        with self._lock:
            self._edges.append((level, t))

    def poll(self) -> list[PowerEvent]:
        with self._lock:
            edges = list(self._edges)
            self._edges.clear()
        for level, t in edges:
            self.monitor.edge(level, t)
        now = self.clock.monotonic()
        events = self.monitor.tick(now)
        for event in events:
            self._report(event)
        self._check_brown_out(now)
        self._keep_record(now, events)
        return events

    def _keep_record(self, now: float, events: list[PowerEvent]) -> None:
        if self.record is None:
            return
        if any(isinstance(e, SupplyRestored) for e in events):
            self.record.clear()
        since = self.monitor.since
        alive = self.powered is None or self.powered()
        if since is None or not alive or now - self._last_record < RECORD_EVERY_S - TIME_EPSILON:
            return
        self._last_record = now
        self.record.write(now - since, "halting" if self.monitor.shutdown_issued else "on_caps")

    def _report(self, event: PowerEvent) -> None:
        after = self.settings.shutdown_after_s
        if isinstance(event, SupplyLost):
            self._browned = False
            plan = f"shutdown in {after:g} s unless it returns" if after > 0 else "no shutdown configured"
            log.warning("power supply lost: running on the ultracapacitors; %s", plan)
        elif isinstance(event, SupplyRestored):
            how = ("the board had browned out: on hardware it restarts now" if self._browned
                   else "ridden through on the ultracapacitors")
            log.warning("power supply back after %.3f s (%s)", event.outage_s, how)
        else:
            command = list(self.settings.shutdown_command)
            self.shutdown = ShutdownRecord(tuple(command), event.outage_s)
            if self.simulated:
                self.shutdown = ShutdownRecord(tuple(command), event.outage_s, result="simulated board: not run")
                log.warning("power supply still lost after %.1f s: would run %s (simulated board)",
                            event.outage_s, command)
            else:
                log.warning("power supply still lost after %.1f s: running %s", event.outage_s, command)

    @property
    def browned_out_last(self) -> bool:
        """The outage that just ended ran the board down (it did not ride through)."""
        return self._browned

    def _check_brown_out(self, now: float) -> None:
        if self.powered is None or self.monitor.ok or self._browned or self.powered():
            return
        assert self.monitor.since is not None
        self._browned = True
        self.browned_now = True
        self.hold_up_s = now - self.monitor.since
        after = self.settings.shutdown_after_s
        late = ""
        if after > 0 and not self.monitor.shutdown_issued:
            late = f", before the shutdown due after {after:g} s: lower [power] shutdown_after_s"
        log.error("simulated board browned out %.2f s after the supply went (ultracapacitors spent)%s",
                  self.hold_up_s, late)

    def ran_shutdown(self, result: str, ran: bool) -> None:
        if self.shutdown is not None:
            self.shutdown = ShutdownRecord(self.shutdown.command, self.shutdown.outage_s, ran, result)

    def wait_s(self, cap: float) -> float:
        if self.record is not None and not self.monitor.ok:
            cap = min(cap, RECORD_EVERY_S)
        deadline = self.monitor.next_deadline()
        if deadline is None:
            return cap
        return max(0.0, min(cap, deadline - self.clock.monotonic()))

    def state(self) -> PowerState:
        monitor, now = self.monitor, self.clock.monotonic()
        since = monitor.since
        wall_now = time.time()
        due = monitor.shutdown_at
        return PowerState(
            supply="ok" if monitor.ok else "lost",
            since=None if since is None else wall_now - (now - since),
            outage_s=None if since is None else now - since,
            losses=monitor.events,
            glitches=monitor.glitches,
            last_outage_s=monitor.last_outage_s,
            hold_up_s=self.hold_up_s,
            shutdown_in_s=None if due is None else max(0.0, due - now),
            shutdown=self.shutdown,
            volts=self.volts,
            beep_on_loss=self.settings.beep_on_loss,
            time=wall_now,
        )


def power_screen(power: PowerState | None) -> list[str] | None:
    """What the OLED shows while the supply is lost (None: show the normal pages)."""
    if power is None or power.supply != "lost":
        return None
    lines = ["", MESSAGE]
    if power.outage_s is not None:
        lines.append(f"on ultracaps {power.outage_s:5.1f} s")
    if power.shutdown_in_s is not None:
        lines.append(f"halt in {power.shutdown_in_s:5.1f} s")
    elif power.shutdown is not None:
        lines.append("SYSTEM SHUTDOWN")
    return lines


async def run_shutdown(command: Sequence[str]) -> tuple[str, bool]:
    """Run the command (an argument list, never a shell string); (what happened, whether it ran)."""
    try:
        process = await asyncio.create_subprocess_exec(*command)
    except OSError as exc:
        log.error("shutdown command %s could not start: %s", list(command), exc)
        return f"could not start: {exc}", False
    try:
        async with asyncio.timeout(SHUTDOWN_TIMEOUT_S):  # not wait_for: see wisgate.aio
            code = await process.wait()
    except TimeoutError:
        return f"still running after {SHUTDOWN_TIMEOUT_S:g} s", True
    if code != 0:
        log.error("shutdown command %s exited with status %d", list(command), code)
    return f"exit status {code}", True


def publish_events(context: Context, watch: PowerWatch, events: list[PowerEvent]) -> None:
    settings = watch.settings
    for event in events:
        if isinstance(event, SupplyLost):
            plan = (f"shutdown in {settings.shutdown_after_s:g} s unless it returns" if settings.shutdown_after_s > 0
                    else "no shutdown configured")
            context.publish(EventKind.SUPPLY_LOST, "power", f"power supply lost: on the ultracapacitors; {plan}",
                            Severity.ALARM)
        elif isinstance(event, SupplyRestored):
            context.publish(EventKind.SUPPLY_RETURNED, "power", f"power supply back after {event.outage_s:.3f} s",
                            outage_s=event.outage_s)
            if not watch.browned_out_last:
                context.publish(EventKind.SUPPLY_RIDE_THROUGH, "power",
                                f"outage of {event.outage_s:.3f} s ridden through on the ultracapacitors",
                                outage_s=event.outage_s)
        else:
            context.publish(EventKind.SHUTDOWN_SCHEDULED, "power",
                            f"supply still lost after {event.outage_s:.1f} s: shutting down "
                            f"({' '.join(settings.shutdown_command)})", Severity.ALARM, outage_s=event.outage_s)
    if watch.browned_now:
        watch.browned_now = False
        context.publish(EventKind.BROWN_OUT, "power",
                        f"the board browned out {watch.hold_up_s or 0:.2f} s after the supply went", Severity.ALARM,
                        hold_up_s=watch.hold_up_s)


def power_service(settings: PowerSettings) -> ServiceFn:
    async def run(context: Context) -> None:
        target = context.target
        line = target.power_fail_input(owner=OWNER)
        powered = target.supply_powered()
        watch = PowerWatch(settings, target.clock, line.read(), powered=powered, simulated=not target.runs_shutdown)
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()

        def on_edge(level: bool, t: float) -> None:
            watch.edge(level, t)
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is listening
                loop.call_soon_threadsafe(wake.set)

        line.on_edge(on_edge)
        voltage = _voltage_reader(context, settings)
        next_volts = float("-inf")
        try:
            while True:
                wake.clear()
                events = watch.poll()
                now = target.clock.monotonic()
                context.state.power = watch.state()
                publish_events(context, watch, events)
                if any(isinstance(e, ShutdownDue) for e in events):
                    await _before_shutdown(context, settings)
                    if not watch.simulated:
                        watch.ran_shutdown(*await run_shutdown(settings.shutdown_command))
                    context.publish(EventKind.SHUTDOWN_RUN, "power", f"shutdown command: "
                                    f"{watch.shutdown.result if watch.shutdown else ''}", Severity.ALARM)
                if voltage is not None and now >= next_volts:
                    watch.volts = await voltage()
                    next_volts = now + settings.voltage_interval_s
                context.state.power = state = watch.state()
                context.state.put_readings([supply_reading(state)])
                await wait_event(wake, watch.wait_s(POLL_S))
        finally:
            target.release_line(line.name, OWNER)

    return run


def supply_reading(state: PowerState) -> Reading:
    value = "ok" if state.supply == "ok" else "LOST (on ultracapacitors)"
    return text("supply", "supply", value, "power", state.time)


async def _before_shutdown(context: Context, settings: PowerSettings) -> None:
    """Everything reported so far goes to disk, and the wake alarm is armed, before the board halts."""
    history = context.state.history
    if history is not None:
        history.flush()
    if settings.wake_after_s is None:
        return
    target = context.target
    after = settings.wake_after_s
    try:
        when = await context.bus.run(lambda: arm_wake_alarm(target.rtc(), after))
    except (WisgateError, OSError) as exc:
        log.error("wake alarm not armed (%s): the board stays off until power is cycled", exc)
        return
    log.warning("wake alarm armed for %s UTC (in %g s)", f"{when:%Y-%m-%d %H:%M:%S}", after)
    context.publish(EventKind.WAKE_ALARM_SET, "power", f"RTC wake alarm set for {when:%Y-%m-%d %H:%M:%S} UTC",
                    after_s=after)


def arm_wake_alarm(rtc: Rtc, after_s: float) -> datetime.datetime:
    """Arm the RTC alarm ``after_s`` from the RTC's own time (UTC); the chip matches day, hour, minute, second."""
    when = rtc.read_time() + datetime.timedelta(seconds=after_s)
    if isinstance(rtc, KernelRTC):
        rtc.set_wake_alarm(when)
    else:
        rtc.set_alarm(second=when.second, minute=when.minute, hour=when.hour, day=when.day, interrupt=True)
    return when


def _voltage_reader(context: Context, settings: PowerSettings) -> Callable[[], Awaitable[float | None]] | None:
    """Reads the supply through the ADC and the configured divider; errors logged once per episode."""
    channel = settings.adc_channel
    if channel is None:
        return None
    from wisgate.chips.sgm58031 import SGM58031

    target = context.target
    adc: SGM58031 | None = None
    failed = False

    def read() -> float | None:
        nonlocal adc, failed
        try:
            if adc is None:
                adc = SGM58031.open(target.bus, target.addresses["adc"], clock=target.clock, gain=4.096)
            volts = adc.read_volts(channel) * settings.divider_ratio
        except WisgateError as exc:
            if not failed:
                log.error("supply voltage on ADC channel %d not read: %s", channel, exc)
            failed = True
            return None
        failed = False
        return volts

    async def measure() -> float | None:
        return await context.bus.run(read)

    return measure
