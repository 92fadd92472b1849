"""``wisgate fan``: show or set the fan (EMC2301 at 0x2F): direct duty or the chip's own RPM loop."""

from __future__ import annotations

import click

from wisgate.commands._options import bus_options, console
from wisgate.target import Target


@click.command("fan")
@bus_options
@click.option("--duty", type=click.FloatRange(0, 100), metavar="PERCENT", help="Drive the fan directly at 0-100 %.")
@click.option("--rpm", type=click.FloatRange(min=0), metavar="RPM",
              help="Let the chip hold this speed (its RPM loop); 0 stops the fan.")
@click.option("--wait", type=click.FloatRange(min=0), default=0.0, show_default=True, metavar="SECONDS",
              help="Let the fan settle this long before showing it.")
def command(target: Target, duty: float | None, rpm: float | None, wait: float) -> None:
    """Fan drive, speed and faults; reading the faults clears those that have gone."""
    from wisgate.chips.emc2301 import EMC2301

    if duty is not None and rpm is not None:
        raise click.UsageError("give --duty or --rpm, not both")
    fan = EMC2301.open(target.bus, target.addresses["fan"], clock=target.clock)
    if duty is not None:
        fan.set_duty(duty)
    elif rpm is not None:
        try:
            fan.set_target_rpm(rpm)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--rpm") from None
    if wait:
        target.clock.sleep(wait)
    reading = fan.reading()
    status = fan.status()
    mode = "RPM loop" if reading.fsc else "direct drive"
    console.print(f"fan on {target.description}: {mode}")
    console.print(f"  duty    {reading.duty_percent:5.1f} %")
    console.print(f"  speed   {reading.rpm:5.0f} RPM (TACH count {reading.tach_count})")
    if reading.fsc:
        target_text = "off" if reading.target_rpm is None else f"{reading.target_rpm:.0f} RPM"
        console.print(f"  target  {target_text}")
    if duty is not None and not wait and duty > 0 and reading.duty_percent > duty:
        # the EMC2301 kicks a starting fan at full drive for its spin-up time before it settles
        console.print(f"  note    {reading.duty_percent:.0f} % is the spin-up kick; it settles to {duty:g} % "
                      "within about a second (add --wait 2 to see it)", soft_wrap=True)
    problems = status.problems()
    console.print("  status  " + ("[green]ok[/]" if not problems else "[red]" + ", ".join(problems) + "[/]"))
