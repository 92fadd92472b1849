"""``wisgate gpio``: the TPT29555 expanders' 16 lines each: read all, read one, drive one.

Expander 1 (0x27) carries the two LEDs (IO0_6, IO0_7, active low), expander 2 (0x26) the WisBlock
IO slots (lines 0-7 and 8-15). On RAKPiOS the kernel owns both chips; use ``gpioset``/``gpioget``
there (raw access fails as busy).
"""

from __future__ import annotations

import click

from wisgate.commands._options import bus_options, console
from wisgate.target import Target

EXPANDERS = ("expander1", "expander2")


def resolve_expander(target: Target, text: str) -> str:
    """``expander1``/``expander2`` or an address (``0x26``) -> the expander's name."""
    if text in EXPANDERS:
        return text
    try:
        address = int(text, 0)
    except ValueError:
        address = -1
    for name in EXPANDERS:
        if target.addresses[name] == address:
            return name
    known = ", ".join(f"0x{target.addresses[n]:02X} ({n})" for n in EXPANDERS)
    raise click.BadParameter(f"{text!r} is not an expander on this board; use one of {known}", param_hint="--expander")


@click.command("gpio")
@bus_options
@click.option("--expander", "expander_text", metavar="0x26|0x27",
              help="Which expander (address or expander1/expander2). Default: both to read all, 0x26 for one pin.")
@click.argument("pin", required=False, type=click.IntRange(0, 15))
@click.argument("level", required=False, type=click.Choice(["0", "1"]))
def command(target: Target, expander_text: str | None, pin: int | None, level: str | None) -> None:
    """Read all pins, read PIN, or drive PIN to 0 or 1 (it becomes an output)."""
    from wisgate.board.expander_lines import line_name
    from wisgate.chips.tpt29555_kernel import Expander
    def driver(name: str) -> Expander:
        return target.expander(name)

    if pin is None:
        names = [resolve_expander(target, expander_text)] if expander_text else list(EXPANDERS)
        for name in names:
            chip = driver(name)
            outputs, levels, inverted = chip.outputs(), chip.read_pins(), chip.polarity()
            console.print(f"{name} (0x{chip.address:02X}) on {target.description}")
            for n in range(16):
                direction = "out" if outputs >> n & 1 else "in "
                flag = " inverted" if inverted >> n & 1 else ""
                label = line_name(name, n)
                console.print(f"  {n:2d}  IO{n // 8}_{n % 8}  {direction}  {levels >> n & 1}{flag}  {label}".rstrip())
        return
    name = resolve_expander(target, expander_text or "expander2")
    chip = driver(name)
    label = line_name(name, pin)
    where = f"{name} (0x{chip.address:02X}) pin {pin} (IO{pin // 8}_{pin % 8}{', ' + label if label else ''})"
    if level is None:
        direction = "output" if chip.is_output(pin) else "input"
        console.print(f"{where}: {int(chip.read_pin(pin))} ({direction})")
        return
    chip.set_direction(pin, output=True, initial=level == "1")
    console.print(f"{where}: driven {level}, reads {int(chip.read_pin(pin))}")
