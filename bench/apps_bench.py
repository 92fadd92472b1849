"""The app catalog's two figures (issue 15): ``wisgate apps list`` cold start, and install -> running of a
local test app on a real Docker Engine.

- cold start: a fresh ``python -m wisgate apps list`` process each run (catalog load + one engine query);
- install: the test catalog's ``echo-web`` (two busybox containers built locally, the second waiting for
  the first's health check), timed as create (checks, network, volume, containers, files), start -> every
  container running (health wait included), and the whole ``install()`` (which also waits 1 s for a container
  dying right after its start); then removed with its volume.

Needs a running dockerd and Debian's busybox-static (as the tests). Traffic stays on 127.0.0.1.
Run: .venv/bin/python bench/apps_bench.py [runs]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from docker_rig import CATALOG, build_test_image, engine_client  # noqa: E402
from lora_rig import free_port  # noqa: E402

from wisgate.apps.catalog import load_catalog  # noqa: E402
from wisgate.apps.engine import Engine  # noqa: E402
from wisgate.apps.hardware import HostView  # noqa: E402
from wisgate.apps.manager import AppManager  # noqa: E402


def summary(label: str, times_ms: list[float]) -> str:
    times_ms = sorted(times_ms)
    return (f"{label} over {len(times_ms)} runs: min {times_ms[0]:.0f} ms, median {statistics.median(times_ms):.0f} ms,"
            f" max {times_ms[-1]:.0f} ms")


def cold_start(runs: int) -> None:
    command = [sys.executable, "-m", "wisgate", "apps", "list"]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        times.append((time.perf_counter() - start) * 1000)
        if proc.returncode != 0:
            sys.exit(f"wisgate apps list failed:\n{proc.stderr}")
    print(summary("wisgate apps list cold start", times))


def install(runs: int) -> None:
    client = engine_client()
    build_test_image(client)
    manager = AppManager(load_catalog([CATALOG], environ={}), HostView(), Engine(client))
    create, running, whole = [], [], []
    for _ in range(runs):
        name = f"bench{uuid.uuid4().hex[:6]}"
        sets = {"WEB_PORT": str(free_port())}
        try:
            t0 = time.perf_counter()
            plan = manager.plan_install("echo-web", name=name, sets=sets)
            manager.engine.install(plan, start=False)
            t1 = time.perf_counter()
            manager.engine.start(name)
            while manager.engine.get(name).state != "running":
                time.sleep(0.01)
            t2 = time.perf_counter()
            create.append((t1 - t0) * 1000)
            running.append((t2 - t1) * 1000)
        finally:
            manager.remove(name, purge=True)
        try:
            t0 = time.perf_counter()
            manager.install("echo-web", name=name, sets=sets)
            whole.append((time.perf_counter() - t0) * 1000)
        finally:
            manager.remove(name, purge=True)
    print(summary("echo-web create (checks, network, volume, 2 containers, files)", create))
    print(summary("echo-web start -> all running (health wait included)", running))
    print(summary("echo-web install() -> running, 1 s settle check included", whole))


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    cold_start(runs)
    install(runs)


if __name__ == "__main__":
    main()
