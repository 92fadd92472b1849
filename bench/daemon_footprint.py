"""Resident memory and CPU of ``wisgate run`` on the simulated board, sampled from /proc while it runs.

Configurations (each a fresh daemon with its own state folder and loopback ports):

- everything on: ``wisgate run --sim`` with the default configuration (API and dashboard, display, the
  simulated LoRa site with its 50 devices, the simulated ModBUS field devices polled by the industrial
  service, fan, power, RTC...);
- the same with the simulated LoRa site off;
- the same with MQTT telemetry and Home Assistant discovery on, against a Mosquitto this bench starts on a
  loopback port (issue 13's "API, dashboard and MQTT"), with the LoRa site on and off;
- the board and the API only: LoRa off and no simulated field devices (what a board with no LoRa module
  and no ModBUS device configured runs).

The simulated LoRa site runs in a child process of the daemon (``wisgate.sim.lora_site_child``, as
Concentratord runs beside the daemon on hardware): it is measured apart and the two are added up. Printed per
run: the daemon's RSS at the end and its maximum, its share of one core (user + system time / wall time) and
its threads; the site's RSS at the end and its share of a core; their RSS added (pages both map, libpython, libc
and the other shared libraries, counted twice: an upper bound) and the daemon's RSS plus the site's own pages
(its unique set size: its heap and the files only it maps, such as cryptography's library; what the site adds
to the daemon, when no other process maps its libraries: run one configuration at a time for this figure,
two sites at once share their libraries); the daemon's RSS split into anonymous memory (Python objects, malloc) and
mapped files (libpython, native extensions), with its largest mapped files.

Run: .venv/bin/python bench/daemon_footprint.py [seconds per run, default 600] [configuration names...]
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
START_S = 5.0  # start-up imports are not the steady state

Sections = dict[str, dict[str, object]]
BROKER = "broker port"  # replaced by the bench's Mosquitto port
LORA_OFF: Sections = {"lora": {"enabled": False}}
MQTT: Sections = {"mqtt": {"enabled": True, "host": "127.0.0.1", "port": BROKER}}
CONFIGS: dict[str, Sections] = {
    "everything on (default)": {},
    "LoRa site off": LORA_OFF,
    "MQTT telemetry on": MQTT,
    "MQTT on, LoRa site off": {**LORA_OFF, **MQTT},
    "board + API only": {**LORA_OFF, "industrial": {"sim_field_devices": False}},
}


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


def own(pid: int) -> float:
    """Unique set size (MB): the pages only ``pid`` maps (its heap, and files no other process has open)."""
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return sum(int(line.split()[1]) for line in rollup.splitlines()
               if line.startswith(("Private_Clean:", "Private_Dirty:"))) / 1024


def site_child(daemon: int) -> int | None:
    """The PID of the daemon's simulated LoRa site (None: it runs none)."""
    for task in Path(f"/proc/{daemon}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(OSError):
                if b"wisgate.sim.lora_site_child" in Path(f"/proc/{child}/cmdline").read_bytes():
                    return int(child)
    return None


def mappings(pid: int) -> tuple[float, float, list[tuple[float, str]]]:
    """(anonymous MB, file-backed MB, the largest mapped files by resident MB)."""
    files: Counter[str] = Counter()
    anon = 0
    name = ""
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            name = head[5] if len(head) > 5 else "[anon]"
        elif head[0] == "Rss:":
            kb = int(head[1])
            if name.startswith("/"):
                package = re.search(r"site-packages/([^/]+)", name)
                files[package.group(1) if package else Path(name).name] += kb
            else:
                anon += kb
    top = [(kb / 1024, file) for file, kb in files.most_common(6)]
    return anon / 1024, sum(files.values()) / 1024, top


class Mosquitto:
    """A broker on a free loopback port, for the telemetry configurations."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\nuser root\n")
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Mosquitto:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen([binary, "-c", str(self.config)], stderr=subprocess.DEVNULL)
        for _ in range(250):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.1):
                return self
            time.sleep(0.02)
        raise SystemExit("mosquitto did not start")

    def __exit__(self, *_: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)


def toml(sections: Sections, broker: int) -> str:
    def value(v: object) -> str:
        if v == BROKER:
            return str(broker)
        return ("true" if v else "false") if isinstance(v, bool) else f'"{v}"' if isinstance(v, str) else str(v)

    return "".join(f"[{name}]\n" + "".join(f"{k} = {value(v)}\n" for k, v in keys.items())
                   for name, keys in sections.items())


def run(seconds: float, sections: Sections, broker: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "wisgate.toml"
        # every port private, so runs (and other benches) never meet
        base: Sections = {"api": {"port": free_port()},
                          "lora": {"traffic_url": f"tcp://127.0.0.1:{free_port()}"}, "lora.sim": {"devices": 50}}
        merged = {name: {**base.get(name, {}), **sections.get(name, {})} for name in [*base, *sections]}
        config.write_text(toml(merged, broker), encoding="utf-8")
        env = {**os.environ, "WISGATE_STATE_DIR": tmp, "WISGATE_RUNTIME_DIR": tmp}
        errors = Path(tmp) / "stderr"
        with errors.open("w") as stderr:
            daemon = subprocess.Popen([sys.executable, "-m", "wisgate", "run", "--sim", "--plain", "--config",
                                       str(config)], stdout=subprocess.DEVNULL, stderr=stderr, env=env)
        try:
            time.sleep(START_S)
            if daemon.poll() is not None:
                raise SystemExit(f"the daemon stopped: {errors.read_text()[-2000:]}")
            site = site_child(daemon.pid)
            site_cpu0 = 0.0 if site is None else sample(site)[1]
            rss_max, (_, cpu0), t0 = 0.0, sample(daemon.pid), time.monotonic()
            while time.monotonic() - t0 < seconds:
                time.sleep(1)
                rss, cpu = sample(daemon.pid)
                rss_max = max(rss_max, rss)
            wall = time.monotonic() - t0
            share = (cpu - cpu0) / wall
            threads = len(os.listdir(f"/proc/{daemon.pid}/task"))
            anon, files, top = mappings(daemon.pid)
            if site is not None and site != site_child(daemon.pid):
                raise SystemExit(f"the LoRa site was restarted during the run: {errors.read_text()[-2000:]}")
            site_rss, site_cpu = (0.0, 0.0) if site is None else sample(site)
            site_share = (site_cpu - site_cpu0) / wall
            site_own = 0.0 if site is None else own(site)
        finally:
            daemon.terminate()
            daemon.wait(30)
        biggest = ", ".join(f"{name} {mb:.1f}" for mb, name in top)
        site_text = f"{'-':>8} {'-':>7}" if site is None else f"{site_rss:>8.1f} {100 * site_share:>7.2f}"
        return (f"{rss:>8.1f} {rss_max:>8.1f} {100 * share:>7.2f} {threads:>7d} {site_text} "
                f"{rss + site_rss:>8.1f} {rss + site_own:>8.1f} {anon:>7.1f} {files:>7.1f}   {biggest}")


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 600.0
    wanted = sys.argv[2:] or list(CONFIGS)
    print(f"wisgate run --sim, {seconds:.0f} s per run after {START_S:.0f} s of start-up; MB and % of one core. "
          "daemon: the wisgate run process; site: its simulated LoRa site's process; RSS sum counts what both map "
          "twice; + own: the daemon's RSS and what only the site maps")
    print(f"{'configuration':<26} {'daemon':>8} {'max':>8} {'CPU %':>7} {'threads':>7} {'site':>8} {'CPU %':>7} "
          f"{'RSS sum':>8} {'+ own':>8} {'anon':>7} {'files':>7}   daemon's largest mapped files (MB)")
    with tempfile.TemporaryDirectory() as folder, Mosquitto(Path(folder)) as broker:
        for name in wanted:
            print(f"{name:<26} {run(seconds, CONFIGS[name], broker.port)}", flush=True)


if __name__ == "__main__":
    main()
