"""Resident memory and CPU of ``wisgate run`` on the simulated board, sampled from /proc while it runs.

Two configurations: everything on (API, display, LoRa site with its 50 simulated devices), and the same
with the simulated LoRa site off. Printed per run: RSS at the end and its maximum, and the share of one
core used over the run (user + system time / wall time).

Run: .venv/bin/python bench/daemon_footprint.py [seconds per run, default 600]
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sample(pid: int) -> tuple[float, float]:
    """(RSS MB, CPU seconds) of ``pid``."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return rss_kb / 1024, (int(fields[11]) + int(fields[12])) / TICKS


def run(seconds: float, lora: bool) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "wisgate.toml"
        config.write_text(f"[lora]\nenabled = {'true' if lora else 'false'}\n[api]\nport = {free_port()}\n"
                          f"[lora.sim]\ndevices = 50\n", encoding="utf-8")
        env = {**os.environ, "WISGATE_STATE_DIR": tmp, "WISGATE_RUNTIME_DIR": tmp}
        daemon = subprocess.Popen([sys.executable, "-m", "wisgate", "run", "--sim", "--plain", "--config",
                                   str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            time.sleep(5)  # start-up imports are not the steady state
            rss_max, (_, cpu0), t0 = 0.0, sample(daemon.pid), time.monotonic()
            while time.monotonic() - t0 < seconds:
                time.sleep(1)
                rss, cpu = sample(daemon.pid)
                rss_max = max(rss_max, rss)
            return rss, rss_max, (cpu - cpu0) / (time.monotonic() - t0)
        finally:
            daemon.terminate()
            daemon.wait(30)


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 600.0
    print(f"wisgate run --sim, {seconds:.0f} s per run after 5 s of start-up")
    print(f"{'configuration':<40} {'RSS end MB':>10} {'RSS max MB':>10} {'CPU % of a core':>16}")
    for lora in (True, False):
        rss, rss_max, cpu = run(seconds, lora)
        name = "API, display, LoRa site (50 devices)" if lora else "API, display, LoRa off"
        print(f"{name:<40} {rss:>10.1f} {rss_max:>10.1f} {100 * cpu:>16.2f}")


if __name__ == "__main__":
    main()
