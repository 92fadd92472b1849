"""systemd integration: sd_notify datagrams from a real daemon, the watchdog withheld when the bus
worker hangs, the shipped unit checked by systemd-analyze, and ``wisgate install-service``."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from wisgate.cli import cli
from wisgate.services.notify import Notifier, report_to_systemd, socket_address, stop_requester, watchdog_interval_s
from wisgate.services.supervisor import Context, Supervisor
from wisgate.systemd.unit import UNIT_NAME, quote_argument, render_unit, shipped_unit
from wisgate.target import open_target

QUIET_CONFIG = """
[monitor]
interval_s = 0.2
[api]
enabled = false
[lora]
enabled = false
[power]
shutdown_after_s = 0
"""


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    """A real unix datagram socket standing in for systemd's (short path: sun_path holds 108 bytes)."""
    directory = tempfile.mkdtemp(prefix="wg-")
    path = os.path.join(directory, "notify")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    try:
        yield server, path
    finally:
        server.close()
        shutil.rmtree(directory, ignore_errors=True)


def receive_all(server: socket.socket, proc: subprocess.Popen[str], timeout_s: float,
                until: str | None = None) -> list[tuple[float, dict[str, str]]]:
    """Datagrams (arrival time, fields) until the process ends (or one carries ``until``)."""
    server.settimeout(0.2)
    messages: list[tuple[float, dict[str, str]]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            data = server.recv(4096)
        except TimeoutError:
            if proc.poll() is not None:
                break
            continue
        fields = dict(line.split("=", 1) for line in data.decode().splitlines())
        messages.append((time.monotonic(), fields))
        if until is not None and until in fields:
            break
    return messages


def daemon(tmp_path: Path, path: str, watchdog_usec: int, *extra: str) -> subprocess.Popen[str]:
    config = tmp_path / "wisgate.toml"
    config.write_text(QUIET_CONFIG)
    env = {k: v for k, v in os.environ.items() if k not in ("INVOCATION_ID", "JOURNAL_STREAM", "WATCHDOG_PID")}
    env.update(NOTIFY_SOCKET=path, WATCHDOG_USEC=str(watchdog_usec), WISGATE_STATE_DIR=str(tmp_path / "state"))
    return subprocess.Popen([sys.executable, "-m", "wisgate", "run", "--sim", "--config", str(config), *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_real_daemon_sends_ready_watchdog_and_stopping(tmp_path: Path,
                                                         notify_socket: tuple[socket.socket, str]) -> None:
    server, path = notify_socket
    proc = daemon(tmp_path, path, 1_000_000, "--duration", "3")  # WatchdogSec=1 s: a ping every 0.5 s
    messages = receive_all(server, proc, timeout_s=60)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, out + err
    kinds = [next(iter(fields)) for _, fields in messages]
    assert kinds[0] == "READY" and kinds.count("READY") == 1, messages
    ready = messages[0][1]
    assert ready["MAINPID"] == str(proc.pid) and "services running" in ready["STATUS"]
    assert kinds[-1] == "STOPPING" and kinds.count("STOPPING") == 1, messages
    pings = [t for t, fields in messages if "WATCHDOG" in fields]
    assert len(pings) >= 4, messages  # about 3 s / 0.5 s
    assert max(b - a for a, b in itertools.pairwise(pings)) < 1.0  # always inside the interval
    assert any("CPU" in fields.get("STATUS", "") for _, fields in messages), messages


def test_sigterm_sends_stopping_before_the_services_wind_down(tmp_path: Path,
                                                              notify_socket: tuple[socket.socket, str]) -> None:
    server, path = notify_socket
    proc = daemon(tmp_path, path, 0)  # no watchdog: READY, STATUS and STOPPING only
    first = receive_all(server, proc, timeout_s=60, until="READY")
    assert first and "READY" in first[-1][1], first
    proc.send_signal(signal.SIGTERM)
    rest = receive_all(server, proc, timeout_s=30)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, out + err
    assert not any("WATCHDOG" in fields for _, fields in first + rest)
    assert rest and "STOPPING" in rest[-1][1], rest


def test_the_watchdog_is_withheld_while_the_bus_worker_hangs(notify_socket: tuple[socket.socket, str]) -> None:
    server, path = notify_socket
    server.settimeout(0.05)
    target = open_target("sim")

    async def idle(_context: Context) -> None:
        await asyncio.Event().wait()

    supervisor = Supervisor(target)
    supervisor.add("idle", idle)
    notifier = Notifier({"NOTIFY_SOCKET": path})
    received: list[tuple[float, str]] = []

    def drain() -> None:
        while True:
            try:
                received.append((time.monotonic(), server.recv(4096).decode()))
            except TimeoutError:
                return

    async def main() -> tuple[float, float]:
        stop = asyncio.Event()
        supervising = asyncio.create_task(supervisor.run(stop))
        reporting = asyncio.create_task(report_to_systemd(notifier, supervisor, supervising, stop, watchdog_s=0.2))
        await asyncio.sleep(0.5)
        hang_start = time.monotonic()
        hang = asyncio.create_task(supervisor.context.bus.run(lambda: time.sleep(1.0)))  # a stuck I2C transfer
        await hang
        hang_end = time.monotonic()
        await asyncio.sleep(0.5)
        stop_requester(notifier, stop)()
        await supervising
        await reporting
        return hang_start, hang_end

    try:
        loop = asyncio.new_event_loop()
        task = loop.create_task(main())
        while not task.done():
            loop.run_until_complete(asyncio.sleep(0.02))
            drain()
        hang_start, hang_end = task.result()
        loop.close()
    finally:
        notifier.close()
        target.close()
    drain()
    pings = [t for t, text in received if text == "WATCHDOG=1"]
    during = [t for t in pings if hang_start + 0.15 < t < hang_end - 0.05]
    assert not during, f"pings while the bus worker hung: {during}"
    assert any(t < hang_start for t in pings) and any(t > hang_end for t in pings), received
    assert received[-1][1].startswith("STOPPING=1")


def test_notify_addresses_and_the_watchdog_environment() -> None:
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@wisgate/notify") == b"\0wisgate/notify"
    assert socket_address("") is None and socket_address("vsock:2:1234") is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, pid=2) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "2"}, pid=2) == 30.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "soon"}) is None and watchdog_interval_s({}) is None


