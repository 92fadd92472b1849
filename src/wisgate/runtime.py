"""What a command or the daemon runs against: a bus, a clock and lines, simulated or real."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wisgate.bus.i2c import I2CBus
from wisgate.bus.open import default_bus_spec
from wisgate.clock import Clock, WallClock
from wisgate.sim.board import SimBoard

if TYPE_CHECKING:
    from wisgate.chips.tpt29555_kernel import Expander


@dataclass
class Target:
    bus: I2CBus
    clock: Clock
    #: The simulated board when running on it; None on hardware.
    sim: SimBoard | None = None
    addresses: dict[str, int] = field(default_factory=dict)

    @property
    def description(self) -> str:
        return "simulated RAK7391" if self.sim else f"RAK7391 on {self.bus.name}"

    def close(self) -> None:
        self.bus.close()


def open_target(bus: str | None = None, *, realtime: bool = False, addresses: dict[str, int] | None = None) -> Target:
    """``bus``: ``sim``, a ``/dev/i2c-N`` path, or None for the default (hardware if present)."""
    spec = bus or default_bus_spec()
    from wisgate.board.rak7391 import ONBOARD_ADDRESSES

    merged = {**ONBOARD_ADDRESSES, **(addresses or {})}
    if spec == "sim":
        board = SimBoard(realtime=realtime, addresses=addresses)
        return Target(bus=board.bus, clock=board.clock, sim=board, addresses=merged)
    from wisgate.bus.linux import LinuxI2CBus

    return Target(bus=LinuxI2CBus(spec), clock=WallClock(), addresses=merged)


def open_expander(target: Target, name: str) -> Expander:
    """Expander ``name`` (expander1 / expander2): raw I2C, or the kernel's gpiochip where pca953x owns it."""
    from wisgate.bus.linux import LinuxI2CBus
    from wisgate.chips.tpt29555 import TPT29555
    from wisgate.chips.tpt29555_kernel import KernelExpander

    address = target.addresses[name]
    if isinstance(target.bus, LinuxI2CBus) and target.bus.bound_driver(address):
        return KernelExpander(target.bus.number, address)
    return TPT29555(target.bus, address, clock=target.clock)
