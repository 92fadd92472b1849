"""Commands through a running daemon's control socket (docs/architecture.md, issue 12 §5).

Starts ``wisgate run --sim`` (LoRa, API and field devices off; its own state and runtime folders), then:

- round trip of one request on the daemon's bus worker: a line read and a two-message I2C transfer
  (register write, repeated START, read), ``REQUESTS`` each, p50/p99;
- a held exchange (``Target.exclusive()``: hold, one transfer, release), p50/p99;
- ``wisgate status`` cold start (a fresh process) through the daemon and on a private board (``--sim``).

Run: .venv/bin/python bench/control_socket.py [requests] [cold_runs]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REQUESTS = 2000
COLD_RUNS = 10
#: the EMC2301's product ID register
PRODUCT_ID_REG = bytes([0xFD])


def percentiles(samples_ms: list[float]) -> str:
    ordered = sorted(samples_ms)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):.3f} ms, p99 {p99:.3f} ms"


def timed(func: Callable[[], object], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else REQUESTS
    cold_runs = int(sys.argv[2]) if len(sys.argv) > 2 else COLD_RUNS
    folder = Path(tempfile.mkdtemp(prefix="wisgate-bench-"))
    config = folder / "wisgate.toml"
    config.write_text("[lora]\nenabled = false\n[api]\nenabled = false\n[industrial]\nsim_field_devices = false\n")
    env = {**os.environ, "WISGATE_STATE_DIR": str(folder / "state"), "WISGATE_RUNTIME_DIR": str(folder / "run")}
    os.environ.update(env)
    daemon = subprocess.Popen(
        [sys.executable, "-m", "wisgate", "run", "--sim", "--plain", "--config", str(config), "--duration", "600"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not (folder / "run" / "sim-board.sock").exists():
            if daemon.poll() is not None or time.monotonic() > deadline:
                sys.exit("the daemon never served its control socket")
            time.sleep(0.1)
        time.sleep(1.0)
        from wisgate.target import open_target

        target = open_target()
        print(f"board: {target.description}")
        line = target.power_fail_input(owner="bench")  # the power service holds it: a shared read
        fan = target.addresses["fan"]
        print(f"line read, {requests}: {percentiles(timed(line.read, requests))}")
        transfers = timed(lambda: target.bus.write_read(fan, PRODUCT_ID_REG, 1), requests)
        print(f"I2C write+read transfer, {requests}: {percentiles(transfers)}")

        def held() -> None:
            with target.exclusive():
                target.bus.write_read(fan, PRODUCT_ID_REG, 1)

        print(f"held exchange (hold, transfer, release), {requests // 4}: {percentiles(timed(held, requests // 4))}")
        target.close()
        for label, extra in (("through the daemon", []), ("private board (--sim)", ["--sim"])):
            command = [sys.executable, "-m", "wisgate", "status", *extra]
            cold = timed(lambda c=command: subprocess.run(c, env=env, capture_output=True, check=False), cold_runs)
            print(f"wisgate status cold start {label}, {cold_runs} runs: median {statistics.median(cold):.0f} ms, "
                  f"max {max(cold):.0f} ms")
    finally:
        daemon.terminate()
        daemon.wait(20)


if __name__ == "__main__":
    main()
