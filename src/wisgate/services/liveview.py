"""What ``wisgate run`` shows: a compact live view in a terminal, plain log lines anywhere else.

In a terminal (stdout is a TTY, not started by systemd, no ``--plain``) a rich ``Live`` view redrawn
about once a second and on every event: the board's readings, the fan and the supply, the LoRa counters
per module, the services and the latest events; log lines (the services log changes and events, not
readings) print above it. Otherwise plain lines: with a timestamp on a console or in a file, with a
syslog priority prefix (``<4>``) and no timestamp when stderr is the journal, which has both.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from wisgate.services.events import Event, Severity

# the plain side lives in logsetup (no rich); re-exported for the view's users
from wisgate.services.logsetup import JournalFormatter as JournalFormatter
from wisgate.services.logsetup import plain_logging as plain_logging
from wisgate.services.logsetup import stderr_is_journal as stderr_is_journal
from wisgate.services.logsetup import under_systemd as under_systemd
from wisgate.services.logsetup import wants_live_view as wants_live_view
from wisgate.services.readings import Reading, format_value

if TYPE_CHECKING:
    from wisgate.services.state import BoardState

#: how many events the view keeps on screen
EVENT_ROWS = 6
#: the view is redrawn at least this often, and at most 4 times a second
REFRESH_S = 1.0
MIN_REDRAW_S = 0.25
SEVERITY_STYLE = {Severity.INFO: "green", Severity.WARNING: "yellow", Severity.ALARM: "bold red"}


class ConsoleLogHandler(logging.Handler):
    """Log lines printed above the live view (through its console, which keeps the view intact)."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            style = "red" if record.levelno >= logging.ERROR else "yellow" if record.levelno >= logging.WARNING else ""
            self.console.print(Text(line, style=style), soft_wrap=True)
        except Exception:
            self.handleError(record)


def _clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).strftime("%H:%M:%S")


def _reading_cell(reading: Reading) -> Text:
    label = reading.short or reading.label
    if reading.error is not None:
        return Text.assemble((f"{label} ", "dim"), ("ERROR", "bold red"))
    return Text.assemble((f"{label} ", "dim"), format_value(reading))


def readings_grid(readings: Mapping[str, Reading], columns: int = 3) -> Table:
    grid = Table.grid(padding=(0, 3))
    cells = [_reading_cell(r) for r in readings.values()]
    for _ in range(columns):
        grid.add_column()
    for start in range(0, len(cells), columns):
        row = cells[start:start + columns]
        grid.add_row(*row, *[""] * (columns - len(row)))
    return grid


def fan_and_power(state: BoardState) -> Text:
    line = Text()
    fan = state.fan
    if fan is not None:
        target = f", target {fan.target_c:.0f} °C" if fan.target_c is not None else ""
        line.append("fan ", "bold")
        line.append(f"{fan.duty_percent:.0f} % {fan.rpm:.0f} RPM ({fan.mode}{target})")
        if fan.fault:
            line.append(f" {fan.fault}", "bold red")
    power = state.power
    if power is not None:
        if line:
            line.append("   ")
        line.append("supply ", "bold")
        if power.supply == "ok":
            line.append("ok", "green")
        else:
            line.append(f"LOST {power.outage_s or 0:.1f} s", "bold red")
            if power.shutdown_in_s is not None:
                line.append(f", shutdown in {power.shutdown_in_s:.1f} s", "red")
        line.append(f"   losses {power.losses}")
        if power.volts is not None:
            line.append(f"   {power.volts:.2f} V")
    return line


def lora_table(state: BoardState) -> Table | Text:
    gateway = state.lora.gateway
    if gateway is None:
        return Text("LoRa gateway not running", "dim")
    table = Table(box=None, padding=(0, 1), title_justify="left", show_edge=False,
                  title=f"LoRa gateway {gateway.gateway_id}: {gateway.stats.uplinks} uplinks")
    for name in ("module", "received", "CRC ok", "CRC bad", "forwarded", "duplicates", "dropped", "TX"):
        table.add_column(name, justify="left" if name == "module" else "right")
    for board, module in sorted(gateway.stats.modules.items()):
        total = module.total()
        table.add_row(f"board {board}", str(total.received), str(total.crc_ok), str(total.crc_bad),
                      str(total.forwarded), str(total.duplicates), str(sum(total.dropped.values())),
                      str(sum(module.tx_outcomes.values())))
    return table


def events_table(events: list[Event]) -> Table | Text:
    if not events:
        return Text("no events yet", "dim")
    table = Table.grid(padding=(0, 2))
    for event in events:
        style = SEVERITY_STYLE.get(event.severity, "")
        table.add_row(_clock(event.time), Text(str(event.kind), style), Text(event.message, overflow="ellipsis"))
    return table


def services_line(state: BoardState) -> Text:
    line = Text()
    for health in state.services.values():
        style = {"running": "green", "failed": "bold red", "finished": "dim", "starting": "yellow"}.get(health.state,
                                                                                                    "dim")
        line.append(f"{health.name} ", style)
    return line


def render(state: BoardState, *, title: str, started: float, now: float | None = None) -> RenderableType:
    """The whole view from the board state (nothing here touches the bus)."""
    now = time.time() if now is None else now
    header = Text.assemble((f"wisgate on the {title}", "bold"), f"   up {int(now - started)} s   ",
                           services_line(state))
    recent = list(state.events.recent)[-EVENT_ROWS:]
    parts: list[RenderableType] = [header, readings_grid(state.readings)]
    status = fan_and_power(state)
    if status:
        parts.append(status)
    parts += [lora_table(state), Text("latest events", "bold"), events_table(recent),
              Text("Ctrl-C stops it", "dim")]
    return Group(*parts)


async def show_live(state: BoardState, console: Console, *, title: str, stop: asyncio.Event) -> None:
    """Redraw the view on every event (at most 4 times a second) and every second, until ``stop``."""
    started = time.time()
    loop = asyncio.get_running_loop()
    handler = ConsoleLogHandler(console)
    root = logging.getLogger()
    kept = root.handlers[:]
    root.handlers = [handler]
    try:
        with state.events.subscribe(maxsize=100) as events, \
                Live(render(state, title=title, started=started), console=console, auto_refresh=False,
                     redirect_stdout=False, redirect_stderr=False) as live:
            drawn = loop.time()
            stopping = asyncio.ensure_future(stop.wait())
            while not stop.is_set():
                next_event = asyncio.ensure_future(events.get())
                await asyncio.wait((stopping, next_event), timeout=REFRESH_S, return_when=asyncio.FIRST_COMPLETED)
                next_event.cancel()
                wait = MIN_REDRAW_S - (loop.time() - drawn)
                if wait > 0 and not stop.is_set():
                    await asyncio.sleep(wait)
                # the last frame is the board as it ran, before the services wind down
                live.update(render(state, title=title, started=started), refresh=True)
                drawn = loop.time()
    finally:
        root.handlers = kept
