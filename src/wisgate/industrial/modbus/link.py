"""One ModBUS bus, RTU over a serial port or TCP: requests with a per-request timeout, and failures
classified (no reply, CRC error, exception code, no connection) so health can say why.

pymodbus (3.10+) frames and sends; its own retries are off (the poller decides what a failure costs)
and its own reply wait is set longer than any device's, so the per-device timeout here is what ends a
wait: on a serial line a dead device costs its timeout and nothing more.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from wisgate.industrial.config import BusSection

if TYPE_CHECKING:
    # pymodbus is imported when a link is made: the API and the service's types need this module, and a
    # daemon with no ModBUS bus configured should not pay for pymodbus
    from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
    from pymodbus.pdu import ModbusPDU

FailureKind = Literal["timeout", "crc", "exception", "connection"]

#: ModBUS exception codes (MODBUS Application Protocol v1.1b3, §7)
EXCEPTION_NAMES = {
    1: "illegal function", 2: "illegal data address", 3: "illegal data value", 4: "server device failure",
    5: "acknowledge", 6: "server device busy", 8: "memory parity error", 10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}
#: the client's own wait, only a backstop behind the per-request timeout
CLIENT_TIMEOUT_S = 60.0

# pymodbus logs every frame at DEBUG: that would drown the daemon's own debug log
logging.getLogger("pymodbus").setLevel(logging.INFO)


class LinkFailure(Exception):
    def __init__(self, kind: FailureKind, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code


def exception_text(code: int) -> str:
    return f"exception {code} ({EXCEPTION_NAMES.get(code, 'unknown')})"


def garbled_reason(received: bytes) -> str:
    """Why bytes that arrived never made a reply: a frame whose CRC is wrong, or an incomplete one."""
    from pymodbus.framer.rtu import FramerRTU

    if len(received) >= 4:
        body, crc = received[:-2], int.from_bytes(received[-2:], "big")
        if not FramerRTU.check_CRC(body, crc):
            return f"CRC error ({len(received)} bytes received, checksum wrong)"
    return f"incomplete or garbled reply ({len(received)} bytes)"


@dataclass
class Stats:
    requests: int = 0
    failures: int = 0
    #: seconds spent waiting for replies
    busy_s: float = 0.0


class ModbusLink:
    def __init__(self, bus: BusSection) -> None:
        from pymodbus import FramerType
        from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

        self.bus = bus
        self.stats = Stats()
        self._received = bytearray()
        self.client: AsyncModbusSerialClient | AsyncModbusTcpClient
        if bus.serial_port is not None:
            self.client = AsyncModbusSerialClient(
                bus.serial_port, framer=FramerType.RTU, baudrate=bus.baudrate, parity=bus.parity,
                stopbits=bus.stopbits, bytesize=bus.bytesize, timeout=CLIENT_TIMEOUT_S, retries=0,
                reconnect_delay=0, trace_packet=self._trace)
        else:
            assert bus.host is not None
            self.client = AsyncModbusTcpClient(bus.host, port=bus.tcp_port, timeout=CLIENT_TIMEOUT_S, retries=0,
                                               reconnect_delay=0, trace_packet=self._trace)
        self._lock = asyncio.Lock()

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if sending:
            self._received.clear()
        else:
            self._received.extend(data)
        return data

    async def _connect(self, timeout_s: float) -> None:
        if self.client.connected:
            return
        port = self.bus.serial_port
        if port is not None and not os.path.exists(port):
            raise LinkFailure("connection", f"serial port {port} not found")
        try:
            async with asyncio.timeout(max(timeout_s, 1.0)):
                ok = await self.client.connect()
        except TimeoutError:
            ok = False
        if not ok:
            raise LinkFailure("connection", f"cannot connect to {self.bus.where}")

    async def request(self, device_id: int, timeout_s: float, call: str, address: int, **kwargs: object) -> ModbusPDU:
        """Run one client call (``read_holding_registers``...) for ``device_id``; a failure is a LinkFailure."""
        from pymodbus import ModbusException

        async with self._lock:
            started = time.monotonic()
            self.stats.requests += 1
            try:
                await self._connect(timeout_s)
                self._received.clear()
                try:
                    async with asyncio.timeout(timeout_s):
                        response: ModbusPDU = await getattr(self.client, call)(address, device_id=device_id,
                                                                               **kwargs)
                except TimeoutError:
                    if self._received and self.bus.serial_port is not None:
                        raise LinkFailure("crc", garbled_reason(bytes(self._received))) from None
                    raise LinkFailure("timeout", f"timeout (no reply in {timeout_s:g} s)") from None
                except ModbusException as exc:
                    raise LinkFailure("connection", f"{self.bus.where}: {exc}") from None
                if response.isError():
                    code = int(getattr(response, "exception_code", 0))
                    raise LinkFailure("exception", exception_text(code), code)
                return response
            except LinkFailure:
                self.stats.failures += 1
                raise
            finally:
                self.stats.busy_s += time.monotonic() - started

    async def read(self, table: str, address: int, count: int, device_id: int, timeout_s: float) -> list[int]:
        """Registers (0-65535) or bits (0/1) of ``table`` from ``address`` on."""
        call = {"holding": "read_holding_registers", "input": "read_input_registers", "coil": "read_coils",
                "discrete": "read_discrete_inputs"}[table]
        response = await self.request(device_id, timeout_s, call, address, count=count)
        if table in ("coil", "discrete"):
            bits = list(response.bits)[:count]
            if len(bits) < count:
                raise LinkFailure("exception", f"short reply: {len(bits)} of {count} bits")
            return [int(b) for b in bits]
        registers = list(response.registers)
        if len(registers) != count:
            raise LinkFailure("exception", f"short reply: {len(registers)} of {count} registers")
        return registers

    async def write(self, table: str, address: int, values: list[int], device_id: int, timeout_s: float) -> None:
        if table == "coil":
            await self.request(device_id, timeout_s, "write_coil", address, value=bool(values[0]))
        elif len(values) == 1:
            await self.request(device_id, timeout_s, "write_register", address, value=values[0])
        else:
            await self.request(device_id, timeout_s, "write_registers", address, values=values)

    def close(self) -> None:
        self.client.close()
