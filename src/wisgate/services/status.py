"""Every sensor of the board read once: each probe independent, so one missing chip costs one line.

A probe gets the :class:`~wisgate.runtime.Target` and returns (label, value) rows; a probe that
fails yields one row with the error instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from wisgate.errors import WisgateError
from wisgate.runtime import Target

Rows = list[tuple[str, str]]


@dataclass(frozen=True)
class Probe:
    device: str  # key in Target.addresses
    read: Callable[[Target], Rows]


@dataclass(frozen=True)
class StatusRow:
    device: str
    label: str
    value: str
    ok: bool = True


def _climate(target: Target) -> Rows:
    from wisgate.chips.shtc3 import SHTC3

    reading = SHTC3(target.bus, target.addresses["temperature_sensor"], clock=target.clock).measure()
    return [("PCB temperature", f"{reading.temperature_c:.1f} °C"), ("PCB humidity", f"{reading.humidity_rh:.1f} %RH")]


def _adc(target: Target) -> Rows:
    from wisgate.chips.sgm58031 import SGM58031

    # ±4.096 V covers the 3.3 V inputs (RAK's examples read at this gain)
    adc = SGM58031.open(target.bus, target.addresses["adc"], clock=target.clock, gain=4.096)
    return [(f"AIN{channel}", f"{adc.read_volts(channel):.4f} V") for channel in range(4)]


def _expander(name: str) -> Callable[[Target], Rows]:
    def read(target: Target) -> Rows:
        from wisgate.runtime import open_expander

        pins = open_expander(target, name).read_pins()
        # bits shown pin 7 first, as the port reads
        return [("port 0 inputs", f"{pins & 0xFF:08b}"), ("port 1 inputs", f"{pins >> 8:08b}")]

    return read


def _cpu(target: Target) -> Rows:
    from wisgate.services.cpu import cpu_temperature

    return [("CPU temperature", f"{cpu_temperature(target).read_celsius():.1f} °C")]


def _fan(target: Target) -> Rows:
    from wisgate.chips.emc2301 import EMC2301

    reading = EMC2301.open(target.bus, target.addresses["fan"], clock=target.clock).reading()
    return [("fan duty", f"{reading.duty_percent:.0f} %"), ("fan speed", f"{reading.rpm:.0f} RPM")]


def _secure_element(target: Target) -> Rows:
    from wisgate.chips.atecc608a import ATECC608A

    serial = ATECC608A(target.bus, target.addresses["secure_element"], clock=target.clock).serial_number()
    return [("serial number", serial.hex().upper())]


def _rtc(target: Target) -> Rows:
    from wisgate.chips.pcf85063a import PCF85063A, ClkoutFrequency
    from wisgate.services.rtc import open_rtc

    rtc = open_rtc(target)
    time = f"{rtc.read_time():%Y-%m-%d %H:%M:%S} UTC"
    if not isinstance(rtc, PCF85063A):
        return [("RTC time", time), ("CLKOUT", "kernel-owned")]
    clkout = rtc.clkout()
    return [("RTC time", time), ("CLKOUT", "off" if clkout is ClkoutFrequency.OFF else f"{clkout.hz} Hz")]


def _power(target: Target) -> Rows:
    from wisgate.services.power import open_power_fail_line

    line = open_power_fail_line(target)
    try:
        good = line.read()
    finally:
        if target.sim is None:
            line.close()
    return [("supply", "ok" if good else "LOST (on ultracapacitors)")]


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


def read_status(target: Target) -> list[StatusRow]:
    rows: list[StatusRow] = []
    for probe in PROBES:
        try:
            rows.extend(StatusRow(probe.device, label, value) for label, value in probe.read(target))
        except (WisgateError, OSError) as exc:
            rows.append(StatusRow(probe.device, "error", str(exc), ok=False))
    return rows
