"""``wisgate check`` for ``[industrial]``: what each configured WisBlock module and RS485 bus needs of its
slot (expander lines, ADC channel, tty), whether those needs collide, and whether the serial ports exist.

The schema already refuses what is wrong in itself (two modules in one slot, repeated names); this judges
the modules and buses against each other, against the board description's slots when one is given, and
against the machine (a serial port that is not there is a warning: a USB adapter may come later).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from wisgate.board.check import Finding
from wisgate.board.description import BoardDescription
from wisgate.board.expander_lines import SLOT_LINE_OFFSET
from wisgate.industrial.config import SLOT_PORTS, BusSection, IndustrialSection, WisblockSection
from wisgate.industrial.wisblock import ANALOG, wiring

RS485_MODULE = "RAK5802"
#: the expander the WisBlock lines are on
EXPANDER = "expander 0x26"


@dataclass(frozen=True)
class Need:
    """One thing a module or bus takes from its slot."""

    slot: int | None
    owner: str
    what: str
    #: ("line", 4), ("adc", 1), ("tty", "/dev/ttyUSB0")
    resource: tuple[str, int | str]

    def __str__(self) -> str:
        kind, value = self.resource
        where = {"line": f"{EXPANDER} line {value}", "adc": f"SGM58031 channel {value}", "tty": str(value)}[kind]
        return f"{where} ({self.what})"


def _slot_of_line(line: int) -> int:
    return 2 if line >= SLOT_LINE_OFFSET[2] else 1


def module_needs(module: WisblockSection) -> list[Need]:
    lines = wiring(module)
    owner = f"{module.name} ({module.module})"
    if module.module in ANALOG:
        return [Need(module.slot, owner, "module enable", ("line", lines.enable_line)),
                Need(module.slot, owner, "analog input", ("adc", lines.adc_channel))]
    needs = [Need(module.slot, owner, "relay", ("line", lines.relay_line))]
    if module.input_line is not None:
        needs.append(Need(module.slot, owner, "opto input", ("line", module.input_line)))
    return needs


def bus_slot(bus: BusSection) -> int | None:
    """The WisBlock slot whose RAK5802 the bus uses (by slot name or its tty), else None."""
    for key, tty in SLOT_PORTS.items():
        if bus.port in (key, tty):
            return int(key.removeprefix("wisblock"))
    return None


def bus_needs(bus: BusSection) -> list[Need]:
    if bus.serial_port is None:
        return []
    slot = bus_slot(bus)
    what = f"{RS485_MODULE} RS485 of slot {slot}" if slot is not None else "serial port"
    return [Need(slot, f"bus {bus.name}", what, ("tty", bus.serial_port))]


def industrial_needs(industrial: IndustrialSection) -> list[Need]:
    return ([n for m in industrial.wisblock for n in module_needs(m)]
            + [n for b in industrial.modbus.buses for n in bus_needs(b)])


def _same_port(path: str) -> str:
    """A port under one name, so /dev/serial/by-id/... and the tty it links to compare equal."""
    return os.path.realpath(path)


def check_industrial(industrial: IndustrialSection, desc: BoardDescription | None = None, *,
                     exists: Callable[[str], bool] = os.path.exists) -> list[Finding]:
    """Findings about ``[industrial]`` (errors first), each naming what collides and how to fix it."""
    findings = list(_findings(industrial, desc, exists))
    return sorted(findings, key=lambda f: f.level != "error")


def _findings(industrial: IndustrialSection, desc: BoardDescription | None,
              exists: Callable[[str], bool]) -> Iterator[Finding]:
    needs = industrial_needs(industrial)
    users: dict[tuple[str, int | str], list[Need]] = defaultdict(list)
    for need in needs:
        kind, value = need.resource
        users[(kind, _same_port(str(value)) if kind == "tty" else value)].append(need)
    for (kind, value), sharing in users.items():
        owners = sorted({n.owner for n in sharing})
        if len(sharing) < 2:
            continue
        if kind == "tty":
            yield Finding("error", "serial-port-shared",
                          f"{' and '.join(owners)} use one serial port ({value})",
                          "one bus per serial port: put the devices of both on one bus")
        elif kind == "adc":
            yield Finding("error", "wisblock-adc-shared",
                          f"{' and '.join(owners)} read one SGM58031 channel ({value})",
                          "each analog module needs its own channel (adc_channel)")
        else:
            uses = ", ".join(f"{n.owner} {n.what}" for n in sharing)
            yield Finding("error", "wisblock-line-shared", f"{EXPANDER} line {value} is claimed twice: {uses}",
                          "give each module its own lines (enable_line, relay_line, input_line)")
    for need in needs:
        kind, value = need.resource
        if kind == "line" and need.slot is not None and _slot_of_line(int(value)) != need.slot:
            yield Finding("warning", "wisblock-line-other-slot",
                          f"{need.owner} in slot {need.slot} uses {EXPANDER} line {value}, which RAK's wiring "
                          f"gives slot {_slot_of_line(int(value))}",
                          "check the line against your board (docs/industrial.md, slot wiring)")
    modules = {m.slot: m for m in industrial.wisblock}
    for bus in industrial.modbus.buses:
        slot = bus_slot(bus)
        if slot is not None and slot in modules:
            module = modules[slot]
            yield Finding("error", "wisblock-slot-rs485",
                          f"bus {bus.name} uses slot {slot}'s {RS485_MODULE} ({bus.serial_port}), but slot {slot} "
                          f"holds {module.name} ({module.module})",
                          f"a slot holds one module: put the {RS485_MODULE} in the other slot or use a USB adapter")
        port = bus.serial_port
        if port is not None and not exists(port):
            cause = (f"is the {RS485_MODULE} in slot {slot} (its CH340 appears as {port})?" if slot is not None
                     else "is the adapter plugged in?")
            yield Finding("warning", "serial-port-missing",
                          f"bus {bus.name}: serial port {port} does not exist on this machine; {cause}",
                          "until it appears the bus's devices report it as their health; the rest runs")
    if desc is not None:
        yield from _against_description(industrial, desc)


def _against_description(industrial: IndustrialSection, desc: BoardDescription) -> Iterator[Finding]:
    wanted: dict[int, tuple[str, str]] = {m.slot: (m.module, m.name) for m in industrial.wisblock}
    for bus in industrial.modbus.buses:
        slot = bus_slot(bus)
        if slot is not None and slot not in wanted:
            wanted[slot] = (RS485_MODULE, f"bus {bus.name}")
    for slot, (model, user) in sorted(wanted.items()):
        entry = getattr(desc.slots, f"wisblock{slot}")
        if entry is None:
            yield Finding("warning", "wisblock-not-described",
                          f"[industrial] uses WisBlock slot {slot} ({user}: {model}) but the board description "
                          "leaves it empty (its draw is not in the power budget)",
                          f'add wisblock{slot} = "{model}" under [slots]')
        elif entry.module.replace("-", "").upper() != model:
            yield Finding("error", "wisblock-module-mismatch",
                          f"WisBlock slot {slot} holds {entry.module} in the board description, but [industrial] "
                          f"uses it as {model} ({user})",
                          "make the description and [industrial] agree on the module in that slot")
