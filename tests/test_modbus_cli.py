"""``wisgate modbus scan`` and ``read`` against a real pymodbus server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import struct

from click.testing import CliRunner, Result
from modbus_rig import FieldDevice, tcp_server

from wisgate.cli import cli


def invoke_beside(devices: list[FieldDevice], args: list[str], dead: set[int] | None = None) -> Result:
    async def main() -> Result:
        async with tcp_server(devices, dead=dead) as port:
            runner = CliRunner()
            return await asyncio.to_thread(runner.invoke, cli, ["modbus", *args, "--host", "127.0.0.1",
                                                                "--tcp-port", str(port)])

    return asyncio.run(asyncio.wait_for(main(), 60))


def test_scan_lists_the_ids_that_answer() -> None:
    result = invoke_beside([FieldDevice(2, holding={0: 42}), FieldDevice(5, size=1)],
                           ["scan", "--ids", "1-6", "--timeout", "0.1", "--address", "3"], dead={1, 3, 4, 6})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "    2  holding 3 = 0" in lines
    assert "    5  answers with exception 2 (illegal data address)" in lines
    assert lines[-1] == "2 of 6 ids answered"


def test_read_shows_every_order_side_by_side() -> None:
    high, low = struct.unpack(">HH", struct.pack(">f", 21.5))
    result = invoke_beside([FieldDevice(1, holding={10: high, 11: low})],
                           ["read", "--address", "10", "--count", "2"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.lstrip("│ ").startswith("10 "))
    cells = [c.strip() for c in row.strip("│").split("│")]
    assert cells[:4] == ["10", f"0x{high:04X}", str(high), str(high - 0x10000 if high >= 0x8000 else high)]
    assert cells[4] == "21.5"  # ABCD
    assert cells[5] != "21.5"


def test_read_from_a_dead_device_is_one_line() -> None:
    result = invoke_beside([FieldDevice(1)], ["read", "--device-id", "9", "--timeout", "0.1"], dead={9})
    assert result.exit_code == 1
    assert result.output.strip().endswith("device 9 on 127.0.0.1:" + result.output.split("127.0.0.1:")[1]
                                          .split(":")[0] + ": timeout (no reply in 0.1 s)")


def test_port_or_host_usage() -> None:
    result = CliRunner().invoke(cli, ["modbus", "read"])
    assert result.exit_code == 2
    assert "give --port (RTU) or --host (TCP)" in result.output
    result = CliRunner().invoke(cli, ["modbus", "read", "--port", "ttyUSB0"])
    assert "unknown port 'ttyUSB0'" in result.output
