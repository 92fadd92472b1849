"""``wisgate modbus``: a first look at an unknown ModBUS device.

``scan`` asks every device id in a range for one register and lists those that answer (an exception
reply counts: a device is there). ``read`` dumps a register range with each 16-bit register as hex, u16
and i16, and the value starting at each address in the four byte/word orders side by side (ABCD, CDAB,
BADC, DCBA), so the order a device uses is the column that makes sense.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import click

from wisgate.commands._options import console

if TYPE_CHECKING:
    from rich.table import Table

#: the common names of the byte/word orders: (byte order, word order)
ORDER_NAMES = {"ABCD": ("big", "big"), "CDAB": ("big", "little"), "BADC": ("little", "big"),
               "DCBA": ("little", "little")}
TABLES = ("holding", "input", "coil", "discrete")


def link_options(func: Any) -> Any:
    for option in reversed([
        click.option("--port", metavar="PATH", help="Serial port (RTU): /dev/ttyUSB0, /dev/serial/by-id/..., or "
                     "wisblock1 / wisblock2."),
        click.option("--host", help="ModBUS TCP server or gateway (instead of --port)."),
        click.option("--tcp-port", type=click.IntRange(1, 65535), default=502, show_default=True),
        click.option("--baudrate", type=click.IntRange(300, 4_000_000), default=9600, show_default=True),
        click.option("--parity", type=click.Choice(["N", "E", "O"]), default="N", show_default=True),
        click.option("--stopbits", type=click.Choice(["1", "2"]), default="1", show_default=True),
        click.option("--timeout", "timeout_s", type=click.FloatRange(0.01, 30), default=0.5, show_default=True,
                     help="Seconds to wait for each answer."),
    ]):
        func = option(func)
    return func


def bus_section(port: str | None, host: str | None, tcp_port: int, baudrate: int, parity: str,
                stopbits: str) -> Any:
    """The link the options describe (a BusSection), or a one-line usage error."""
    from pydantic import ValidationError

    from wisgate.industrial.config import BusSection

    if (port is None) == (host is None):
        raise click.UsageError("give --port (RTU) or --host (TCP)")
    try:
        bus = BusSection.model_validate({"name": "cli", "port": port, "host": host, "tcp_port": tcp_port,
                                         "baudrate": baudrate, "parity": parity, "stopbits": int(stopbits)})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "link"
        raise click.UsageError(f"{where}: {str(first['msg']).removeprefix('Value error, ')}") from None
    return bus


def parse_ids(text: str) -> list[int]:
    ids: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        try:
            start, end = int(low), int(high or low)
        except ValueError:
            raise click.BadParameter(f"{part!r} is not an id or a range like 1-247", param_hint="--ids") from None
        if not 0 <= start <= end <= 255:
            raise click.BadParameter(f"{part!r}: device ids are 0-255", param_hint="--ids")
        ids.extend(range(start, end + 1))
    return ids


@click.group("modbus")
def command() -> None:
    """ModBUS tools: find devices on a line, dump registers in every byte order."""


@command.command("scan")
@link_options
@click.option("--ids", default="1-247", show_default=True, help="Device ids to try: 1-20, 1,5,9-12.")
@click.option("--table", type=click.Choice(TABLES), default="holding", show_default=True)
@click.option("--address", type=click.IntRange(0, 65535), default=0, show_default=True)
def scan(port: str | None, host: str | None, tcp_port: int, baudrate: int, parity: str, stopbits: str,
         timeout_s: float, ids: str, table: str, address: int) -> None:
    """List the device ids that answer."""
    from wisgate.industrial.modbus.link import LinkFailure, ModbusLink

    wanted = parse_ids(ids)
    bus = bus_section(port, host, tcp_port, baudrate, parity, stopbits)

    async def run() -> list[tuple[int, str]]:
        found: list[tuple[int, str]] = []
        link = ModbusLink(bus)
        try:
            for device_id in wanted:
                try:
                    values = await link.read(table, address, 1, device_id, timeout_s)
                    found.append((device_id, f"{table} {address} = {values[0]}"))
                except LinkFailure as exc:
                    if exc.kind == "connection":
                        raise click.ClickException(str(exc)) from None
                    if exc.kind == "exception":
                        found.append((device_id, f"answers with {exc}"))
                    elif exc.kind == "crc":
                        found.append((device_id, f"something answers, garbled: {exc}"))
        finally:
            link.close()
        return found

    console.print(f"scanning ids {ids} on {bus.where} ({timeout_s:g} s each)")
    found = asyncio.run(run())
    for device_id, what in found:
        console.print(f"  {device_id:3d}  {what}")
    console.print(f"{len(found)} of {len(wanted)} ids answered")


@command.command("read")
@link_options
@click.option("--device-id", "device_id", type=click.IntRange(0, 255), default=1, show_default=True)
@click.option("--table", type=click.Choice(TABLES), default="holding", show_default=True)
@click.option("--address", type=click.IntRange(0, 65535), default=0, show_default=True)
@click.option("--count", type=click.IntRange(1, 125), default=10, show_default=True)
@click.option("--type", "dtype", type=click.Choice(["f32", "i32", "u32", "f64", "i64", "u64"]), default="f32",
              show_default=True, help="The multi-register type shown in the four orders.")
def read(port: str | None, host: str | None, tcp_port: int, baudrate: int, parity: str, stopbits: str,
         timeout_s: float, device_id: int, table: str, address: int, count: int, dtype: str) -> None:
    """Dump a register range, each value in every byte/word order."""
    from wisgate.industrial.modbus.link import LinkFailure, ModbusLink

    bus = bus_section(port, host, tcp_port, baudrate, parity, stopbits)

    async def run() -> list[int]:
        link = ModbusLink(bus)
        try:
            return list(await link.read(table, address, count, device_id, timeout_s))
        except LinkFailure as exc:
            raise click.ClickException(f"device {device_id} on {bus.where}: {exc}") from None
        finally:
            link.close()

    values = asyncio.run(run())
    console.print(dump_table(values, address, table, dtype, f"device {device_id} on {bus.where}"))
    if table in ("holding", "input"):
        console.print(f"as text (ABCD): {text_of(values, 'big')!r}   (BADC): {text_of(values, 'little')!r}")


def text_of(values: list[int], byte_order: str) -> str:
    data = b"".join(v.to_bytes(2, "big" if byte_order == "big" else "little") for v in values)
    return "".join(chr(b) if 32 <= b < 127 else "." for b in data)


def dump_table(values: list[int], address: int, table: str, dtype: str, title: str) -> Table:
    from rich.table import Table

    from wisgate.industrial.modbus.codec import DataType, Encoding, decode

    grid = Table(title=f"{table} registers of {title}")
    bits = table in ("coil", "discrete")
    for column in ("address", *(("bit",) if bits else ("hex", "u16", "i16", *[f"{dtype} {n}" for n in ORDER_NAMES]))):
        grid.add_column(column, justify="right")
    kind = DataType(dtype)
    width = Encoding(kind).registers
    for index, value in enumerate(values):
        if bits:
            grid.add_row(str(address + index), str(value))
            continue
        row = [str(address + index), f"0x{value:04X}", str(value), str(value - 0x10000 if value >= 0x8000 else value)]
        span = values[index:index + width]
        for byte_order, word_order in ORDER_NAMES.values():
            if len(span) < width:
                row.append("")
                continue
            decoded = decode(span, Encoding(kind, width, byte_order, word_order))  # type: ignore[arg-type]
            row.append(f"{decoded:.6g}" if isinstance(decoded, float) else str(decoded))
        grid.add_row(*row)
    return grid
