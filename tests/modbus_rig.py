"""Real ModBUS field devices for tests: pymodbus servers on 127.0.0.1 (TCP) or on one end of a socat
pseudo-terminal pair (RTU), holding registers the tests set and change.

A device id listed in ``dead`` never answers (its replies are dropped before they are sent, as silence
on a real bus); one in ``garbled`` answers with a wrong CRC.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path

import pytest
from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

REGISTERS = 400
BITS = 64


class FieldDevice:
    """Register tables of one device; ``live`` values are set on every read (a changing measurement)."""

    def __init__(self, device_id: int, holding: dict[int, int] | None = None, inputs: dict[int, int] | None = None,
                 coils: dict[int, bool] | None = None, *, size: int = REGISTERS) -> None:
        self.device_id = device_id
        self.live: dict[tuple[int, int], int] = {}
        self.requests = 0
        self.delay_s = 0.0
        hr = [0] * size
        ir = [0] * size
        for address, value in (holding or {}).items():
            hr[address] = value
        for address, value in (inputs or {}).items():
            ir[address] = value
        co = [False] * BITS
        for address, flag in (coils or {}).items():
            co[address] = flag
        self.sim = SimDevice(device_id, simdata=(
            [SimData(0, values=co, datatype=DataType.BITS)],
            [SimData(0, values=[False] * BITS, datatype=DataType.BITS)],
            [SimData(0, values=hr, datatype=DataType.REGISTERS)],
            [SimData(0, values=ir, datatype=DataType.REGISTERS)]), action=partial(FieldDevice._action, self))

    def set_input(self, address: int, value: int) -> None:
        self.live[(4, address)] = value

    def set_holding(self, address: int, value: int) -> None:
        self.live[(3, address)] = value

    async def _action(self, function: int, start: int, address: int, count: int, registers: list[int],
                      values: list[int] | list[bool] | None) -> ExcCodes | None:
        self.requests += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if function in (3, 4):
            for (fc, at), value in list(self.live.items()):
                if (fc == function or (fc == 3 and function in (6, 16))) and start <= at < start + len(registers):
                    registers[at - start] = value
                    if fc == 3:
                        del self.live[(fc, at)]  # a holding register set once keeps its value
        return None


def _dropper(dead: set[int], garbled: set[int], id_at: int, sending: bool, packet: bytes) -> bytes:
    if not sending or len(packet) <= id_at:
        return packet
    if packet[id_at] in dead:
        return b""
    if packet[id_at] in garbled:
        return packet[:-1] + bytes([packet[-1] ^ 0xFF])
    return packet


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def tcp_server(devices: list[FieldDevice], *, dead: set[int] | None = None,
                     port: int | None = None) -> AsyncIterator[int]:
    """A ModBUS TCP server on a free loopback port (or ``port``), serving ``devices``; yields the port."""
    port = port or free_port()
    server = ModbusTcpServer([d.sim for d in devices], address=("127.0.0.1", port),
                             trace_packet=partial(_dropper, dead or set(), set(), 6))
    task = asyncio.create_task(server.serve_forever())
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.1):
                break
            await asyncio.sleep(0.01)
        yield port
    finally:
        await server.shutdown()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


@contextlib.contextmanager
def pty_pair(folder: Path) -> Iterator[tuple[str, str]]:
    """Two linked pseudo-terminals made by Debian's socat: (device end, client end)."""
    if shutil.which("socat") is None:
        pytest.fail("socat is not installed: sudo apt-get install socat (.ci/run installs it)")
    a, b = folder / "field", folder / "gateway"
    process = subprocess.Popen(["socat", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while not (a.exists() and b.exists()):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("socat did not make the pty pair")
            time.sleep(0.01)
        yield str(a), str(b)
    finally:
        process.terminate()
        process.wait(5)


@contextlib.asynccontextmanager
async def rtu_server(devices: list[FieldDevice], port: str, *, baudrate: int = 9600, dead: set[int] | None = None,
                     garbled: set[int] | None = None) -> AsyncIterator[None]:
    """A ModBUS RTU line on ``port`` with ``devices`` on it."""
    server = ModbusSerialServer([d.sim for d in devices], framer=FramerType.RTU, port=port, baudrate=baudrate,
                                trace_packet=partial(_dropper, dead or set(), garbled or set(), 0))
    task = asyncio.create_task(server.serve_forever())
    await asyncio.sleep(0.2)
    try:
        yield
    finally:
        await server.shutdown()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
