"""The ``wisgate`` command. Errors are one clear line on stderr and exit status 1, never a traceback."""

from __future__ import annotations

import contextlib
import importlib
import sys
from pathlib import Path

import click

from wisgate.board.rak7391 import ONBOARD_DEVICES
from wisgate.commands._options import bus_options, console
from wisgate.errors import NackError, WisgateError
from wisgate.target import Target

#: subcommand -> its module in wisgate.commands (tests/test_cli.py checks every module is listed)
COMMANDS = {name.replace("_", "-"): name for name in (
    "adc", "apps", "buzzer", "check", "events", "fan", "gpio", "history", "install_service", "lora", "modbus",
    "oled", "rtc", "run", "secure_element")}


class LazyCommands(click.Group):
    """Imports a subcommand's module when that command runs (or help lists it): ``wisgate run`` then carries
    none of the other commands' imports, and a quick command starts without the daemon's."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in COMMANDS:
            command = importlib.import_module(f"wisgate.commands.{COMMANDS[cmd_name]}").command
            self.add_command(command)
        return command


@click.group(cls=LazyCommands)
@click.version_option(package_name="wisgate")
def cli() -> None:
    """wisgate: the RAK7391 WisGate Connect from Python (real board or simulated)."""


@cli.command()
@bus_options
def scan(target: Target) -> None:
    """i2cdetect-style grid of the bus, naming each onboard device found."""
    # the secure element sleeps and NACKs its address until SDA is held low for 60 µs: a write to
    # address 0x00 does that (at the Pi's default 100 kHz), then it answers for 1.3 s
    with contextlib.suppress(NackError):
        target.bus.write(0x00, b"\x00")
    target.clock.sleep(0.0015)
    found = set(target.bus.scan())
    parts = {target.addresses[d.name]: d.part for d in ONBOARD_DEVICES}
    tags = {target.addresses[d.name]: d.tag for d in ONBOARD_DEVICES}
    console.print(f"I2C scan of {target.description}")
    click.echo("    " + "".join(f"{col:>5x}" for col in range(16)))
    for row in range(0, 0x80, 0x10):
        cells = []
        for address in range(row, row + 16):
            if address < 0x03 or address > 0x77:
                cells.append(" " * 5)
            elif address in found:
                cells.append(f"{tags.get(address, f'{address:02x}'):>5}")
            else:
                cells.append(f"{'--':>5}")
        click.echo(f"{row:02x}: " + "".join(cells))
    for address in sorted(found):
        console.print(f"  0x{address:02X}  {parts.get(address, 'unknown device')}")
    missing = [d for d in ONBOARD_DEVICES if target.addresses[d.name] not in found]
    for device in missing:
        console.print(f"  [yellow]missing[/]: {device.part} ({device.role}) at 0x{target.addresses[device.name]:02X}")


@cli.command()
@bus_options
@click.option("--config", "config_path", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Also ask the LoRa modules this configuration lists ([[lora.modules]]) whether they answer.")
def status(target: Target, config_path: Path | None) -> None:
    """Every sensor of the board, read once (and, with --config, each configured LoRa module)."""
    from rich.markup import escape
    from rich.table import Table

    from wisgate.services.readings import format_value
    from wisgate.services.status import read_status

    table = Table(title=f"{target.description}")
    table.add_column("device")
    table.add_column("reading")
    table.add_column("value", justify="right")
    failed = False
    for row in read_status(target):
        failed |= not row.ok
        shown = format_value(row) if row.ok else f"[red]{escape(row.error or '')}[/]"
        table.add_row(row.source, row.label if row.ok else "error", shown)
    console.print(table)
    if config_path is not None:
        for label, answer, ok in _lora_modules(config_path):
            failed |= not ok
            shown = escape(answer) if ok else f"[red]{escape(answer)}[/]"
            console.print(f"LoRa module {escape(label)}: {shown}", soft_wrap=True)
    if failed:
        sys.exit(1)


def _lora_modules(config_path: Path) -> list[tuple[str, str, bool]]:
    """(label, answer, ok) per configured Concentratord: a module that never answers is named."""
    import asyncio

    from wisgate.config import load_config
    from wisgate.lora.backends.concentratord.client import ConcentratordBackend
    from wisgate.lora.errors import BackendError

    async def ask(board: int, event_url: str, command_url: str) -> tuple[str, bool]:
        backend = ConcentratordBackend(board=board, event_url=event_url, command_url=command_url)
        try:
            return f"answers as {await backend.gateway_id()}", True
        except BackendError as exc:
            return f"does not answer: {exc}", False
        finally:
            backend.close()

    rows = []
    for m in load_config(config_path).lora.modules:
        answer, ok = asyncio.run(ask(m.board, m.event_url, m.command_url))
        rows.append((f"board {m.board} ({m.chip}, {m.command_url})", answer, ok))
    return rows


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="wisgate", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (WisgateError, OSError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
