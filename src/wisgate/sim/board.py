"""The simulated RAK7391: one clock, one I2C bus with the onboard chips, lines and physics.

Addresses follow the datasheet defaults and can be moved as the resistor options allow
(``SimBoard(addresses={"adc": 0x48})``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from wisgate.board.rak7391 import ONBOARD_ADDRESSES
from wisgate.clock import RealtimeSimClock, SimClock
from wisgate.sim.bus import SimI2CBus
from wisgate.sim.chips.atecc608a import ATECC608AModel
from wisgate.sim.chips.emc2301 import EMC2301Model
from wisgate.sim.chips.pcf85063a import PCF85063AModel
from wisgate.sim.chips.sgm58031 import SGM58031Model
from wisgate.sim.chips.shtc3 import SHTC3Model
from wisgate.sim.chips.ssd1306 import SSD1306Model
from wisgate.sim.chips.tpt29555 import TPT29555Model
from wisgate.sim.device import I2CModel
from wisgate.sim.environment import Environment
from wisgate.sim.identity import SimIdentity
from wisgate.sim.lines import SimLines
from wisgate.sim.loads import ExpanderLoads
from wisgate.sim.thermal import Cooling, SimCpuTemperature

POWER_UP_TIME = 0.01


class SimBoard:
    def __init__(
        self,
        *,
        realtime: bool = False,
        clock: SimClock | None = None,
        addresses: dict[str, int] | None = None,
        rtc_time: datetime | Literal["host"] | None = "host",
        seed: int = 0,
        identity: SimIdentity | None = None,
    ) -> None:
        """``rtc_time``: what the battery-backed RTC holds at start (UTC): the host's clock, a given
        time, or None for a chip that just powered up without a battery (OS flag set).

        ``identity``: a kept serial number and keys for the secure element (instead of ones made from
        ``seed``, which are the same on every run)."""
        self.rtc_time = rtc_time
        #: makes this board's own identity (the secure element's serial number and keys) reproducible
        self.seed = seed
        self.identity = identity
        self.clock = clock or (RealtimeSimClock() if realtime else SimClock())
        self.env = Environment(self.clock.monotonic())
        self.bus = SimI2CBus(self.clock)
        self.lines = SimLines(self.clock)
        self.addresses = dict(ONBOARD_ADDRESSES)
        for name, address in (addresses or {}).items():
            if name not in self.addresses:
                raise KeyError(f"no onboard device {name!r}; known: {sorted(self.addresses)}")
            self.addresses[name] = address
        self.power_fail = self.lines.add("GPIO16", level=True)
        #: the passive buzzer (an output; low when silent)
        self.buzzer_line = self.lines.add("GPIO13", level=False)
        self.clock.observe(self.env.update)
        self.clock.observe(lambda _now: self._update_lines())
        self.models: dict[str, I2CModel] = {}
        self._build()
        # the chips' own power-up times (µs to ms) are long over by the time Linux boots
        self.clock.advance(POWER_UP_TIME)

    def _build(self) -> None:
        a = self.addresses
        climate = self.env.climate
        self.add("temperature_sensor", SHTC3Model(
            self.clock, a["temperature_sensor"],
            temperature=lambda: climate.pcb_c, humidity=lambda: climate.pcb_rh,
        ))
        fan_controller = EMC2301Model(self.clock, a["fan"], tach_hz=lambda: self.fan.tach_hz)
        self.cooling = Cooling(climate, lambda: fan_controller.pwm_duty)
        #: the fan on the fan connector and the CPU it cools (``cpu.load`` 0..1)
        self.fan, self.cpu = self.cooling.fan, self.cooling.cpu
        self.cpu_temperature = SimCpuTemperature(self.cpu)
        self.env.add_stepper(self.cooling.step)
        self.env.add_stepper(lambda t, _dt: fan_controller.run_until(t))
        self.add("fan", fan_controller)
        expanders = {
            name: TPT29555Model(self.clock, a[name], interrupt=self.lines.add(f"{name}.INT"))
            for name in ("expander1", "expander2")
        }
        for name, expander in expanders.items():
            self.add(name, expander)
        #: LEDs on expander1, WisBlock slot outputs on expander2
        self.loads = ExpanderLoads(self.lines, expanders)
        self.add("adc", SGM58031Model(
            self.clock, a["adc"], volts=self.env.analog.volts, alert=self.lines.add("adc.ALERT"),
        ))
        self.add("oled", SSD1306Model(self.clock, a["oled"]))
        self._build_rtc()
        if self.identity is None:
            secure_element = ATECC608AModel(self.clock, a["secure_element"], seed=self.seed)
        else:
            # keys made later (GenKey) come from the OS's randomness, as on a real chip
            secure_element = ATECC608AModel(self.clock, a["secure_element"], serial=self.identity.serial)
            for slot, scalar in self.identity.keys.items():
                secure_element.install_key(slot, scalar)
        #: the secure element model (its keys are kept with the identity)
        self.secure_element = secure_element
        self.add("secure_element", secure_element)
        # the chip wakes on SDA held low, which a host makes by addressing 0x00: the bus shows it that
        self.bus.listeners.append(secure_element.on_bus_activity)

    def _build_rtc(self) -> None:
        rtc = PCF85063AModel(self.clock, self.addresses["rtc"], interrupt=self.lines.add("rtc.INT"))
        start = datetime.now(UTC).replace(tzinfo=None) if self.rtc_time == "host" else self.rtc_time
        if start is not None:
            rtc.set_time(start)
        #: the RTC model (INT on line ``rtc.INT``)
        self.rtc = rtc
        self.add("rtc", rtc)

    def add(self, name: str, model: I2CModel) -> I2CModel:
        self.models[name] = self.bus.attach(model)
        return model

    def advance(self, seconds: float) -> None:
        """Let simulated time pass (physics, conversions, RTC)."""
        self.clock.advance(seconds)

    def _update_lines(self) -> None:
        supply = self.env.supply
        self.power_fail.drive(supply.input_volts(self.env.t) >= supply.fail_threshold)
