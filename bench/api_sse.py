"""The daemon's live interfaces under load, against ``wisgate run --sim`` on loopback (issue 13):

- ``GET /api/status`` from ``CLIENTS`` concurrent clients (each ``PER_CLIENT`` requests, kept alive):
  requests/s and p99 latency, sent while the SSE clients below are streaming;
- SSE fan-out: ``SSE_CLIENTS`` clients on ``/api/lora/stream`` while ``UPLINKS_PER_S`` uplinks a second
  reach the daemon's gateway from a simulated Concentratord this bench runs (the daemon's
  ``[[lora.modules]]``, over ZeroMQ as a real one would): delivery latency (the daemon's stamp to the
  client's read, same host clock) p50/p99, packets per client, and the daemon's CPU over the window;
- the daemon's resident memory (VmRSS, VmHWM) with the API, the dashboard's streams and LoRa running.

Every loop is bounded in count and time; traffic goes to 127.0.0.1 only.

Run: .venv/bin/python bench/api_sse.py [seconds]
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from api_load import HOST, concurrent, free_port, percentile

from wisgate.clock import WallClock
from wisgate.lora.frames.crypto import build_data_frame
from wisgate.lora.frames.phy import MType
from wisgate.sim.concentratord import SimConcentratord, SimModule

CLIENTS = 200
PER_CLIENT = 10
SSE_CLIENTS = 50
UPLINKS_PER_S = 100
DEVICES = 500
WINDOW_S = 20.0
WARM_UP_S = 3.0
TIME_KEY = b'"time":'


def start_daemon(workdir: Path, port: int) -> subprocess.Popen[str]:
    config = workdir / "wisgate.toml"
    config.write_text(f"""
[api]
port = {port}
[lora]
traffic_url = "tcp://{HOST}:{free_port()}"
store_dir = "{workdir / 'store'}"
[[lora.modules]]
board = 0
event_url = "ipc://{workdir}/event-0"
command_url = "ipc://{workdir}/command-0"
[history]
path = "{workdir / 'history.sqlite'}"
""")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "wisgate", "run", "--sim", "--config", str(config), "--duration", "600"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
        env={**{k: v for k, v in os.environ.items() if k != "WISGATE_API_TOKEN"}, "WISGATE_STATE_DIR": str(workdir)},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            asyncio.run(concurrent(port, "/api/status", 1, 1))
            return daemon
        except OSError:
            time.sleep(0.2)
    daemon.kill()
    sys.exit("the daemon's API did not answer within 30 s")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_kib(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


async def sse_client(port: int, path: str, until: float, latencies: list[float], counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nAccept: text/event-stream\r\n\r\n".encode())
    count = 0
    try:
        await reader.readuntil(b"\r\n\r\n")
        while True:
            left = until - time.monotonic()
            if left <= 0:
                break
            try:
                chunk = await asyncio.wait_for(reader.read(65536), left)
            except TimeoutError:
                break
            if not chunk:
                break
            now = time.time()
            start = 0
            # the stamp is the record's first field: read it without parsing the whole JSON
            while (at := chunk.find(TIME_KEY, start)) >= 0:
                end = chunk.find(b",", at)
                if end < 0:
                    break
                latencies.append((now - float(chunk[at + len(TIME_KEY):end])) * 1000)
                count += 1
                start = end
    finally:
        counts.append(count)
        writer.close()


async def fan_out(port: int, seconds: float) -> tuple[list[float], list[int]]:
    latencies: list[float] = []
    counts: list[int] = []
    until = time.monotonic() + seconds
    await asyncio.gather(*(sse_client(port, "/api/lora/stream", until, latencies, counts)
                           for _ in range(SSE_CLIENTS)))
    return latencies, counts


async def radio(module: SimConcentratord, seconds: float) -> int:
    """``UPLINKS_PER_S`` uplinks a second from ``DEVICES`` devices (frame counters counting), paced on the
    wall clock; the bench's own work, in the bench's process."""
    key = bytes(16)
    sent = 0
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        while sent < int(elapsed * UPLINKS_PER_S):
            n = sent % DEVICES
            frame = build_data_frame(mtype=MType.UNCONFIRMED_DATA_UP, dev_addr=0x26010000 + n, fcnt32=sent // DEVICES,
                                     nwk_skey=key, app_skey=key, payload=b"bench", fport=1).to_bytes()
            module.receive(frame, frequency=868_100_000 + 200_000 * (n % 3), spreading_factor=7 + n % 6,
                           rssi=-60 - n % 60, snr=10.0 - n % 20, channel=n % 3)
            sent += 1
        await asyncio.sleep(0.005)
    return sent


async def measure(port: int, module: SimConcentratord, seconds: float) -> tuple[
        int, list[float], list[int], tuple[float, list[float], list[str]]]:
    """Uplinks for ``seconds`` plus a warm-up; the fan-out over the window; halfway through it, the status
    calls, while the streams flow."""
    sending = asyncio.create_task(radio(module, WARM_UP_S + seconds))
    await asyncio.sleep(WARM_UP_S)
    streams = asyncio.create_task(fan_out(port, seconds))
    await asyncio.sleep(seconds / 2)
    status = await concurrent(port, "/api/status", CLIENTS, PER_CLIENT)
    latencies, counts = await streams
    return await sending, latencies, counts, status


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else WINDOW_S
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        module = SimConcentratord(SimModule("0016c001ff1a0000"), clock=WallClock(),
                                  event_url=f"ipc://{workdir}/event-0", command_url=f"ipc://{workdir}/command-0").start()
        daemon = start_daemon(Path(workdir), port)
        try:
            time.sleep(2)  # the gateway subscribes to the module
            cpu_before, wall_before = cpu_seconds(daemon.pid), time.monotonic()
            sent, latencies, counts, (elapsed, times, errors) = asyncio.run(measure(port, module, seconds))
            cpu = (cpu_seconds(daemon.pid) - cpu_before) / (time.monotonic() - wall_before)
            rate = sum(counts) / len(counts) / seconds if counts else 0.0
            print(f"SSE fan-out: {SSE_CLIENTS} clients on /api/lora/stream for {seconds:.0f} s, {sent} uplinks sent "
                  f"at {UPLINKS_PER_S}/s, {rate:.0f}/s reaching each client ({sum(counts)} deliveries): latency p50 "
                  f"{percentile(latencies, 0.5):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms, "
                  f"max {max(latencies):.1f} ms; daemon CPU {cpu * 100:.0f} % of one core over the run "
                  f"(fewest packets a client got: {min(counts)})")
            memory = memory_kib(daemon.pid)
            print(f"daemon memory with API, streams and LoRa ({rate:.0f} uplinks/s): VmRSS "
                  f"{memory['VmRSS'] / 1024:.1f} MiB, peak {memory['VmHWM'] / 1024:.1f} MiB (goal ≤ 80 MB)")
            print(f"GET /api/status {CLIENTS} concurrent clients × {PER_CLIENT} during the fan-out: "
                  f"{len(times) / elapsed:.0f} requests/s, p50 {percentile(times, 0.5):.1f} ms, "
                  f"p99 {percentile(times, 0.99):.1f} ms, {len(errors)} errors")
        finally:
            daemon.terminate()
            try:
                daemon.wait(20)
            except subprocess.TimeoutExpired:
                print("the daemon did not stop within 20 s of SIGTERM: killed")
                daemon.kill()
            module.stop()


if __name__ == "__main__":
    main()
