"""``wisgate history``: a reading's stored history (10 s steps for a day, 1 min for a month)."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

import click

from wisgate.commands._options import console
from wisgate.commands.events import open_history

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_since(text: str) -> float:
    """``90s``, ``15m``, ``2h``, ``7d`` ago, or an ISO date-time; seconds since the epoch."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    if match:
        return time.time() - float(match[1]) * _UNITS[match[2]]
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither a duration like 15m/2h/7d nor an ISO date-time") from None
    return (when if when.tzinfo else when.astimezone()).timestamp()


@click.command("history")
@click.argument("reading", required=False)
@click.option("--since", default="1h", show_default=True, help="How far back: 15m, 2h, 7d or an ISO date-time.")
@click.option("--history", "path", type=click.Path(path_type=Path), metavar="FILE",
              help="History file (default: the daemon's, see `wisgate run`).")
def command(reading: str | None, since: str, path: Path | None) -> None:
    """A reading's mean/min/max over time (cpu.temperature, fan.rpm, adc.ain1...); no READING lists them."""
    start = parse_since(since)
    history = open_history(path)
    try:
        names = history.names()
        if reading is None:
            console.print("stored readings: " + (", ".join(names) or "none yet"))
            return
        if reading not in names:
            raise click.ClickException(f"no history of {reading!r}; stored: {', '.join(names) or 'none yet'}")
        samples = history.samples(reading, since=start)
    finally:
        history.close()
    from rich.table import Table

    unit = samples[0].unit if samples else ""
    table = Table(title=f"{reading} ({unit})" if unit else reading)
    for column in ("time", "mean", "min", "max"):
        table.add_column(column, justify="right" if column != "time" else "left")
    for sample in samples:
        when = dt.datetime.fromtimestamp(sample.t).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(when, f"{sample.mean:.2f}", f"{sample.min:.2f}", f"{sample.max:.2f}")
    console.print(table)
    if not samples:
        console.print(f"no samples of {reading} since {since}")
