"""Physics of the simulated board: supply and ultracapacitors, PCB climate, analog inputs.

Integrated lazily: every time the clock moves, :meth:`Environment.update` steps the state up to
the new time in steps of at most ``MAX_STEP`` seconds.

Numbers that no public RAK source gives (ultracapacitor size, hold-up threshold, board load) are
parameters with plausible defaults, documented in docs/simulator.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_STEP = 0.1

VoltageSource = Callable[[float], float]


@dataclass
class Supply:
    """DC input (10-28 V) and the ultracapacitor bank that rides through a cut."""

    nominal: float = 12.0
    #: The input's voltage at time t; replace for a scripted profile.
    profile: VoltageSource | None = None
    #: Below this the board's power-fail detector fires (the 10 V minimum, with margin).
    fail_threshold: float = 9.0
    cap_farads: float = 10.0
    cap_full: float = 5.0
    #: Below this the 5 V rail collapses and the CM4 browns out.
    cap_min: float = 3.0
    #: Charging resistance of the bank (time constant cap_farads * this).
    charge_ohms: float = 1.0
    #: Load on the bank when the input is gone, watts.
    load_watts: float = 6.0
    cap_volts: float = 5.0
    _cut: bool = False

    def input_volts(self, t: float) -> float:
        if self._cut:
            return 0.0
        return self.profile(t) if self.profile else self.nominal

    def cut(self) -> None:
        """Pull the plug."""
        self._cut = True

    def restore(self) -> None:
        self._cut = False

    @property
    def powered(self) -> bool:
        """False once the bank is below ``cap_min`` with no input: the board is off."""
        return self.cap_volts >= self.cap_min

    def step(self, t: float, dt: float) -> None:
        if self.input_volts(t) >= self.fail_threshold:
            tau = self.charge_ohms * self.cap_farads
            self.cap_volts += (self.cap_full - self.cap_volts) * (1 - math.exp(-dt / tau))
        elif self.cap_volts > 0:
            # constant-power load: d(V^2)/dt = -2P/C
            v2 = self.cap_volts**2 - 2 * self.load_watts * dt / self.cap_farads
            self.cap_volts = math.sqrt(v2) if v2 > 0 else 0.0


@dataclass
class Climate:
    """PCB temperature and relative humidity as the SHTC3 on the board sees them."""

    ambient_c: float = 25.0
    ambient_rh: float = 45.0
    #: PCB above ambient when the board draws ``board_watts`` (°C per W).
    rise_per_watt: float = 1.5
    board_watts: float = 6.0
    tau_s: float = 300.0
    pcb_c: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.pcb_c = self.target()

    def target(self) -> float:
        return self.ambient_c + self.rise_per_watt * self.board_watts

    def step(self, dt: float) -> None:
        self.pcb_c += (self.target() - self.pcb_c) * (1 - math.exp(-dt / self.tau_s))

    @property
    def pcb_rh(self) -> float:
        """RH at the PCB: the ambient's water content at the warmer PCB temperature (Magnus)."""

        def saturation(t: float) -> float:
            return 6.112 * math.exp(17.62 * t / (243.12 + t))

        rh = self.ambient_rh * saturation(self.ambient_c) / saturation(self.pcb_c)
        return max(0.0, min(100.0, rh))


#: RAK5801 4-20 mA module: the loop current across 149.9 ohm (RAK's examples).
RAK5801_OHMS = 149.9
#: RAK5811 0-5 V module: the ADC sees 0.6 of the input (RAK's examples).
RAK5811_RATIO = 0.6


def constant(volts: float) -> VoltageSource:
    def source(_t: float) -> float:
        return volts

    return source


@dataclass
class AnalogInputs:
    """Voltages at the four SGM58031 inputs AIN0..AIN3, each a constant or a function of time."""

    sources: dict[int, VoltageSource] = field(default_factory=dict)

    def set_volts(self, channel: int, volts: float | VoltageSource) -> None:
        if channel not in range(4):
            raise ValueError(f"ADC channel {channel} does not exist (AIN0..AIN3)")
        self.sources[channel] = volts if callable(volts) else constant(float(volts))

    def set_current_loop(self, channel: int, milliamps: float) -> None:
        """A RAK5801 4-20 mA module feeding ``channel``."""
        self.set_volts(channel, milliamps / 1000 * RAK5801_OHMS)

    def set_voltage_input(self, channel: int, volts: float) -> None:
        """A RAK5811 0-5 V module feeding ``channel``."""
        self.set_volts(channel, volts * RAK5811_RATIO)

    def volts(self, channel: int, t: float) -> float:
        source = self.sources.get(channel)
        return source(t) if source else 0.0


class Environment:
    """All physics of the board, stepped together."""

    def __init__(self, start: float = 0.0) -> None:
        self.supply = Supply()
        self.climate = Climate()
        self.analog = AnalogInputs()
        self.t = start
        self._steppers: list[Callable[[float, float], None]] = []

    def add_stepper(self, step: Callable[[float, float], None]) -> None:
        """Register more physics (fan, CPU heat): ``step(t, dt)`` called with the others."""
        self._steppers.append(step)

    def update(self, now: float) -> None:
        while now - self.t > 1e-12:
            dt = min(MAX_STEP, now - self.t)
            self.t += dt
            self.supply.step(self.t, dt)
            self.climate.step(dt)
            for step in self._steppers:
                step(self.t, dt)