def test_an_abstract_socket_receives_and_a_vanished_one_is_not_fatal() -> None:
    name = f"wisgate-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(b"\0" + name.encode())
        notifier = Notifier({"NOTIFY_SOCKET": "@" + name})
        assert notifier.status("two\nlines")
        assert server.recv(100) == b"STATUS=two lines"
        notifier.close()
    gone = Notifier({"NOTIFY_SOCKET": "/nonexistent/notify"})
    assert gone.enabled and not gone.watchdog() and not gone.watchdog()
    assert not Notifier({}).enabled and not Notifier({}).ready("x")


def test_the_shipped_unit_says_what_the_daemon_does() -> None:
    unit = shipped_unit()
    for line in ("Type=notify", "WatchdogSec=30s", "Restart=on-failure", "StateDirectory=wisgate",
                 "DevicePolicy=closed", "DeviceAllow=char-i2c rw", "DeviceAllow=char-gpiochip rw",
                 "DeviceAllow=char-rtc rw", "DeviceAllow=char-input r", "NoNewPrivileges=yes"):
        assert line in unit.splitlines(), line
    user = render_unit(["/usr/bin/python3", "-m", "wisgate", "run"], user=True)
    assert "DevicePolicy" not in user and "CapabilityBoundingSet" not in user and "WantedBy=default.target" in user
    assert "Type=notify" in user and "WatchdogSec=30s" in user


def test_exec_start_arguments_are_quoted_for_systemd() -> None:
    assert quote_argument("/usr/bin/python3") == "/usr/bin/python3"
    assert quote_argument("/srv/my wisgate/config.toml") == '"/srv/my wisgate/config.toml"'
    assert quote_argument("100%$HOME") == "100%%$$HOME"
    assert quote_argument('a"b') == '"a\\"b"'
    with pytest.raises(ValueError, match="absolute"):
        render_unit(["wisgate", "run"])


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
@pytest.mark.parametrize("user", [False, True])
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path, user: bool) -> None:
    path = tmp_path / UNIT_NAME
    path.write_text(render_unit([sys.executable, "-m", "wisgate", "run", "--config", "/etc/wisgate/my conf.toml"],
                                user=user))
    scope = ["--user"] if user else []
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path), SYSTEMD_LOG_COLOR="0")
    done = subprocess.run(["systemd-analyze", *scope, "verify", "--man=no", str(path)],
                          capture_output=True, text=True, timeout=60, env=env)
    # verify exits 0 on unknown keys too, with a warning: any word about our unit is a failure
    complaints = [line for line in (done.stdout + done.stderr).splitlines() if UNIT_NAME in line]
    assert done.returncode == 0 and not complaints, done.stdout + done.stderr


def test_install_service_dry_run_changes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "wisgate.toml"
    config.write_text(QUIET_CONFIG)
    result = CliRunner().invoke(cli, ["install-service", "--dry-run", "--config", str(config),
                                      "--unit-dir", str(tmp_path / "units")])
    assert result.exit_code == 0, result.output
    assert f"ExecStart={sys.executable} -m wisgate run --config {config}" in result.output
    assert "# would run: systemctl daemon-reload" in result.output
    assert "# would run: systemctl enable wisgate.service" in result.output
    assert not (tmp_path / "units").exists()
    missing = CliRunner().invoke(cli, ["install-service", "--dry-run", "--config", str(tmp_path / "none.toml")])
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_install_service_writes_the_unit_and_reports_what_systemctl_said(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # no user manager reachable (an empty runtime directory, no session bus): systemctl fails, as it
    # would on a machine without systemd, and the command says so in one line after writing the unit
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    units = tmp_path / "units"
    result = CliRunner().invoke(cli, ["install-service", "--user", "--sim", "--unit-dir", str(units)])
    written = units / UNIT_NAME
    assert written.read_text() == render_unit([sys.executable, "-m", "wisgate", "run", "--sim"], user=True)
    assert f"wrote {written}" in result.output
    assert result.exit_code == 1, result.output
    assert ("systemctl --user daemon-reload failed" in result.output
            or "systemctl not found" in result.output), result.output
    again = CliRunner().invoke(cli, ["install-service", "--user", "--sim", "--unit-dir", str(units)])
    assert f"{written} is already up to date" in again.output
