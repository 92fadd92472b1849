"""``wisgate events``: the board's events from the history file (a running daemon's, or one left behind)."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from pathlib import Path

import click

from wisgate.commands._options import console
from wisgate.services.events import Event, Severity
from wisgate.services.history import ReadOnlyHistory, default_history_path

COLOURS = {Severity.INFO: "", Severity.WARNING: "yellow", Severity.ALARM: "red"}


def event_line(event: Event) -> str:
    when = dt.datetime.fromtimestamp(event.time).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return f"{when}  {event.kind:<24} {event.message}"


def open_history(path: Path | None) -> ReadOnlyHistory:
    try:
        return ReadOnlyHistory(path or default_history_path())
    except (FileNotFoundError, OSError, sqlite3.Error) as exc:
        raise click.ClickException(str(exc)) from None


@click.command("events")
@click.option("--history", "path", type=click.Path(path_type=Path), metavar="FILE",
              help="History file (default: the daemon's, see `wisgate run`).")
@click.option("--last", type=click.IntRange(1, 100_000), default=20, show_default=True, help="How many to show.")
@click.option("--follow", "-f", is_flag=True, help="Keep showing new events as the daemon stores them (Ctrl-C stops).")
def command(path: Path | None, last: int, follow: bool) -> None:
    """Show the latest events (supply lost, fan stall, service failures...) and optionally follow them."""
    history = open_history(path)
    events = history.events(limit=1_000_000)[-last:]
    for event in events:
        console.print(event_line(event), style=COLOURS[event.severity], highlight=False, soft_wrap=True)
    if not events:
        console.print(f"no events in {history.path} yet")
    seen = events[-1].seq if events else 0
    try:
        while follow:
            time.sleep(0.5)
            for event in history.events(after_seq=seen, limit=1000):
                console.print(event_line(event), style=COLOURS[event.severity], highlight=False, soft_wrap=True)
                seen = event.seq
    except KeyboardInterrupt:
        pass
    finally:
        history.close()
