"""``wisgate adc``: the SGM58031's inputs in volts, one single-shot conversion each.

WisBlock analog inputs arrive on channel 1 (slot 1) and 3 (slot 2). ``--rak5801`` adds the 4-20 mA
loop current of a RAK5801 module, I = V / 149.9 Ω (RAK's examples).
"""

from __future__ import annotations

import click

from wisgate.commands._options import bus_options, console
from wisgate.target import Target

GAIN_CHOICES = ("6.144", "4.096", "2.048", "1.024", "0.512", "0.256")
RATE_CHOICES = ("6.25", "7.5", "12.5", "15", "25", "30", "50", "60", "100", "120", "200", "240", "400", "480", "800",
                "960")
CHANNEL_CHOICES = ("0", "1", "2", "3", "0-1", "0-3", "1-3", "2-3")


def parse_channel(text: str) -> int | tuple[int, int]:
    if "-" in text:
        positive, negative = text.split("-")
        return int(positive), int(negative)
    return int(text)


@click.command("adc")
@bus_options
@click.option("--channel", type=click.Choice(CHANNEL_CHOICES), metavar="N|P-N",
              help="One input (0-3) or a differential pair (0-1, 0-3, 1-3, 2-3). Default: all four inputs.")
@click.option("--gain", type=click.Choice(GAIN_CHOICES), default="4.096", show_default=True, metavar="VOLTS",
              help="Full scale, ±V: " + ", ".join(GAIN_CHOICES) + ".")
@click.option("--rate", type=click.Choice(RATE_CHOICES), default="100", show_default=True, metavar="SPS",
              help="Samples per second: " + ", ".join(RATE_CHOICES) + ".")
@click.option("--rak5801", is_flag=True, help="Also show a RAK5801 4-20 mA module's current (V / 149.9 Ω).")
def command(target: Target, channel: str | None, gain: str, rate: str, rak5801: bool) -> None:
    """Read the ADC inputs in volts."""
    from wisgate.board.expander_lines import RAK5801_OHMS
    from wisgate.chips.sgm58031 import SGM58031

    adc = SGM58031.open(target.bus, target.addresses["adc"], clock=target.clock, gain=float(gain), rate=float(rate))
    channels = [channel] if channel else ["0", "1", "2", "3"]
    console.print(f"SGM58031 (0x{adc.address:02X}) on {target.description}, ±{gain} V, {rate} SPS")
    for text in channels:
        volts = adc.read_volts(parse_channel(text))
        name = f"AIN{text}" if "-" not in text else "AIN" + "-AIN".join(text.split("-"))
        line = f"  {name:<10} {volts:9.5f} V"
        if rak5801:
            line += f"  {volts / RAK5801_OHMS * 1000:7.3f} mA"
        console.print(line)
