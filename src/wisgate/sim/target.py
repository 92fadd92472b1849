"""The simulated RAK7391 as a :class:`~wisgate.target.Target`: what the factory hands out on a laptop."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from wisgate.bus.gpio import GpioLine
from wisgate.bus.thermal_zone import CpuTemperature
from wisgate.clock import RealtimeSimClock, SimClock
from wisgate.errors import WisgateError
from wisgate.paths import runtime_dir, state_dir
from wisgate.sim.board import SimBoard
from wisgate.sim.chips.ssd1306 import SSD1306Model
from wisgate.sim.identity import SimIdentity
from wisgate.sim.shared_time import TimeShare
from wisgate.target import ConcentratorSet, FieldDevices, Target, concentratord_set

if TYPE_CHECKING:
    from wisgate.config import LoraSection, SimSection
    from wisgate.sim.lora_site_process import SiteProcess

log = logging.getLogger("wisgate.sim")

T = TypeVar("T")

#: how often a running daemon's simulation catches up with wall time (edges on simulated lines are seen
#: at most this late; 20 ms is the power-fail debounce, and a 5 ms tick cost the idle daemon 2 % of a core)
TICK_S = 0.02


class SimTarget(Target):
    def __init__(self, board: SimBoard) -> None:
        super().__init__()
        #: the simulated board (for scenarios and tests; services never look here)
        self.board = board
        self.bus = board.bus
        self.clock: SimClock = board.clock
        self.addresses = dict(board.addresses)
        #: host time (UTC) when the RTC was set from the kept offset
        self._host_at_start = datetime.now(UTC).replace(tzinfo=None)
        #: the simulated LoRa sites' processes of the running LoRa service (for tests; services never look here)
        self.lora_sites: list[SiteProcess] = []
        self._time_shares: list[TimeShare] = []

    @classmethod
    def open(
        cls, *, realtime: bool = False, addresses: Mapping[str, int] | None = None, state_file: Path | None = None,
        fresh: bool = False,
    ) -> SimTarget:
        """A simulated board; with ``state_file`` it has the identity and RTC time kept there (a new identity,
        written at once, where there is none or ``fresh``), saved again on :meth:`close`."""
        if state_file is None:
            return cls(SimBoard(realtime=realtime, addresses=dict(addresses or {})))
        identity = SimIdentity.load_or_new(state_file, fresh=fresh)
        identity.runs += 1
        identity.save()
        host_now = datetime.now(UTC).replace(tzinfo=None)
        rtc_time = None if identity.rtc_offset_s is None else host_now + timedelta(seconds=identity.rtc_offset_s)
        board = SimBoard(realtime=realtime, addresses=dict(addresses or {}), identity=identity, rtc_time=rtc_time)
        target = cls(board)
        target._host_at_start = host_now
        return target

    def _keep_identity(self) -> None:
        """Write what a real board would still have after power-off: keys, the RTC's time, counters."""
        identity = self.board.identity
        if identity is None:
            return
        identity.keys = self.board.secure_element.private_keys()
        rtc_now = self.board.rtc.now_precise()
        # the RTC was set at simulated time 0; what it gained beyond the simulated time since is what someone
        # set (a board opened only for a command lives milliseconds of simulated time, not the wall time)
        host_then = self._host_at_start + timedelta(seconds=self.clock.monotonic())
        identity.rtc_offset_s = None if rtc_now is None else round((rtc_now - host_then).total_seconds(), 3)
        identity.uptime_s += self.clock.monotonic()
        try:
            identity.save()
        except OSError as exc:
            log.warning("cannot save the simulated board's state %s: %s", identity.path, exc.strerror or exc)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._keep_identity()

    @property
    def description(self) -> str:
        return "simulated RAK7391"

    def _open_line(self, name: str, *, output: bool, initial: bool) -> GpioLine:
        return self.board.lines.line(name, output=output, initial=initial)

    def cpu_temperature(self) -> CpuTemperature:
        return self.board.cpu_temperature

    def power_fail_input(self, *, owner: str) -> GpioLine:
        return self.line("GPIO16", owner=owner)

    def concentrators(self, config: LoraSection) -> ConcentratorSet:
        if config.modules:
            # real Concentratord daemons named in the config run beside the simulated board
            return concentratord_set(config)
        from wisgate.lora.backends.concentratord.client import ConcentratordBackend
        from wisgate.lora.plans.site import sim_allocations
        from wisgate.sim.lora_site_process import SiteProcess
        from wisgate.sim.site_spec import SiteSpec, site_directory

        if not isinstance(self.clock, RealtimeSimClock):
            raise WisgateError("the simulated LoRa site runs in real time beside the board: open the simulated "
                               "board with realtime=True (as wisgate run does)")
        allocations = sim_allocations(config)
        directory = site_directory(runtime_dir())
        share = TimeShare(directory / "board-time", self.clock.wall_offset())
        self._time_shares.append(share)

        def closed() -> None:
            self.lora_sites.remove(site)
            self._time_shares.remove(share)
            share.close()
            shutil.rmtree(directory, ignore_errors=True)

        spec = SiteSpec.build(allocations, config.sim, directory, share.path)
        site = SiteProcess(spec, on_close=closed)
        self.lora_sites.append(site)
        modules = [
            (a.module, ConcentratordBackend(board=a.module.board, event_url=spec.event_url(a.module.board),
                                           command_url=spec.command_url(a.module.board)))
            for a in allocations
        ]
        return ConcentratorSet(modules, runner=site)

    # -- may ---------------------------------------------------------------------------------------

    def apply_scenario(self, scenario: SimSection) -> None:
        from wisgate.sim.scenario import apply_scenario

        apply_scenario(self.board, cpu_load=scenario.cpu_load, ambient_c=scenario.ambient_c,
                       supply_cuts=scenario.supply_cuts, analog=scenario.analog)

    def supply_powered(self) -> Callable[[], bool] | None:
        supply = self.board.env.supply
        return lambda: supply.powered

    @property
    def runs_shutdown(self) -> bool:
        return False

    @property
    def creates_missing_keys(self) -> bool:
        return True

    def save_display(self, path: Path) -> bool:
        model = self.board.models.get("oled")
        if not isinstance(model, SSD1306Model):
            return False
        model.save_png(path)
        return True

    def display_path(self) -> Path | None:
        return state_dir() / "oled.png"

    def field_devices(self) -> FieldDevices | None:
        from wisgate.sim.modbus_field import SimFieldDevices

        return SimFieldDevices(self.clock, self.board.env.climate)

    def sync_time(self) -> None:
        self.clock.sync()

    async def run_timed(self, func: Callable[[], T]) -> T:
        return await self.worker.run(func)

    async def run_background(self) -> None:
        """Move the simulation to wall time every ``TICK_S``, on the bus worker (its one thread), and tell the
        simulated LoRa site's process where the board's time now is; until cancelled."""
        self.worker.tick(self._tick, TICK_S)
        try:
            await asyncio.Future()  # the worker's thread does the ticking
        finally:
            self.worker.tick(None)

    def _tick(self) -> None:
        self.clock.sync()
        if self._time_shares and isinstance(self.clock, RealtimeSimClock):
            offset = self.clock.wall_offset()
            for share in list(self._time_shares):
                share.publish(offset)
