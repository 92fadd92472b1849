"""Board commands act on the running daemon's board (its control socket), not a simulated board of their own."""

from __future__ import annotations

import http.client
import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.lora_rig import free_port
from wisgate.chips.buzzer import Buzzer
from wisgate.cli import cli
from wisgate.control.protocol import socket_path
from wisgate.control.remote import RemoteTarget
from wisgate.control.server import MAX_HOLD_S
from wisgate.errors import NoDeviceError
from wisgate.services.status import PROBES, read_status
from wisgate.target import LineInUseError, open_target

TOKEN = "control-test-token"


@dataclass
class Daemon:
    process: subprocess.Popen[bytes]
    port: int
    env: dict[str, str]
    log: Path

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
            connection.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
            response = connection.getresponse()
            assert response.status == 200, response.read()
            return json.loads(response.read())
        finally:
            connection.close()

    def reading(self, name: str) -> Any:
        return next(r["value"] for r in self.api("GET", "/api/status")["readings"] if r["name"] == name)

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=self.env, catch_exceptions=False)

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "wisgate", *args], env=self.env, capture_output=True,
                              text=True, timeout=60)


def until(check: Callable[[], bool], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """``wisgate run --sim`` with a state and runtime folder of its own, readings every 0.2 s."""
    workdir = tmp_path_factory.mktemp("daemon")
    port = free_port()
    config = workdir / "wisgate.toml"
    config.write_text(f"[monitor]\ninterval_s = 0.2\n[display]\nenabled = false\n[lora]\nenabled = false\n"
                      f"[buzzer]\nenabled = false\n[industrial]\nsim_field_devices = false\n[api]\nport = {port}\n")
    env = {**os.environ, "WISGATE_API_TOKEN": TOKEN, "WISGATE_STATE_DIR": str(workdir / "state"),
           "WISGATE_RUNTIME_DIR": str(workdir / "run")}
    log = workdir / "daemon.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "wisgate", "run", "--sim", "--plain", "--config", str(config),
             "--duration", "180"],
            stdout=output, stderr=subprocess.STDOUT, env=env,
        )
    running = Daemon(process, port, env, log)
    sock = workdir / "run" / "sim-board.sock"
    deadline = time.monotonic() + 30
    while not sock.exists() or not _api_up(running):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"the daemon never served its socket and API:\n{log.read_text()}")
        time.sleep(0.1)
    yield running
    process.terminate()
    process.wait(20)


def _api_up(daemon: Daemon) -> bool:
    try:
        daemon.api("GET", "/api/health")
    except (OSError, AssertionError):
        return False
    return True


