"""Physics of the fan and the CPU it cools, stepped with the rest of :mod:`wisgate.sim.environment`.

The fan is a 4-wire PWM fan on the board's fan connector (RAK7391 datasheet, "Fan Connector"): its
speed follows the PWM duty at its input with first-order inertia, it needs a minimum duty to break
away from standstill and stops below a lower one, and it reports speed on TACH with
``pulses_per_rev`` pulses per revolution (2 for the usual 2-pole fan). The CPU is one thermal mass
heated by the CM4's power draw and cooled through a conductance that grows with airflow (forced
convection, ~ speed^0.8).

No public RAK source names the fan or the heatsink; every number is a parameter with a plausible
default for a 40 mm 5 V fan over a CM4 heatsink.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from wisgate.sim.environment import Climate


@dataclass
class Fan:
    max_rpm: float = 5000.0
    tau_s: float = 1.0
    #: Duty needed to start a fan at standstill, and below which a turning fan stops.
    start_duty: float = 0.25
    stop_duty: float = 0.15
    #: Below this the fan counts as standing still (it needs ``start_duty`` again).
    standstill_rpm: float = 100.0
    pulses_per_rev: int = 2
    rpm: float = 0.0
    #: The PWM duty the fan saw at its last step.
    duty: float = 0.0
    blocked: bool = False
    connected: bool = True

    def block(self) -> None:
        """Something jams the blades: the rotor stops at once."""
        self.blocked = True
        self.rpm = 0.0

    def unblock(self) -> None:
        self.blocked = False

    def unplug(self) -> None:
        """The fan cable is pulled: no drive, no TACH pulses."""
        self.connected = False

    def plug(self) -> None:
        self.connected = True

    def target_rpm(self, duty: float) -> float:
        if self.blocked or not self.connected:
            return 0.0
        threshold = self.start_duty if self.rpm < self.standstill_rpm else self.stop_duty
        return self.max_rpm * duty if duty >= threshold else 0.0

    def step(self, dt: float, duty: float) -> None:
        self.duty = max(0.0, min(1.0, duty))
        if self.blocked:
            self.rpm = 0.0
            return
        target = self.target_rpm(self.duty)
        self.rpm += (target - self.rpm) * (1 - math.exp(-dt / self.tau_s))

    @property
    def tach_hz(self) -> float:
        """TACH pulses per second as the controller's TACH pin sees them."""
        if not self.connected or self.rpm < self.standstill_rpm / 10:
            return 0.0
        return self.rpm * self.pulses_per_rev / 60


class Cpu:
    """The CM4 SoC and its heatsink as one thermal mass."""

    def __init__(
        self,
        *,
        load: float = 0.1,
        idle_watts: float = 2.0,
        full_watts: float = 7.0,
        heat_capacity_j_per_k: float = 30.0,
        still_w_per_k: float = 0.12,
        fan_w_per_k: float = 0.35,
        reference_rpm: float = 5000.0,
    ) -> None:
        self.load = load
        self.idle_watts = idle_watts
        self.full_watts = full_watts
        self.heat_capacity_j_per_k = heat_capacity_j_per_k
        #: Heatsink to ambient without airflow, and what the fan adds at ``reference_rpm``.
        self.still_w_per_k = still_w_per_k
        self.fan_w_per_k = fan_w_per_k
        self.reference_rpm = reference_rpm
        self.temperature_c = 25.0

    @property
    def load(self) -> float:
        """CPU load 0..1 (1 = every core busy)."""
        return self._load

    @load.setter
    def load(self, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"CPU load {value} is outside 0..1")
        self._load = value

    @property
    def watts(self) -> float:
        return self.idle_watts + self._load * (self.full_watts - self.idle_watts)

    def conductance(self, rpm: float) -> float:
        airflow = max(0.0, rpm) / self.reference_rpm
        return self.still_w_per_k + self.fan_w_per_k * math.pow(airflow, 0.8)

    def steady_state_c(self, ambient_c: float, rpm: float) -> float:
        return ambient_c + self.watts / self.conductance(rpm)

    def step(self, dt: float, ambient_c: float, rpm: float) -> None:
        # exact for constant inputs over dt: stable at any step size
        target = self.steady_state_c(ambient_c, rpm)
        tau = self.heat_capacity_j_per_k / self.conductance(rpm)
        self.temperature_c += (target - self.temperature_c) * (1 - math.exp(-dt / tau))


class Cooling:
    """Fan and CPU stepped together: ``pwm_duty()`` is the duty on the fan's PWM input."""

    def __init__(self, climate: Climate, pwm_duty: Callable[[], float], *, fan: Fan | None = None,
                 cpu: Cpu | None = None) -> None:
        self.climate = climate
        self.pwm_duty = pwm_duty
        self.fan = fan or Fan()
        self.cpu = cpu or Cpu()
        # a board that has been idle long enough with the fan off
        self.cpu.temperature_c = self.cpu.steady_state_c(climate.ambient_c, 0.0)

    def step(self, _t: float, dt: float) -> None:
        self.fan.step(dt, self.pwm_duty())
        self.cpu.step(dt, self.climate.ambient_c, self.fan.rpm)


class SimCpuTemperature:
    """The CPU temperature as the simulated CM4's thermal zone reports it (1 m°C steps)."""

    def __init__(self, cpu: Cpu) -> None:
        self.cpu = cpu

    def read_celsius(self) -> float:
        return round(self.cpu.temperature_c * 1000) / 1000
