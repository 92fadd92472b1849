"""Every sensor of the board read once: each probe independent, so one missing chip costs one reading.

A probe gets the :class:`~wisgate.target.Target` and the time and returns typed readings; a probe that
fails yields one failed reading naming the device and the reason instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from wisgate.errors import WisgateError
from wisgate.services.readings import Reading, failed, number, text
from wisgate.target import Target

Probe_ = Callable[[Target, float], list[Reading]]


@dataclass(frozen=True)
class Probe:
    device: str  # key in Target.addresses, or cpu / power
    read: Probe_


def _climate(target: Target, now: float) -> list[Reading]:
    from wisgate.chips.shtc3 import SHTC3

    reading = SHTC3(target.bus, target.addresses["temperature_sensor"], clock=target.clock).measure()
    return [number("pcb.temperature", "PCB temperature", reading.temperature_c, "°C", "temperature_sensor", now,
                   short="PCB temp"),
            number("pcb.humidity", "PCB humidity", reading.humidity_rh, "%RH", "temperature_sensor", now,
                   short="PCB humid")]


def _adc(target: Target, now: float) -> list[Reading]:
    from wisgate.chips.sgm58031 import SGM58031

    # ±4.096 V covers the 3.3 V inputs (RAK's examples read at this gain)
    adc = SGM58031.open(target.bus, target.addresses["adc"], clock=target.clock, gain=4.096)
    return [number(f"adc.ain{channel}", f"AIN{channel}", adc.read_volts(channel), "V", "adc", now, digits=4)
            for channel in range(4)]


def _expander(name: str) -> Probe_:
    def read(target: Target, now: float) -> list[Reading]:
        pins = target.expander(name).read_pins()
        # bits shown pin 7 first, as the port reads
        number_ = "1" if name == "expander1" else "2"
        return [text(f"{name}.port0", "port 0 inputs", f"{pins & 0xFF:08b}", name, now, short=f"IO{number_} port0"),
                text(f"{name}.port1", "port 1 inputs", f"{pins >> 8:08b}", name, now, short=f"IO{number_} port1")]

    return read


def _cpu(target: Target, now: float) -> list[Reading]:
    celsius = target.cpu_temperature().read_celsius()
    return [number("cpu.temperature", "CPU temperature", celsius, "°C", "cpu", now, short="CPU temp")]


def _fan(target: Target, now: float) -> list[Reading]:
    from wisgate.chips.emc2301 import EMC2301

    reading = EMC2301.open(target.bus, target.addresses["fan"], clock=target.clock).reading()
    return [number("fan.duty", "fan duty", reading.duty_percent, "%", "fan", now, digits=0),
            number("fan.rpm", "fan speed", reading.rpm, "RPM", "fan", now, digits=0)]


def _secure_element(target: Target, now: float) -> list[Reading]:
    from wisgate.chips.atecc608a import ATECC608A

    serial = ATECC608A(target.bus, target.addresses["secure_element"], clock=target.clock).serial_number()
    return [text("secure_element.serial", "serial number", serial.hex().upper(), "secure_element", now,
                 short="SE")]


def _rtc(target: Target, now: float) -> list[Reading]:
    from wisgate.chips.pcf85063a import PCF85063A, ClkoutFrequency

    rtc = target.rtc()
    when = text("rtc.time", "RTC time", f"{rtc.read_time():%Y-%m-%d %H:%M:%S} UTC", "rtc", now, short="RTC")
    if not isinstance(rtc, PCF85063A):
        return [when, text("rtc.clkout", "CLKOUT", "kernel-owned", "rtc", now)]
    clkout = rtc.clkout()
    return [when, text("rtc.clkout", "CLKOUT", "off" if clkout is ClkoutFrequency.OFF else f"{clkout.hz} Hz",
                       "rtc", now)]


def _power(target: Target, now: float) -> list[Reading]:
    owner = "status"
    line = target.power_fail_input(owner=owner)
    try:
        good = line.read()
    finally:
        target.release_line(line.name, owner)
    return [text("supply", "supply", "ok" if good else "LOST (on ultracapacitors)", "power", now)]


PROBES: list[Probe] = [
    Probe("power", _power),
    Probe("temperature_sensor", _climate),
    Probe("cpu", _cpu),
    Probe("fan", _fan),
    Probe("adc", _adc),
    Probe("expander1", _expander("expander1")),
    Probe("expander2", _expander("expander2")),
    Probe("secure_element", _secure_element),
    Probe("rtc", _rtc),
]


def read_status(target: Target, probes: list[Probe] | None = None) -> list[Reading]:
    readings: list[Reading] = []
    for probe in probes if probes is not None else PROBES:
        now = time.time()
        try:
            with target.exclusive():
                readings.extend(probe.read(target, now))
        except (WisgateError, OSError) as exc:
            readings.append(failed(f"{probe.device}.error", probe.device, probe.device, now, str(exc)))
    return readings
