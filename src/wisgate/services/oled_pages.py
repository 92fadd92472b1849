"""The OLED's pages, as RAK's own OLED service shows them: who the board is, its climate and fan, its supply,
the LoRa modules, alarms first when there are any, then every other reading. Made from the typed state;
text only here, at the edge, each line at most 21 columns (what the 128 x 64 panel shows in our 5×7 font).
"""

from __future__ import annotations

import contextlib
import fcntl
import socket
import struct
from collections.abc import Callable

from wisgate.services.readings import Reading, format_value
from wisgate.services.state import BoardState

COLUMNS = 21
ROWS = 4
SIOCGIFADDR = 0x8915

Page = list[str]


def row(label: str, value: str) -> str:
    """``label`` left, ``value`` right, in 21 columns (the label gives way, never the value)."""
    width = max(0, COLUMNS - len(value) - 1)
    return f"{label[:width]:<{width}} {value}"[-COLUMNS:]


def row_text(reading: Reading) -> str:
    """One reading as a row; a failed device as ``name ERROR``."""
    if not reading.ok:
        return row(reading.source, "ERROR")
    value = format_value(reading)
    if reading.unit == "" and isinstance(reading.value, str) and len(value) > 12:
        value = value.removesuffix(" UTC")[-(COLUMNS - 4):]  # a date or serial: its end says most
    label = reading.label if len(reading.label) + len(value) < COLUMNS else (reading.short or reading.label)
    return row(label, value)


def ipv4_addresses() -> list[tuple[str, str]]:
    """(interface, address) of every interface with an IPv4 address, loopback left out."""
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            if name == "lo":
                continue
            with contextlib.suppress(OSError):
                packed = fcntl.ioctl(probe.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
                found.append((name, socket.inet_ntoa(packed[20:24])))
    return found


def host_page(addresses: Callable[[], list[tuple[str, str]]] = ipv4_addresses) -> Page:
    lines = [socket.gethostname()[:COLUMNS]]
    lines += [row(name, address) for name, address in addresses()[: ROWS - 1]] or ["no IPv4 address"]
    return lines


def climate_page(state: BoardState) -> Page:
    lines = [row_text(r) for name in ("cpu.temperature", "pcb.temperature", "pcb.humidity")
             if (r := state.reading(name)) is not None]
    fan = state.fan
    if fan is not None:
        lines.append(row("fan", "FAULT" if fan.fault else f"{fan.duty_percent:.0f}% {fan.rpm:.0f}rpm"))
    return lines


def power_page(state: BoardState) -> Page:
    power = state.power
    if power is None:
        return []
    lines = [row("supply", "ok" if power.supply == "ok" else "LOST")]
    if power.volts is not None:
        lines.append(row("supply volts", f"{power.volts:.1f} V"))
    lines.append(row("outages", str(power.losses)))
    if power.hold_up_s is not None:
        lines.append(row("hold-up", f"{power.hold_up_s:.1f} s"))
    return lines


def lora_page(state: BoardState) -> Page:
    gateway = state.lora.gateway
    if gateway is None:
        return []
    stats = gateway.stats
    lines = [row("LoRa uplinks", str(stats.uplinks))]
    for board, module in sorted(stats.modules.items())[: ROWS - 1]:
        total = module.total()
        lines.append(row(f"M{board} rx/fwd", f"{total.received}/{total.forwarded}"))
    return lines


def alarm_page(state: BoardState) -> Page:
    alarms = []
    if state.fan is not None and state.fan.fault:
        alarms.append(f"fan {state.fan.fault}")
    if state.environment is not None:
        alarms += [f"high {name}" for name in state.environment.alarms]
    alarms += [f"{h.name} failed" for h in state.services.values() if not h.ok]
    return ["ALARM", *(a[:COLUMNS] for a in alarms[: ROWS - 1])] if alarms else []


SHOWN_ELSEWHERE = {"cpu.temperature", "pcb.temperature", "pcb.humidity", "supply", "fan.duty", "fan.rpm"}


def reading_pages(state: BoardState) -> list[Page]:
    rows = [row_text(r) for r in state.readings.values() if r.name not in SHOWN_ELSEWHERE]
    return [rows[i : i + ROWS] for i in range(0, len(rows), ROWS)]


def pages(state: BoardState, host: Callable[[], Page] = host_page) -> list[Page]:
    """Every page to rotate through, alarms first; empty pages left out."""
    made = [alarm_page(state), host(), climate_page(state), power_page(state), lora_page(state),
            *reading_pages(state)]
    return [page for page in made if page] or [["waiting for readings"]]
