"""The ``industrial`` service: polls the ModBUS buses and reads the WisBlock IO modules into the board state.

Every value is a typed reading (``modbus.<device>.<point>``, ``wisblock.<module>.current|voltage|value|relay``)
in :class:`~wisgate.services.state.BoardState`, so the history, the API and the MQTT telemetry see them like
any sensor; device health changes and loop faults are events. ``state.industrial`` is this gateway, for
the API's device listing and writes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from functools import partial

from wisgate.aio import run_all
from wisgate.industrial.config import IndustrialSection, ModbusSection, PointSection, WisblockSection
from wisgate.industrial.controls import Control, WriteError, WriteFailed, controls_of
from wisgate.industrial.modbus.codec import CodecError
from wisgate.industrial.modbus.link import LinkFailure
from wisgate.industrial.modbus.poller import BusPoller, DeviceHealth, DevicePoller
from wisgate.industrial.wisblock import (
    ANALOG,
    EXPANDER,
    Debouncer,
    Signal,
    condition_text,
    readings_of,
    signal_of,
    wiring,
)
from wisgate.services.events import EventKind, Severity
from wisgate.services.readings import Reading
from wisgate.services.supervisor import Context, ServiceFn
from wisgate.target import FieldDevices

log = logging.getLogger("wisgate.industrial")

#: how often the WisBlock digital inputs are sampled (each sample is one read of the expander's inputs)
INPUT_POLL_S = 0.02
#: an unchanged input's reading is refreshed this often
INPUT_REFRESH_S = 1.0
#: gain for the analog inputs: ±4.096 V holds 20.5 mA × 149.9 Ω and 5.1 V × 0.6
ADC_GAIN = 4.096


@dataclass(frozen=True)
class DeviceView:
    health: DeviceHealth
    points: tuple[PointSection, ...]


class IndustrialGateway:
    def __init__(self, config: IndustrialSection, context: Context) -> None:
        self.config = config
        self.context = context
        self.buses = [BusPoller(bus, context.state) for bus in config.modbus.buses]
        self.modules = list(config.wisblock)
        self.conditions: dict[str, str] = {}
        self.relays: dict[str, bool] = {}
        #: what each reading is to a publisher (sensor, on/off, or a control with its limits), by reading name
        self.controls: dict[str, Control] = controls_of(
            [d for bus in config.modbus.buses for d in bus.devices], self.modules)

    # -- ModBUS --------------------------------------------------------------------------------------

    def find(self, device: str) -> tuple[BusPoller, DevicePoller] | None:
        for bus in self.buses:
            found = bus.device(device)
            if found is not None:
                return bus, found
        return None

    def devices(self) -> list[DeviceView]:
        now = time.monotonic()
        return [DeviceView(d.health(now), tuple(d.config.points)) for bus in self.buses for d in bus.devices]

    async def write(self, device: str, point: str, value: float | str) -> Reading:
        """Write a point by name; the reading returned is the value read back. Raises WriteError, KeyError
        (no such device or point) or LinkFailure (the device did not take it)."""
        found = self.find(device)
        if found is None:
            raise KeyError(f"no ModBUS device {device!r}")
        bus, poller = found
        target = poller.point(point)
        if target is None:
            raise KeyError(f"device {device!r} has no point {point!r}")
        try:
            reading = await bus.write(poller, target, value)
        except CodecError as exc:
            raise WriteError(str(exc)) from None
        self.context.publish(EventKind.MODBUS_WRITE, f"modbus.{device}",
                             f"{device}.{point} set to {value!r}; reads back {reading.value!r}",
                             point=point, written=value if isinstance(value, str) else float(value),
                             read_back=reading.value)
        return reading

    async def set_value(self, reading: str, value: float | str | bool) -> Reading:
        """Write through the control of ``reading`` (a ModBUS point or a WisBlock relay) and return what
        reads back. Raises KeyError (no such control), WriteError (refused) or WriteFailed (not taken)."""
        control = self.controls.get(reading)
        if control is None or not control.writable:
            raise KeyError(f"no writable industrial point {reading!r}")
        if reading.startswith("wisblock."):
            return await self.set_relay(control.owner.removeprefix("wisblock."), bool(value))
        device, point = reading.removeprefix("modbus.").split(".", 1)
        try:
            return await self.write(device, point, float(value) if isinstance(value, bool) else value)
        except LinkFailure as exc:
            raise WriteFailed(exc.kind, f"{device}: {exc}") from None

    # -- WisBlock ------------------------------------------------------------------------------------

    def module(self, name: str) -> WisblockSection | None:
        return next((m for m in self.modules if m.name == name), None)

    async def set_relay(self, name: str, on: bool) -> Reading:
        module = self.module(name)
        if module is None or module.module in ANALOG:
            raise KeyError(f"no WisBlock relay module {name!r}")
        line = wiring(module).relay_line
        expander = self.context.target.expander(EXPANDER)
        await self.context.bus.run(lambda: expander.set_direction(line, output=True, initial=on))
        level = await self.context.bus.run(lambda: expander.read_pin(line))
        self.relays[name] = level
        reading = self._relay_reading(module, level)
        self.context.state.put_readings([reading])
        self.context.publish(EventKind.WISBLOCK_OUTPUT, f"wisblock{module.slot}",
                             f"{name} relay {'on' if level else 'off'}", relay=level)
        return reading

    @staticmethod
    def _relay_reading(module: WisblockSection, on: bool) -> Reading:
        return Reading(f"wisblock.{module.name}.relay", f"{module.name} relay", float(on), "",
                       f"wisblock{module.slot}", time.time(), digits=0)

    async def _start_modules(self) -> None:
        expander = self.context.target.expander(EXPANDER)
        for module in self.modules:
            lines = wiring(module)
            if module.module in ANALOG:
                # RAK's examples drive the enable line high before reading (it powers the module's front end)
                await self.context.bus.run(partial(expander.set_direction, lines.enable_line, output=True,
                                                   initial=True))
            else:
                await self.set_relay(module.name, False)

    async def run_wisblock(self) -> None:
        from wisgate.chips.sgm58031 import SGM58031

        await self._start_modules()
        target = self.context.target
        adc = await self.context.bus.run(lambda: SGM58031.open(target.bus, target.addresses["adc"],
                                                               clock=target.clock, gain=ADC_GAIN))
        analog = [m for m in self.modules if m.module in ANALOG]
        relays = [m for m in self.modules if m.module not in ANALOG]
        due = {m.name: 0.0 for m in analog}
        while True:
            now = time.monotonic()
            for module in analog:
                if due[module.name] > now:
                    continue
                due[module.name] = now + module.interval_s
                channel = wiring(module).adc_channel
                volts = await self.context.bus.run(partial(adc.read_volts, channel, gain=ADC_GAIN))
                measured = signal_of(module, volts)
                self.context.state.put_readings(readings_of(module, measured))
                self._report(module, measured)
            for module in relays:  # a relay's level as driven (someone may have moved it with wisgate gpio)
                line = wiring(module).relay_line
                expander = target.expander(EXPANDER)
                level = await self.context.bus.run(partial(expander.read_pin, line))
                self.context.state.put_readings([self._relay_reading(module, level)])
            wake = min(due.values(), default=time.monotonic() + 1.0)
            await asyncio.sleep(max(0.05, wake - time.monotonic()) if analog else 1.0)

    def _report(self, module: WisblockSection, measured: Signal) -> None:
        before = self.conditions.get(module.name, "ok")
        self.conditions[module.name] = measured.condition
        if measured.condition == before:
            return
        message = condition_text(module, measured)
        source = f"wisblock{module.slot}"
        signal, unit = round(measured.signal, 4), measured.unit
        if measured.condition == "broken":
            log.warning("%s", message)
            self.context.publish(EventKind.ANALOG_LOOP_BROKEN, source, message, Severity.ALARM,
                                 module=module.name, signal=signal, unit=unit)
        elif measured.condition in ("over", "under"):
            log.warning("%s", message)
            self.context.publish(EventKind.ANALOG_OUT_OF_RANGE, source, message, Severity.WARNING,
                                 module=module.name, signal=signal, unit=unit)
        else:
            log.info("%s", message)
            self.context.publish(EventKind.ANALOG_OK, source, message, module=module.name, signal=signal,
                                 unit=unit)

    async def run_inputs(self) -> None:
        """Sample the modules' digital inputs, debounced; a change is a reading and an event."""
        inputs = [m for m in self.modules if m.input_line is not None]
        expander = self.context.target.expander(EXPANDER)
        for module in inputs:
            assert module.input_line is not None
            await self.context.bus.run(partial(expander.set_direction, module.input_line, output=False))
        debouncers = {m.name: Debouncer(m.debounce_s) for m in inputs}
        refreshed = 0.0
        while True:
            pins = await self.context.bus.run(expander.read_pins)
            now = time.monotonic()
            changed: list[Reading] = []
            for module in inputs:
                assert module.input_line is not None
                raw = bool(pins >> module.input_line & 1) != module.active_low
                debouncer = debouncers[module.name]
                first = debouncer.level is None
                new = debouncer.sample(raw, now)
                if new is not None or first:
                    changed.append(self._input_reading(module, raw if first else bool(new)))
                if new is not None:
                    self.context.publish(EventKind.WISBLOCK_INPUT, f"wisblock{module.slot}",
                                         f"{module.name} input {'on' if new else 'off'}", module=module.name,
                                         level=new)
            if now - refreshed >= INPUT_REFRESH_S:
                refreshed = now
                changed = [self._input_reading(m, bool(debouncers[m.name].level)) for m in inputs]
            if changed:
                self.context.state.put_readings(changed)
            await asyncio.sleep(INPUT_POLL_S)

    @staticmethod
    def _input_reading(module: WisblockSection, on: bool) -> Reading:
        return Reading(f"wisblock.{module.name}.input", f"{module.name} input", float(on), "",
                       f"wisblock{module.slot}", time.time(), digits=0)

    # -- all -----------------------------------------------------------------------------------------

    async def run(self) -> None:
        # pymodbus waits with asyncio.wait_for, which can swallow a cancellation under load: run_all cancels
        # until each part has ended (a TaskGroup here once kept the daemon from stopping on SIGTERM)
        parts = {f"modbus {bus.bus.name}": bus.run() for bus in self.buses}
        if self.modules:
            parts["wisblock"] = self.run_wisblock()
        if any(m.input_line is not None for m in self.modules):
            parts["wisblock inputs"] = self.run_inputs()
        await run_all(parts)


def field_bus(devices: FieldDevices, port: int) -> ModbusSection:
    """The configuration of a target's own field devices: one loopback TCP line, templates as they say."""
    return ModbusSection.model_validate({"templates": devices.templates, "buses": [{
        "name": "sim-field", "host": "127.0.0.1", "tcp_port": port,
        "devices": [{"name": name, "device_id": device_id, "template": template, "interval_s": 2.0}
                    for name, device_id, template in devices.devices]}]})


def industrial_service(config: IndustrialSection) -> ServiceFn:
    async def run(context: Context) -> None:
        field = context.target.field_devices() if config.sim_field_devices and not config.modbus.buses else None
        try:
            if field is not None:
                port = await field.start()
                log.info("polling the simulated ModBUS field devices on 127.0.0.1:%d", port)
                config_used = config.model_copy(update={"modbus": field_bus(field, port)})
            else:
                config_used = config
            gateway = IndustrialGateway(config_used, context)
            context.state.industrial = gateway
            await gateway.run()
        finally:
            if field is not None:
                await field.stop()

    return run
