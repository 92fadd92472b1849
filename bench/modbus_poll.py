"""ModBUS polling figures (docs/industrial.md): a pymodbus server in a child process, the daemon's own
poller (wisgate.industrial.modbus.poller.BusPoller) in this one, traffic on 127.0.0.1 / a socat pty pair.

1. throughput: points polled per second over TCP on loopback, RTU over a pty (a pty has no line rate:
   the software's ceiling), and RTU over a line paced at 9600 and at 115200 baud (a relay between two pty
   pairs plays the half-duplex wire: each frame takes its characters' time, 10 bits each, and the
   inter-frame silence after it), each beside the line's own limit computed from the frame sizes;
2. one dead device among 20: the longest round of due devices, and the longest gap between two readings
   of a live device, with the dead one timing out at 0.5 s, disabled after 3 failures, retried every 5 s;
3. CPU of the polling process per 100 points/s (10 devices x 10 points every second, for 10 s; the board
   state keeps the readings and the history file takes them, as in the daemon); and of the whole daemon
   (``wisgate run --sim`` with only the monitor, history, API and industrial services) at 0, 100 and
   1,000 points/s, from its /proc counters over 20 s, the points counted from its own /metrics.

Run: .venv/bin/python bench/modbus_poll.py
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from wisgate.industrial.config import BusSection
from wisgate.industrial.modbus.poller import BusPoller
from wisgate.services.history import History
from wisgate.services.state import BoardState

POINTS = 10
DEAD_ID = 20


def serve(kind: str, where: str, devices: int, baud: int) -> None:
    """The child process: ``devices`` ids with 100 holding registers each; DEAD_ID never answers."""
    import logging
    from functools import partial

    from pymodbus import FramerType
    from pymodbus.server import ModbusSerialServer, ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    sims = [SimDevice(i, simdata=[SimData(0, values=list(range(100)), datatype=DataType.REGISTERS)])
            for i in range(1, devices + 1) if i != DEAD_ID]

    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # it logs a traceback for each unknown id

    def drop(id_at: int, sending: bool, packet: bytes) -> bytes:
        return b"" if sending and len(packet) > id_at and packet[id_at] == DEAD_ID else packet

    async def main() -> None:
        server: Any
        if kind == "tcp":
            server = ModbusTcpServer(sims, address=("127.0.0.1", int(where)), trace_packet=partial(drop, 6))
        else:
            server = ModbusSerialServer(sims, framer=FramerType.RTU, port=where, baudrate=baud,
                                        trace_packet=partial(drop, 0))
        await server.serve_forever()

    asyncio.run(main())


def relay(a: str, b: str, baud: int) -> None:
    """The child process: an RS485 line of ``baud`` between two ptys. The line is half duplex (one wire for
    both directions): a chunk of bytes (a frame, as senders write them) is delivered when its last character
    would have arrived, after whatever was on the wire before it, and the wire then stays silent for the
    RTU inter-frame gap (3.5 characters; 1.75 ms above 19200 baud) before it carries the next frame."""
    import tty

    char_s = 10 / baud
    gap_s = 3.5 * char_s if baud <= 19200 else 0.00175
    ends = [os.open(p, os.O_RDWR | os.O_NOCTTY) for p in (a, b)]
    for fd in ends:
        tty.setraw(fd)
    wire = threading.Lock()
    free_at = [0.0]

    def carry(source: int, sink: int) -> None:
        while True:
            data = os.read(source, 4096)
            with wire:
                arrive = max(time.monotonic(), free_at[0]) + len(data) * char_s
                free_at[0] = arrive + gap_s
            delay = arrive - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            os.write(sink, data)

    threading.Thread(target=carry, args=(ends[1], ends[0]), daemon=True).start()
    carry(ends[0], ends[1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(kind: str, where: str, devices: int, baud: int = 115200) -> Any:
    child = subprocess.Popen([sys.executable, __file__, "--serve", kind, where, str(devices), str(baud)])
    try:
        if kind == "tcp":
            for _ in range(500):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", int(where)), 0.1):
                    break
                time.sleep(0.01)
        else:
            time.sleep(1.0)
        yield
    finally:
        child.terminate()
        child.wait(5)


@contextlib.contextmanager
def pty_pair() -> Any:
    if shutil.which("socat") is None:
        raise SystemExit("socat is needed: apt-get install socat")
    folder = Path(tempfile.mkdtemp())
    a, b = folder / "field", folder / "gateway"
    socat = subprocess.Popen(["socat", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
                             stderr=subprocess.DEVNULL)
    while not (a.exists() and b.exists()):
        time.sleep(0.01)
    try:
        yield str(a), str(b)
    finally:
        socat.terminate()
        socat.wait(5)


@contextlib.contextmanager
def paced_line(baud: int) -> Any:
    """(field end, gateway end) of a serial line carrying ``baud``: two pty pairs and the relay between them."""
    with pty_pair() as (field, near), pty_pair() as (far, gateway):
        child = subprocess.Popen([sys.executable, __file__, "--relay", near, far, str(baud)])
        time.sleep(0.3)
        try:
            yield field, gateway
        finally:
            child.terminate()
            child.wait(5)


def bus(link: dict[str, Any], devices: int, interval_s: float, *, dead: bool = False) -> BusSection:
    ids = [*list(range(1, devices)), DEAD_ID] if dead else list(range(1, devices + 1))
    return BusSection.model_validate({"name": "bench", **link, "devices": [
        {"name": f"d{i}", "device_id": i, "interval_s": interval_s, "timeout_s": 0.5, "max_failures": 3,
         "retry_s": 5.0, "points": [{"name": f"p{n}", "address": n} for n in range(POINTS)]} for i in ids]})


async def poll_for(section: BusSection, seconds: float, history: History | None = None,
                   ) -> tuple[BusPoller, BoardState, dict[str, list[float]]]:
    state = BoardState(history=history)
    times: dict[str, list[float]] = {}
    original = state.put_readings

    def record(readings: list[Any]) -> None:
        for r in readings:
            if r.ok and r.name.endswith(".p0"):
                times.setdefault(r.source, []).append(time.monotonic())
        original(readings)

    state.put_readings = record  # type: ignore[method-assign]
    poller = BusPoller(section, state)
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(seconds)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return poller, state, times


def points_per_second(section: BusSection, seconds: float, history: History | None = None) -> float:
    _, _, times = asyncio.run(poll_for(section, seconds, history))
    return sum(len(t) for t in times.values()) * POINTS / seconds


def line_limit(baud: int, registers: int) -> float:
    """Points/s a serial line can carry at most: 8N1 (10 bits a character), request 8 and reply 5 + 2n
    characters, 3.5 characters of silence after each frame (the RTU spec fixes 1.75 ms above 19200 baud)."""
    char_s = 10 / baud
    gap_s = 3.5 * char_s if baud <= 19200 else 0.00175
    transaction_s = (8 + 5 + 2 * registers) * char_s + 2 * gap_s
    return registers / transaction_s


#: every service but these is switched off for the daemon figure
DAEMON_OFF = ("fan", "environment", "leds", "rtc", "lora", "power", "buzzer", "display")


def daemon_config(folder: Path, api_port: int, tcp_port: int, interval_s: float | None) -> Path:
    """A daemon configuration polling 10 devices x 10 points every ``interval_s`` (None: no industrial)."""
    lines = [f"[{name}]\nenabled = false" for name in DAEMON_OFF]
    lines += ["[monitor]\ninterval_s = 5", f"[api]\nport = {api_port}",
              f'[history]\npath = "{folder / "history.sqlite"}"']
    if interval_s is None:
        lines.append("[industrial]\nenabled = false")
    else:
        lines.append(f'[[industrial.modbus.buses]]\nname = "bench"\nhost = "127.0.0.1"\ntcp_port = {tcp_port}')
        for i in range(1, 11):
            points = ", ".join(f'{{ name = "p{n}", address = {n} }}' for n in range(POINTS))
            lines.append(f'[[industrial.modbus.buses.devices]]\nname = "d{i}"\ndevice_id = {i}\n'
                         f"interval_s = {interval_s}\npoints = [{points}]")
    path = folder / "wisgate.toml"
    path.write_text("\n\n".join(lines) + "\n")
    return path


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def requests_seen(api_port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return sum(float(m) for m in re.findall(r"^wisgate_modbus_requests_total\{[^}]*\} (\S+)$", text, re.M))


def daemon_cpu(tcp_port: int, interval_s: float | None, seconds: float = 20.0) -> tuple[float, float]:
    """(points/s, share of one core) of a ``wisgate run --sim`` daemon, measured after a 5 s warm-up."""
    api_port = free_port()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        config = daemon_config(folder, api_port, tcp_port, interval_s)
        env = {**os.environ, "WISGATE_STATE_DIR": str(folder), "WISGATE_RUNTIME_DIR": str(folder)}
        child = subprocess.Popen([sys.executable, "-m", "wisgate", "run", "--sim", "--plain", "--config",
                                  str(config)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(5.0)
            first = requests_seen(api_port) if interval_s is not None else 0.0
            cpu, started = cpu_seconds(child.pid), time.monotonic()
            time.sleep(seconds)
            elapsed = time.monotonic() - started
            share = (cpu_seconds(child.pid) - cpu) / elapsed
            points = (requests_seen(api_port) - first) * POINTS / elapsed if interval_s is not None else 0.0
        finally:
            child.terminate()
            child.wait(10)
    return points, share


def main() -> None:
    port = free_port()
    tcp = {"host": "127.0.0.1", "tcp_port": port}
    with server("tcp", str(port), 20):
        fast = points_per_second(bus(tcp, 10, 0.011), 5.0)
        print(f"TCP loopback: {fast:,.0f} points/s ({POINTS} adjacent points per request, 10 devices)")
        poller, _, times = asyncio.run(poll_for(bus(tcp, 20, 1.0, dead=True), 15.0))
        live_gaps = [max(b - a for a, b in itertools.pairwise(t)) for s, t in times.items() if len(t) > 1]
        dead = poller.devices[-1]
        print(f"TCP, 20 devices every 1 s, one dead: longest round {poller.max_round_s * 1000:.0f} ms, longest gap "
              f"between two readings of a live device {max(live_gaps):.2f} s; dead device tried {dead.requests} "
              f"times in 15 s ({dead.status})")
        with tempfile.TemporaryDirectory() as folder:
            history = History(Path(folder) / "history.sqlite")
            started_cpu, started = time.process_time(), time.monotonic()
            rate = points_per_second(bus(tcp, 10, 1.0), 10.0, history)
            cpu = (time.process_time() - started_cpu) / (time.monotonic() - started)
            history.close()
        print(f"CPU of the polling process (poller, board state, history) at {rate:.0f} points/s: "
              f"{cpu * 100:.1f} % of one core ({cpu * 100 * 100 / rate:.2f} % per 100 points/s)")
        figures = [daemon_cpu(port, interval) for interval in (None, 1.0, 0.1)]
        for points, share in figures:
            print(f"daemon (monitor, history, API, industrial) at {points:,.0f} points/s: {share * 100:.2f} % of "
                  "one core")
        (idle_rate, idle), (busy_rate, busy) = figures[0], figures[-1]
        print(f"daemon CPU per 100 points/s (above its idle {idle * 100:.2f} %): "
              f"{(busy - idle) * 100 * 100 / (busy_rate - idle_rate):.2f} % of one core")
    with pty_pair() as (field, gateway), server("rtu", field, 20):
        rtu = {"port": gateway, "baudrate": 115200}
        fast = points_per_second(bus(rtu, 10, 0.011), 5.0)
        print(f"RTU over a pty (no line rate): {fast:,.0f} points/s; a real line carries at most "
              f"{line_limit(9600, POINTS):.0f} points/s at 9600 baud and {line_limit(115200, POINTS):,.0f} at "
              f"115200 ({POINTS}-register reads)")
        poller, _, times = asyncio.run(poll_for(bus(rtu, 20, 1.0, dead=True), 15.0))
        live_gaps = [max(b - a for a, b in itertools.pairwise(t)) for s, t in times.items() if len(t) > 1]
        print(f"RTU pty, 20 devices every 1 s, one dead: longest round {poller.max_round_s * 1000:.0f} ms, longest "
              f"gap between two readings of a live device {max(live_gaps):.2f} s")
    for baud in (9600, 115200):
        with paced_line(baud) as (field, gateway), server("rtu", field, 20, baud):
            rate = points_per_second(bus({"port": gateway, "baudrate": baud}, 10, 0.011), 10.0)
            limit = line_limit(baud, POINTS)
            print(f"RTU on a line paced at {baud} baud: {rate:,.0f} points/s; the line's limit {limit:,.0f} "
                  f"({rate / limit * 100:.0f} %)")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif len(sys.argv) == 5 and sys.argv[1] == "--relay":
        relay(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
