"""HTTP API latency and throughput against ``wisgate run --sim`` on loopback (docs/api.md, issue 17).

Starts the daemon on the simulated board (every default service, LoRa included, on free loopback
ports), then for ``GET /api/status`` and ``GET /metrics``:

- kept-alive sequential: one HTTP/1.1 connection, ``SEQUENTIAL`` requests one after the other,
  p50/p99 latency (goal p50 ≤ 2 ms);
- concurrent: ``CLIENTS`` clients connecting at once, each sending ``PER_CLIENT`` requests on its
  kept-alive connection; requests/s over the whole run and p99 latency, a first request's latency
  including its connect (goal ≥ 1,500 requests/s and p99 ≤ 250 ms on a 2-core machine).

Every loop is bounded in count and time; traffic goes to 127.0.0.1 only.

``/metrics`` bodies are shared for ``[api] metrics_max_age_s`` (default 0.5 s); a third argument sets it
(0: rendered for every scrape, the cost before the cache).

Run: .venv/bin/python bench/api_load.py [clients] [requests_per_client] [metrics_max_age_s]
"""

from __future__ import annotations

import asyncio
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEQUENTIAL = 1000
CLIENTS = 500
PER_CLIENT = 10
#: one concurrent run gives up after this long (a stalled server must not hang the bench)
RUN_LIMIT_S = 120.0
HOST = "127.0.0.1"
PATHS = ("/api/status", "/metrics")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def start_daemon(workdir: Path, port: int, metrics_max_age_s: str | None) -> subprocess.Popen[str]:
    config = workdir / "wisgate.toml"
    api = f"port = {port}\n" + (f"metrics_max_age_s = {float(metrics_max_age_s)}\n" if metrics_max_age_s else "")
    config.write_text(f'[api]\n{api}[lora]\ntraffic_url = "tcp://{HOST}:{free_port()}"\n')
    daemon = subprocess.Popen(
        [sys.executable, "-m", "wisgate", "run", "--sim", "--config", str(config), "--duration", "600"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
        env={k: v for k, v in os.environ.items() if k != "WISGATE_API_TOKEN"},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=2)
            connection.request("GET", "/api/status")
            if connection.getresponse().status == 200:
                connection.close()
                return daemon
        except OSError:
            time.sleep(0.2)
    daemon.kill()
    sys.exit("the daemon's API did not answer within 30 s")


def sequential(port: int, path: str) -> list[float]:
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    times = []
    for _ in range(SEQUENTIAL):
        start = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            sys.exit(f"GET {path} answered {response.status}")
        times.append((time.perf_counter() - start) * 1000)
    connection.close()
    return times


async def one_client(port: int, path: str, requests: int, times: list[float], errors: list[str]) -> None:
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
    start = time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
    except OSError as exc:
        errors.append(f"connect: {exc}")
        return
    try:
        for _ in range(requests):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = head.split(b" ", 2)[1]
            length = next(int(line.split(b":", 1)[1]) for line in head.lower().split(b"\r\n")
                          if line.startswith(b"content-length:"))
            await reader.readexactly(length)
            if status != b"200":
                errors.append(f"status {status.decode()}")
            now = time.perf_counter()
            times.append((now - start) * 1000)
            start = now
    except (OSError, asyncio.IncompleteReadError, StopIteration) as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        writer.close()


async def concurrent(port: int, path: str, clients: int, requests: int) -> tuple[float, list[float], list[str]]:
    times: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    async with asyncio.timeout(RUN_LIMIT_S):
        await asyncio.gather(*(one_client(port, path, requests, times, errors) for _ in range(clients)))
    return time.perf_counter() - start, times, errors


def main() -> None:
    clients = int(sys.argv[1]) if len(sys.argv) > 1 else CLIENTS
    per_client = int(sys.argv[2]) if len(sys.argv) > 2 else PER_CLIENT
    metrics_max_age_s = sys.argv[3] if len(sys.argv) > 3 else None
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        daemon = start_daemon(Path(workdir), port, metrics_max_age_s)
        try:
            for path in PATHS:
                times = sequential(port, path)
                print(f"GET {path} kept-alive sequential ({SEQUENTIAL}): p50 {percentile(times, 0.5):.2f} ms, "
                      f"p99 {percentile(times, 0.99):.2f} ms, max {max(times):.2f} ms (goal p50 ≤ 2 ms)")
                elapsed, times, errors = asyncio.run(concurrent(port, path, clients, per_client))
                done = len(times)
                print(f"GET {path} {clients} clients × {per_client} requests: {done / elapsed:.0f} requests/s, "
                      f"p50 {percentile(times, 0.5):.1f} ms, p99 {percentile(times, 0.99):.1f} ms, "
                      f"{done} answered, {len(errors)} errors in {elapsed:.2f} s "
                      f"(goal ≥ 1500 requests/s, p99 ≤ 250 ms)")
                if errors:
                    print(f"  first errors: {sorted(set(errors))[:3]}")
        finally:
            daemon.terminate()
            try:
                daemon.wait(20)
            except subprocess.TimeoutExpired:
                print("the daemon did not stop within 20 s of SIGTERM: killed")
                daemon.kill()


if __name__ == "__main__":
    main()
