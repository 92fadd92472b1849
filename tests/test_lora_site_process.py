"""The simulated LoRa site runs in a process of its own beside the daemon (as Concentratord does on hardware).

Its time is the board's (shared through the runtime directory), a site that dies is reported and restarted and
uplinks flow again, and no site outlives the daemon, whether the daemon stops or is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from daemon_rig import LiveDaemon
from lora_rig import free_port

from wisgate.config import parse_config
from wisgate.errors import WisgateError
from wisgate.lora.core.gateway import Gateway
from wisgate.lora.core.timebase import counter_diff
from wisgate.lora.plans.channels import Channel, ChannelKind
from wisgate.lora.plans.site import sim_allocations
from wisgate.services.events import EventKind
from wisgate.sim.lora_site_process import SiteProcess
from wisgate.sim.shared_time import SharedClock, TimeShare
from wisgate.sim.site_spec import RadioSpec, SiteSpec, site_directory
from wisgate.sim.target import SimTarget


def until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def gateway_of(daemon: LiveDaemon) -> Gateway:
    until(lambda: daemon.on_loop(lambda: daemon.supervisor.state.lora.gateway) is not None, 30, "the LoRa gateway")
    gateway = daemon.on_loop(lambda: daemon.supervisor.state.lora.gateway)
    assert gateway is not None
    return gateway


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting for a parent that does not reap."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_the_shared_clock_is_the_machine_clock_plus_the_published_offset_and_never_goes_back(tmp_path: Path) -> None:
    share = TimeShare(tmp_path / "board-time", 100.0)
    clock = SharedClock(tmp_path / "board-time")
    try:
        assert abs(clock.monotonic() - (time.monotonic() + 100.0)) < 0.05
        share.publish(105.25)
        assert abs(clock.monotonic() - (time.monotonic() + 105.25)) < 0.05
        ahead = clock.monotonic()
        share.publish(50.0)  # a board clock never goes back; a reader still never would
        assert clock.monotonic() >= ahead
    finally:
        clock.close()
        share.close()


def test_the_site_runs_on_the_boards_time_even_when_the_board_jumps_ahead(tmp_path: Path) -> None:
    daemon = LiveDaemon(tmp_path, devices=20, interval_s=1.0)
    try:
        gateway = gateway_of(daemon)
        until(lambda: daemon.on_loop(lambda: 0 in gateway.counters_now()), 30, "board 0's first uplink")
        host0, count0 = daemon.on_loop(lambda: (gateway.clock.monotonic(), gateway.counters_now()[0]))
        # the board's simulated time moves 5 s ahead of the wall clock (a fast-forwarded scenario): the site's
        # module counters must move with it, as they did when the site ran inside the daemon
        daemon.on_board(lambda: daemon.target.clock.advance(5.0))
        # what the devices sent during the jump arrives at once, stamped when it ended: the next ones are fresh
        time.sleep(1.0)
        heard = daemon.on_loop(lambda: gateway.stats.module(0).total().received)
        until(lambda: daemon.on_loop(lambda: gateway.stats.module(0).total().received) > heard, 30,
              "board 0's uplinks after the jump")
        host1, count1 = daemon.on_loop(lambda: (gateway.clock.monotonic(), gateway.counters_now()[0]))
    finally:
        daemon.stop()
    elapsed_us = (host1 - host0) * 1e6
    assert elapsed_us > 5e6
    # the module's counter ran as long as the board's clock did (10 ppm of crystal and a few ms of polling apart)
    assert abs(counter_diff(count1, count0) - elapsed_us) < 50_000


def test_a_killed_site_is_reported_restarted_and_uplinks_flow_again(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wisgate.lora.site")
    daemon = LiveDaemon(tmp_path, devices=20, interval_s=1.0)
    try:
        gateway = gateway_of(daemon)
        site = daemon.target.lora_sites[0]
        until(lambda: daemon.on_loop(lambda: gateway.stats.uplinks) > 0, 30, "uplinks")
        first = site.pid
        assert first is not None and alive(first)
        os.kill(first, signal.SIGKILL)
        # until it is back (1 s later), its modules are a failed part of the gateway in /api/health
        health: dict[str, Any] = {}

        def unhealthy() -> bool:
            health.update(daemon.request("GET", "/api/health")[1])
            return bool(health["lora_modules"])

        until(unhealthy, 10, "the modules down in /api/health")
        assert health["ok"] is False
        assert all("killed by SIGKILL" in m["problem"] for m in health["lora_modules"]), health
        until(lambda: site.pid not in (None, first), 30, "the site's restart")
        second = site.pid
        assert second is not None
        restarted = daemon.on_loop(lambda: gateway.stats.uplinks)
        until(lambda: daemon.on_loop(lambda: gateway.stats.uplinks) > restarted + 2, 30, "uplinks after the restart")
        events = daemon.on_loop(lambda: daemon.history.events(limit=1000))
    finally:
        daemon.stop()
    assert not alive(first) and not alive(second)
    assert site.starts == 2
    # one clear warning naming how it ended, every module reported down with it, then up again
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING and r.name == "wisgate.lora.site"]
    assert any(f"(PID {first}) was killed by SIGKILL; restarting it in 1 s" in w for w in warnings), warnings
    downs = [e for e in events if e.kind is EventKind.LORA_MODULE_DOWN]
    assert {e.data["board"] for e in downs} == set(gateway.boards)
    assert all("killed by SIGKILL" in str(e.data["error"]) for e in downs)
    ups_after = [e for e in events if e.kind is EventKind.LORA_MODULE_UP and e.seq > max(d.seq for d in downs)]
    assert ups_after, "no module came up again after the restart"
    # the site's own log reached the daemon's, prefixed with its PID
    assert any(re.match(rf"lora-site\[{second}\] wisgate.sim.lora_site: \d+ module", r.getMessage())
               for r in caplog.records)


def start_daemon(tmp_path: Path) -> tuple[subprocess.Popen[str], int]:
    """``wisgate run --sim`` in its own process; returns it and its site's PID (read from its log)."""
    config = tmp_path / "wisgate.toml"
    config.write_text(f'[api]\nport = {free_port()}\n[lora]\ntraffic_url = "tcp://127.0.0.1:{free_port()}"\n'
                      f'[lora.sim]\ndevices = 5\n[history]\npath = "{tmp_path / "h.sqlite"}"\n', encoding="utf-8")
    env = {**os.environ, "WISGATE_STATE_DIR": str(tmp_path), "WISGATE_RUNTIME_DIR": str(tmp_path)}
    env.pop("NOTIFY_SOCKET", None)
    daemon = subprocess.Popen([sys.executable, "-m", "wisgate", "run", "--sim", "--plain", "--config", str(config)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    assert daemon.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = daemon.stderr.readline()
        if match := re.search(r"simulated LoRa site running: PID (\d+)", line):
            return daemon, int(match.group(1))
        if not line and daemon.poll() is not None:
            break
    daemon.kill()
    raise AssertionError("the daemon never started its LoRa site")


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
def test_no_site_is_left_when_the_daemon_stops_or_is_killed(tmp_path: Path, how: signal.Signals) -> None:
    daemon, site = start_daemon(tmp_path)
    try:
        assert alive(site)
        daemon.send_signal(how)
        _, log = daemon.communicate(timeout=30)
        if how == signal.SIGTERM:  # stopped cleanly: its last line came through, and nothing went wrong
            assert re.search(r"lora-site\[\d+\] wisgate.sim.lora_site: stopped: \d+ transmissions", log), log
            assert "WARNING wisgate.lora.site" not in log, log
        # stopped: the daemon stopped it before it exited; killed: the site saw its stdin close
        deadline = time.monotonic() + (0 if how == signal.SIGTERM else 10)
        while alive(site) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(site)
    finally:
        if daemon.poll() is None:
            daemon.kill()
        if alive(site):
            os.kill(site, signal.SIGKILL)


def test_a_site_that_cannot_start_is_a_warning_with_its_last_words_and_is_tried_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wisgate.lora.site")
    share = TimeShare(tmp_path / "board-time", 0.0)
    # its endpoints' folder does not exist: every start fails binding them
    spec = SiteSpec((RadioSpec(0, (Channel(868_100_000),)),), tmp_path / "missing", share.path, devices=1)
    site = SiteProcess(spec)
    down: list[tuple[int, str]] = []

    async def main() -> None:
        await site.start()
        assert site.pid is None
        runner = asyncio.create_task(site.run(lambda board, why: down.append((board, why))))
        while site.starts < 2:
            await asyncio.sleep(0.05)
        while site.pid is None and not runner.done() and caplog.text.count("before its endpoints") < 2:
            await asyncio.sleep(0.05)
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner

    try:
        asyncio.run(main())
    finally:
        site.close()
        share.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(re.search(r"simulated LoRa site: process \d+ exited with code 1 before its endpoints were bound; "
                         r"trying again in 1 s", w) for w in warnings), warnings
    # its own one-line reason reached the daemon's log, prefixed, at its level
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(re.match(rf"lora-site\[\d+\] wisgate.sim.lora_site: cannot bind the site's endpoints in "
                        rf"{tmp_path / 'missing'}: No such file or directory", e) for e in errors), errors
    assert site.starts >= 2 and down == []  # it never ran: no module of it was ever up to go down


def test_a_killed_daemons_site_folder_is_removed_by_the_next_one_and_a_running_ones_kept(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    stale = tmp_path / f"lora-site-{int(gone.stdout)}-abcd1234"
    running = tmp_path / f"lora-site-{os.getppid()}-efgh5678"
    for folder in (stale, running):
        folder.mkdir()
        (folder / "board-time").write_bytes(bytes(8))
    mine = site_directory(tmp_path)
    try:
        assert not stale.exists() and running.exists()
        assert mine.parent == tmp_path and mine.name.startswith(f"lora-site-{os.getpid()}-")
    finally:
        shutil.rmtree(mine)


@pytest.mark.parametrize("region", ["EU868-16", "US915", "AS923"])
def test_the_site_description_crosses_to_the_child_as_it_was_made(tmp_path: Path, region: str) -> None:
    config = parse_config({"lora": {"region": region, "sim": {"devices": 7, "radius_m": 1500.0, "seed": 3}}}).lora
    allocations = sim_allocations(config)
    spec = SiteSpec.build(allocations, config.sim, tmp_path, tmp_path / "board-time")
    again = SiteSpec.from_json(spec.to_json())
    assert again == spec
    assert [(r.board, list(r.channels)) for r in again.radios] == [(a.module.board, a.channels) for a in allocations]
    assert any(c.kind is ChannelKind.LORA_2G4 for r in again.radios for c in r.channels)


def test_the_site_needs_a_board_clock_that_follows_wall_time() -> None:
    target = SimTarget.open()  # a SimClock that moves only when told: no process beside it could follow it
    try:
        with pytest.raises(WisgateError, match="realtime=True"):
            target.concentrators(parse_config({}).lora)
    finally:
        target.close()
