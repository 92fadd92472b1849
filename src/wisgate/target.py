"""What a command or the daemon runs against: one factory hands out every board resource.

Like gpiozero's pin factory, a :class:`Target` is the only place that knows whether the board is real
or simulated. Services and commands ask it for the bus, the clock, GPIO lines by name, the CPU
temperature, the power-fail input, the RTC, the expanders and the concentrator backends; they never
import a backend or ask which one they have.

A target **must** provide everything in the abstract methods. It **may** override the methods with a
default here (``supply_powered``, ``save_display``, ``run_background``, ``creates_missing_keys``):
the defaults say "this target has no such thing". The RTC and the expanders default to their drivers over
the target's own bus, so a backend (the simulator) never needs to import a driver.

Lines are reserved per owner (gpiozero's ``reserve_pins``): the same owner asking again gets the same
object, another owner gets :class:`LineInUseError` naming the holder, and :meth:`Target.release_line`
gives a line back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from wisgate.aio import BusWorker
from wisgate.bus.gpio import GpioLine
from wisgate.bus.i2c import I2CBus
from wisgate.bus.open import default_bus_spec
from wisgate.bus.thermal_zone import CpuTemperature
from wisgate.clock import Clock
from wisgate.errors import DeviceBusyError

if TYPE_CHECKING:
    from wisgate.chips.pcf85063a import PCF85063A
    from wisgate.chips.rtc_kernel import KernelRTC
    from wisgate.chips.tpt29555_kernel import Expander
    from wisgate.config import LoraSection, SimSection
    from wisgate.lora.backends.concentratord.client import ConcentratordBackend
    from wisgate.lora.plans.allocation import Module

    Rtc = PCF85063A | KernelRTC

T = TypeVar("T")


class LineInUseError(DeviceBusyError):
    """A GPIO line another owner holds."""


class ModuleRunner(Protocol):
    """What keeps a target's own concentrator modules going (the simulated site's process): started before the
    gateway, run beside it (telling it which module went down and why), closed after it."""

    async def start(self) -> None: ...

    async def run(self, down: Callable[[int, str], None]) -> None:
        """Keep the modules going until cancelled; ``down(board, reason)`` when one stops answering."""
        ...

    def close(self) -> None: ...


@dataclass
class ConcentratorSet:
    """The concentrator modules of a LoRa configuration: a backend per module, the module's radio
    description (for its JIT queue), and what runs them (a simulated site) where the target runs them itself."""

    modules: list[tuple[Module, ConcentratordBackend]]
    #: None when the modules run on their own (Concentratord daemons started by systemd)
    runner: ModuleRunner | None = None

    def close(self) -> None:
        for backend in (b for _, b in self.modules):
            backend.close()
        if self.runner is not None:
            self.runner.close()


class FieldDevices(Protocol):
    """ModBUS field devices the target brings along (the simulated board's, on a loopback TCP line)."""

    #: (name, device id, template) of each device
    devices: tuple[tuple[str, int, str], ...]
    #: templates of its own (as ``[industrial.modbus.templates.NAME]`` tables), for devices no shipped one fits
    templates: dict[str, dict[str, Any]]

    async def start(self) -> int:
        """Start serving; returns the loopback TCP port."""
        ...

    async def stop(self) -> None: ...


class Target(ABC):
    """The board: hardware (:mod:`wisgate.hardware`) or simulated (:mod:`wisgate.sim.target`)."""

    bus: I2CBus
    clock: Clock
    addresses: dict[str, int]

    def __init__(self) -> None:
        #: the one thread that talks to the bus (and, on the simulated board, runs the simulation)
        self.worker = BusWorker()
        self._owners: dict[str, str] = {}
        self._lines: dict[str, GpioLine] = {}
        self._lines_lock = threading.Lock()

    @property
    @abstractmethod
    def description(self) -> str:
        """For people: ``simulated RAK7391`` or ``RAK7391 on /dev/i2c-1``."""

    # -- lines -------------------------------------------------------------------------------------

    def line(self, name: str, *, owner: str, output: bool = False, initial: bool = False) -> GpioLine:
        """GPIO line ``name`` for ``owner``: the same object again for the same owner."""
        with self._lines_lock:
            holder = self._owners.get(name)
            if holder is not None and holder != owner:
                raise LineInUseError(f"line {name} is in use by {holder} (asked for by {owner})")
            if holder == owner:
                return self._lines[name]
            line = self._open_line(name, output=output, initial=initial)
            self._owners[name], self._lines[name] = owner, line
            return line

    def _adopt(self, line: GpioLine, *, owner: str) -> GpioLine:
        """Reserve a line opened another way (gpio-keys events standing in for a GPIO)."""
        with self._lines_lock:
            self._owners[line.name], self._lines[line.name] = owner, line
        return line

    def release_line(self, name: str, owner: str) -> None:
        with self._lines_lock:
            if self._owners.get(name) != owner:
                return
            del self._owners[name]
            self._lines.pop(name).close()

    def line_owner(self, name: str) -> str | None:
        return self._owners.get(name)

    def held_line(self, name: str) -> GpioLine | None:
        """The line ``name`` as its owner holds it (None: nobody holds it), for reading only."""
        with self._lines_lock:
            return self._lines.get(name)

    @abstractmethod
    def _open_line(self, name: str, *, output: bool, initial: bool) -> GpioLine:
        """Open line ``name`` (unreserved); raises KeyError or DeviceBusyError with a reason."""

    # -- devices -----------------------------------------------------------------------------------

    @abstractmethod
    def cpu_temperature(self) -> CpuTemperature: ...

    @abstractmethod
    def power_fail_input(self, *, owner: str) -> GpioLine:
        """The supply's power-fail input (GPIO16, or gpio-keys events where the kernel owns it)."""

    def rtc(self) -> Rtc:
        """The RTC: by default the PCF85063A driver over this target's bus (a target whose kernel owns the
        chip hands out the kernel's ``/dev/rtcN`` instead)."""
        from wisgate.chips.pcf85063a import PCF85063A

        return PCF85063A(self.bus, self.addresses["rtc"], clock=self.clock)

    def rtc_kernel_driver(self) -> str | None:
        """The kernel driver bound to the RTC's address, if any."""
        return self.bus.bound_driver(self.addresses["rtc"])

    def expander(self, name: str) -> Expander:
        """Expander ``expander1`` / ``expander2``: by default the TPT29555 driver over this target's bus (a
        target whose kernel's pca953x owns the chip hands out its gpiochip instead)."""
        from wisgate.chips.tpt29555 import TPT29555

        return TPT29555(self.bus, self.addresses[name], clock=self.clock)

    @abstractmethod
    def concentrators(self, config: LoraSection) -> ConcentratorSet:
        """Backends for the LoRa modules of ``config`` (an empty set when this target has none)."""

    # -- may ---------------------------------------------------------------------------------------

    def apply_scenario(self, scenario: SimSection) -> None:
        """Set up a ``[sim]`` scenario (CPU load, supply cuts...): only a simulated board has one."""
        if scenario.model_fields_set:
            logging.getLogger("wisgate").warning("[sim] is for the simulated board: ignored on %s", self.description)

    def supply_powered(self) -> Callable[[], bool] | None:
        """Whether the board still runs during an outage (known only where the hold-up is modelled)."""
        return None

    @property
    def remote_pid(self) -> int | None:
        """The PID of the daemon whose board this is, where a command reaches a running daemon's board."""
        return None

    @property
    def runs_shutdown(self) -> bool:
        """False where a shutdown command is only recorded (a simulated board has nothing to halt)."""
        return True

    @property
    def creates_missing_keys(self) -> bool:
        """True where an empty secure-element slot may be given a key (never on a customer's chip)."""
        return False

    def save_display(self, path: Path) -> bool:
        """Save what the OLED panel shows as a PNG (where the panel can be seen); False if it cannot."""
        return False

    def display_path(self) -> Path | None:
        """Where the panel's picture goes by default (None: nowhere)."""
        return None

    def field_devices(self) -> FieldDevices | None:
        """Simulated ModBUS field devices to poll when the configuration names none (None: this target has none)."""
        return None

    async def run_timed(self, func: Callable[[], T]) -> T:
        """Run blocking, precisely timed line work (a buzzer tone) off the event loop.

        On hardware a thread of its own keeps the bus worker free; a simulated board's lines move with its
        clock, so there the work runs on the bus worker, where the simulation runs.
        """
        return await asyncio.to_thread(func)

    def exclusive(self) -> contextlib.AbstractContextManager[None]:
        """Keep the bus to this caller for a block: a chip's command, its wait and its answer meet nobody
        else's use of the chip. Only a shared bus (a running daemon's) needs it; here nobody else has this one."""
        return contextlib.nullcontext()

    def sync_time(self) -> None:
        """Bring the board's time up to now before work from outside (a simulated board's clock lags its
        tick otherwise); nothing to do where time is the machine's own."""

    async def run_background(self) -> None:
        """What the target needs running beside the services (the simulation's time), until cancelled."""

    def close(self) -> None:
        for name, owner in list(self._owners.items()):
            self.release_line(name, owner)
        self.worker.close()
        self.bus.close()


def open_target(
    bus: str | None = None, *, realtime: bool = False, addresses: Mapping[str, int] | None = None,
    state_file: Path | None = None, fresh: bool = False, via_daemon: bool = True,
) -> Target:
    """``bus``: ``sim``, a ``/dev/i2c-N`` path, or None for the default (hardware if present).

    With no ``bus`` on the simulated board, a running ``wisgate run`` answering on its control socket is
    the board (a :class:`~wisgate.control.remote.RemoteTarget`), unless ``via_daemon`` is False (the daemon
    itself); an explicit ``sim`` is a private simulated board.
    ``state_file``: where the simulated board keeps its identity and RTC time (None: it forgets them);
    ``fresh``: give it a new identity. The simulator is imported only for ``sim``: on hardware it costs nothing.
    """
    spec = bus or default_bus_spec()
    if bus is None and spec == "sim" and via_daemon:
        from wisgate.control.protocol import socket_path
        from wisgate.control.remote import RemoteTarget

        remote = RemoteTarget.open(socket_path())
        if remote is not None:
            if fresh:
                remote.close()
                raise DeviceBusyError(
                    f"--fresh: the running daemon (PID {remote.pid}) has the simulated board; stop it first, "
                    "or add --sim for a private simulated board"
                )
            return remote
    if spec == "sim":
        from wisgate.sim.target import SimTarget

        return SimTarget.open(realtime=realtime, addresses=addresses, state_file=state_file, fresh=fresh)
    from wisgate.hardware import HardwareTarget

    return HardwareTarget(spec, addresses=addresses)


def concentratord_set(config: LoraSection) -> ConcentratorSet:
    """One ChirpStack Concentratord per ``[[lora.modules]]`` entry, on whichever board they run beside."""
    from wisgate.lora.backends.concentratord.client import ConcentratordBackend
    from wisgate.lora.plans.site import configured_module

    return ConcentratorSet([
        (configured_module(config, m),
         ConcentratordBackend(board=m.board, event_url=m.event_url, command_url=m.command_url))
        for m in config.modules
    ])
