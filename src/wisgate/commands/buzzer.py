"""``wisgate buzzer``: a tone on the passive buzzer (CM4 GPIO13, square wave; jumper J39 11-12)."""

from __future__ import annotations

import click

from wisgate.commands._options import bus_options, console
from wisgate.target import Target


@click.command("buzzer")
@bus_options
@click.option("--frequency", "frequency_hz", type=click.FloatRange(20, 20_000), default=440.0, show_default=True,
              metavar="HZ", help="Tone frequency.")
@click.option("--duration", "duration_s", type=click.FloatRange(0, 60), default=0.5, show_default=True,
              metavar="S", help="How long to sound.")
def command(target: Target, frequency_hz: float, duration_s: float) -> None:
    """Sound the buzzer: a square wave on GPIO13 (it only sounds with jumper J39 pins 11-12 fitted)."""
    from wisgate.chips.buzzer import J39_HINT, Buzzer, measure_tone
    from wisgate.services.buzzer import BUZZER_LINE, open_buzzer_line

    line = open_buzzer_line(target, owner="buzzer command")
    try:
        start = target.clock.monotonic()
        cycles = Buzzer(line, target.clock).tone(frequency_hz, duration_s)
        recorded = line.recorded_edges()
    finally:
        target.release_line(line.name, "buzzer command")
    console.print(f"buzzer on {BUZZER_LINE} ({target.description}): {frequency_hz:g} Hz for "
                  f"{cycles / frequency_hz:.3f} s ({cycles} cycles)")
    if recorded is not None and cycles >= 2:
        edges = [entry for entry in recorded if entry[0] >= start]
        tone = measure_tone([(start, False), *edges])
        console.print(f"simulated line: {tone.frequency_hz:.2f} Hz, {tone.duration_s:.4f} s, duty {tone.duty:.0%}")
    elif recorded is None:
        console.print(J39_HINT)