@pytest.fixture
def on_daemon(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> Daemon:
    """In-process code of the test sees the daemon's folders too."""
    for key in ("WISGATE_STATE_DIR", "WISGATE_RUNTIME_DIR"):
        monkeypatch.setenv(key, daemon.env[key])
    return daemon


def test_gpio_drives_the_daemons_expander(daemon: Daemon) -> None:
    via = f"via the running daemon (PID {daemon.process.pid})"
    driven = daemon.cli("gpio", "6", "0")
    assert driven.exit_code == 0 and via in driven.output, driven.output
    assert "driven 0, reads 0" in driven.output
    again = daemon.cli("gpio", "6")
    assert "pin 6" in again.output and ": 0 (output)" in again.output, again.output
    # the daemon's own monitor reads it: port 0 shown pin 7 first, so pin 6 is the second character
    until(lambda: str(daemon.reading("expander2.port0"))[1] == "0", "the daemon's reading shows pin 6 low")
    # a private simulated board (--sim) is another board: its pin 6 is still an input
    private = daemon.cli("gpio", "--sim", "6")
    assert ": 1 (input)" in private.output and "daemon" not in private.output, private.output
    daemon.cli("gpio", "6", "1")
    until(lambda: str(daemon.reading("expander2.port0"))[1] == "1", "pin 6 high again")


def test_fan_shows_the_daemons_duty(daemon: Daemon) -> None:
    daemon.api("POST", "/api/fan", {"duty": 37, "seconds": 60})

    def shows_37() -> bool:
        output = daemon.cli("fan").output
        assert f"via the running daemon (PID {daemon.process.pid})" in output
        return "duty     36.9 %" in output or "duty     37.3 %" in output

    until(shows_37, "wisgate fan shows the duty the daemon's API set")
    assert "duty      0.0 %" in daemon.cli("fan", "--sim").output


def test_status_goes_through_the_daemon(daemon: Daemon) -> None:
    result = daemon.command("status")
    assert result.returncode == 0, result.stdout
    assert f"via the running daemon (PID {daemon.process.pid})" in result.stdout
    assert "supply" in result.stdout and "ok" in result.stdout
    # the serial is the daemon's kept identity
    kept = json.loads((Path(daemon.env["WISGATE_STATE_DIR"]) / "sim-board.json").read_text())
    assert kept["serial"].upper() in result.stdout


def test_rtc_and_adc_and_oled_reach_the_daemon(daemon: Daemon, tmp_path: Path) -> None:
    via = f"via the running daemon (PID {daemon.process.pid})"
    for args in (["rtc"], ["adc", "--channel", "1"]):
        result = daemon.cli(*args)
        assert result.exit_code == 0 and via in result.output, result.output
    picture = tmp_path / "oled.png"
    shown = daemon.cli("oled", "--text", "hello daemon", "--png", str(picture))
    assert shown.exit_code == 0 and via in shown.output, shown.output
    assert picture.read_bytes().startswith(b"\x89PNG")


def test_a_bus_error_in_the_daemon_comes_back_typed(on_daemon: Daemon) -> None:
    target = open_target()
    assert isinstance(target, RemoteTarget)
    try:
        with pytest.raises(NoDeviceError) as caught:
            target.bus.read(0x10, 1)
        assert caught.value.address == 0x10 and "0x10" in str(caught.value)
        assert target.bus.probe(target.addresses["fan"]) and not target.bus.probe(0x11)
    finally:
        target.close()


def test_lines_are_reserved_in_the_daemon(on_daemon: Daemon) -> None:
    first, second = open_target(), open_target()
    assert isinstance(first, RemoteTarget) and isinstance(second, RemoteTarget)
    try:
        line = first.line("GPIO13", owner="test", output=True)
        line.write(True)
        with pytest.raises(LineInUseError, match="in use by wisgate command"):
            second.line("GPIO13", owner="other", output=True)
        # reading what another holds is allowed: the power service holds GPIO16 in the daemon
        assert first.power_fail_input(owner="test").read() is True
        line.write(False)
        first.release_line("GPIO13", "test")
        second.line("GPIO13", owner="other", output=True).write(False)
    finally:
        first.close()
        second.close()
    # a closed connection gives its lines back
    third = open_target()
    try:
        third.line("GPIO13", owner="again", output=True)
    finally:
        third.close()


def test_buzzer_sounds_on_the_daemons_line(daemon: Daemon, on_daemon: Daemon) -> None:
    result = daemon.cli("buzzer", "--frequency", "200", "--duration", "0.1")
    assert result.exit_code == 0, result.output
    assert f"via the running daemon (PID {daemon.process.pid})" in result.output
    # the tone measured on the daemon's line (its timing stretched where the daemon's own bus work held the
    # writes back, so only its presence is checked here)
    assert "simulated line:" in result.output
    target = open_target()
    try:
        line = target.line("GPIO13", owner="test", output=True)
        start = target.clock.monotonic()
        assert Buzzer(line, target.clock).tone(100, 0.05) == 5
        edges = line.recorded_edges()
    finally:
        target.close()
    assert edges is not None
    # every write reached the daemon's simulated line, in order
    assert [level for t, level in edges if t >= start - 0.05][-10:] == [True, False] * 5


def test_fresh_is_refused_while_the_daemon_has_the_board(daemon: Daemon) -> None:
    result = daemon.command("status", "--fresh")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: --fresh") and f"PID {daemon.process.pid}" in result.stderr


def test_the_socket_is_the_owners_alone(daemon: Daemon) -> None:
    path = Path(daemon.env["WISGATE_RUNTIME_DIR"]) / "sim-board.sock"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_left_over_socket_means_no_daemon(tmp_path: Path) -> None:
    # a daemon killed with -9 leaves its socket file: nothing answers there, commands open their own board
    path = socket_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(path))
    dead.close()
    result = CliRunner().invoke(cli, ["gpio", "6"])
    assert result.exit_code == 0 and "daemon" not in result.output, result.output
    assert ": 1 (input)" in result.output


def test_a_held_bus_keeps_chip_exchanges_whole(on_daemon: Daemon) -> None:
    # the daemon's monitor reads the secure element every 0.2 s; a command's wake/command/answer held apart
    # from it never finds the chip asleep or its answer taken
    target = open_target()
    try:
        for _ in range(100):
            rows = read_status(target, [p for p in PROBES if p.device == "secure_element"])
            assert all(row.ok for row in rows), rows
    finally:
        target.close()


def test_a_hold_too_long_is_taken_back(daemon: Daemon, on_daemon: Daemon) -> None:
    target = open_target()
    try:
        with target.exclusive():
            before = daemon.api("GET", "/api/health")  # the event loop still answers; only the bus is held
            time.sleep(MAX_HOLD_S + 0.5)
            assert target.bus.probe(target.addresses["fan"])  # run as any other request once let go
        assert before is not None
    finally:
        target.close()
    assert "held the bus longer than" in daemon.log.read_text()
