"""CPU cost of what ``wisgate run`` writes: the terminal live view against plain log lines.

Runs ``wisgate run --sim --duration S`` four times as a user would: on a pseudo-terminal (live view) and
on a pseudo-terminal with ``--plain``, each with the simulated LoRa site off and on; the API and
history stay on, as by default. Prints the steady CPU share of one core (user + system from
/proc/PID/stat between 8 s after the start and the end of the measured window, so start-up imports are
left out), the total CPU seconds (wait4's rusage, start-up included) and the bytes written to the terminal.

Run: .venv/bin/python bench/run_output_cpu.py [seconds, default 30]
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import sys
import tempfile
import termios
import time
from pathlib import Path


def config(directory: Path, *, lora: bool, port: int) -> Path:
    path = directory / f"wisgate-{lora}.toml"
    path.write_text(f"""
[api]
port = {port}
[lora]
enabled = {"true" if lora else "false"}
traffic_url = "ipc://{directory}/traffic"
[power]
shutdown_after_s = 0
""")
    return path


WARM_UP_S = 8.0
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def run(directory: Path, seconds: float, *, lora: bool, plain: bool) -> tuple[float, float, int]:
    """(steady share of a core, total CPU seconds, bytes written to the terminal)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 110, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("INVOCATION_ID", "JOURNAL_STREAM", "NOTIFY_SOCKET")}
    env.update(TERM="xterm-256color", WISGATE_STATE_DIR=str(directory / "state"))
    argv = [sys.executable, "-m", "wisgate", "run", "--sim", "--config",
            str(config(directory, lora=lora, port=18391)), "--duration", str(WARM_UP_S + seconds + 2),
            *(["--plain"] if plain else [])]
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: the terminal is its stdin, stdout and stderr
        os.close(master)
        os.setsid()
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        os.execve(sys.executable, argv, env)
    os.close(slave)
    written = 0
    window: list[tuple[float, float]] = []
    while True:
        elapsed = time.monotonic() - started
        if (not window and elapsed >= WARM_UP_S) or (len(window) == 1 and elapsed >= WARM_UP_S + seconds):
            window.append((time.monotonic(), cpu_seconds(pid)))
        ready, _, _ = select.select([master], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        written += len(chunk)
    _, status, usage = os.wait4(pid, 0)
    os.close(master)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"wisgate run exited with {os.waitstatus_to_exitcode(status)}")
    (t0, c0), (t1, c1) = window
    return (c1 - c0) / (t1 - t0), usage.ru_utime + usage.ru_stime, written


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    print(f"wisgate run --sim on a 110x40 pseudo-terminal, {seconds:g} s measured after {WARM_UP_S:g} s")
    print(f"{'output':<12}{'LoRa site':<12}{'% of a core':>12}{'CPU s total':>13}{'terminal bytes':>16}")
    with tempfile.TemporaryDirectory(prefix="wg-bench-") as name:
        for lora in (False, True):
            for plain in (True, False):
                share, total, written = run(Path(name), seconds, lora=lora, plain=plain)
                print(f"{'plain' if plain else 'live view':<12}{'on' if lora else 'off':<12}{100 * share:>11.1f}%"
                      f"{total:>13.2f}{written:>16,}")


if __name__ == "__main__":
    main()
