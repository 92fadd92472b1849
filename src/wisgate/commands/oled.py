"""``wisgate oled``: put lines of text on the SSD1306 status screen, set its contrast, or switch it off."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from wisgate.commands._options import bus_options, console
from wisgate.target import Target

if TYPE_CHECKING:
    from wisgate.bitmap import Frame


def _fitting_lines(_ctx: click.Context, _param: click.Parameter, texts: tuple[str, ...]) -> tuple[str, ...]:
    """Refuse what the panel cannot show, as the API does (422), rather than drop or clip it silently."""
    from wisgate.chips.ssd1306 import TEXT_COLUMNS, TEXT_LINES

    if len(texts) > TEXT_LINES:
        raise click.BadParameter(f"{len(texts)} lines given; the panel shows {TEXT_LINES}")
    for n, line in enumerate(texts, 1):
        if len(line) > TEXT_COLUMNS:
            raise click.BadParameter(f"line {n} has {len(line)} characters; a line shows {TEXT_COLUMNS}: {line!r}")
    return texts


@click.command("oled")
@click.option("--text", "texts", multiple=True, metavar="LINE", callback=_fitting_lines,
              help="A line of text (repeat for more lines; up to 5 lines of 21 characters).")
@click.option("--contrast", type=click.IntRange(0, 255), default=None, help="Contrast 0-255 (default 207).")
@click.option("--off", is_flag=True, help="Switch the display off (sleep) after uploading.")
@click.option(
    "--png",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Save the screen as PNG: what the simulated panel shows, or on hardware the image that was sent.",
)
@bus_options
def command(target: Target, texts: tuple[str, ...], contrast: int | None, off: bool, png: Path | None) -> None:
    """Show text on the OLED (5×7 font: five lines of 21 characters fit)."""
    from wisgate.chips.ssd1306 import DEFAULT_CONTRAST, SSD1306, render_text

    address = target.addresses["oled"]
    oled = SSD1306(target.bus, address, clock=target.clock)
    image = render_text(texts)
    level = DEFAULT_CONTRAST if contrast is None else contrast
    oled.init(image, contrast=level)
    if off:
        oled.sleep()
    state = "off" if off else "on"
    console.print(f"OLED 0x{address:02X} on {target.bus.name}: {len(texts)} line(s), contrast {level}, display {state}")
    if png is not None:
        _save_png(target, image, png)
        console.print(f"saved {png}")


def _save_png(target: Target, sent: Frame, path: Path) -> None:
    try:
        if not target.save_display(path):
            path.write_bytes(sent.png())
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from exc
