"""What ``wisgate run`` writes: a live view in a terminal (a real pseudo-terminal here), plain log lines
when piped, under systemd or with --plain, journal priorities when stderr is the journal."""

from __future__ import annotations

import fcntl
import logging
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from rich.console import Console

from wisgate.clock import SimClock
from wisgate.lora.core.gateway import Gateway
from wisgate.services.events import Event, EventKind, Severity
from wisgate.services.liveview import JournalFormatter, render, stderr_is_journal, under_systemd, wants_live_view
from wisgate.services.readings import failed, number
from wisgate.services.state import BoardState, FanState, PowerState

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: Live redraws by moving the cursor up and erasing lines
REDRAW = ("\x1b[1A", "\x1b[2K")


def board_state() -> BoardState:
    state = BoardState()
    now = time.time()
    state.put_readings([
        number("cpu.temperature", "CPU temperature", 47.25, "°C", "cpu", now, short="CPU temp"),
        failed("pcb.humidity", "PCB humidity", "temperature_sensor", now, "NACK at 0x70", unit="%RH"),
    ])
    state.fan = FanState(cpu_c=47.25, duty_percent=40.0, rpm=2010.0, mode="closed-loop", fault="stall",
                         time=now, target_c=55.0)
    state.power = PowerState(supply="lost", since=now - 2.5, outage_s=2.5, losses=3, glitches=0,
                             last_outage_s=0.4, hold_up_s=None, shutdown_in_s=5.5, shutdown=None, volts=None,
                             beep_on_loss=True, time=now)
    gateway = Gateway("0016c001ff1a7391", [], clock=SimClock())
    channel = gateway.stats.module(1).channel(868_100_000)
    channel.received, channel.crc_ok, channel.crc_bad, channel.forwarded, channel.duplicates = 17, 15, 2, 14, 1
    gateway.stats.uplinks = 14
    state.lora.gateway = gateway
    state.events.publish(Event(EventKind.SUPPLY_LOST, "power", "power supply lost: on the ultracapacitors",
                               Severity.WARNING))
    state.events.publish(Event(EventKind.FAN_STALL, "fan", "fan stalled at 40 % duty", Severity.ALARM))
    return state


def test_the_view_shows_readings_fan_supply_lora_and_events() -> None:
    console = Console(record=True, force_terminal=True, width=110, color_system="standard")
    console.print(render(board_state(), title="simulated RAK7391", started=time.time() - 12))
    styled = console.export_text(styles=True, clear=False)
    text = console.export_text()
    assert "\x1b[" in styled  # a terminal gets colours
    assert "wisgate on the simulated RAK7391" in text and "up 12 s" in text
    assert "CPU temp 47.2 °C" in text or "CPU temp 47.3 °C" in text
    assert "PCB humidity ERROR" in text
    assert "fan 40 % 2010 RPM (closed-loop, target 55 °C) stall" in text
    assert "supply LOST 2.5 s, shutdown in 5.5 s" in text and "losses 3" in text
    assert "LoRa gateway 0016c001ff1a7391: 14 uplinks" in text
    row = next(line for line in text.splitlines() if "board 1" in line)
    assert row.split()[2:] == ["17", "15", "2", "14", "1", "0", "0"]
    assert "supply.lost" in text and "fan.stall" in text and "fan stalled at 40 % duty" in text


def test_live_view_only_in_a_terminal_outside_systemd(tmp_path: Path) -> None:
    class Tty:
        def __init__(self, tty: bool) -> None:
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    assert wants_live_view(Tty(True), plain=False, environ={})  # type: ignore[arg-type]
    assert not wants_live_view(Tty(True), plain=True, environ={})  # type: ignore[arg-type]
    assert not wants_live_view(Tty(False), plain=False, environ={})  # type: ignore[arg-type]
    assert not wants_live_view(Tty(True), plain=False, environ={"INVOCATION_ID": "abc"})  # type: ignore[arg-type]
    assert under_systemd({"JOURNAL_STREAM": "8:1234"}) and not under_systemd({})
    with (tmp_path / "journal").open("w") as stream:
        stat = os.fstat(stream.fileno())
        assert stderr_is_journal({"JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}"}, stream)
        assert not stderr_is_journal({"JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino + 1}"}, stream)
        assert not stderr_is_journal({"JOURNAL_STREAM": "nonsense"}, stream)
    record = logging.LogRecord("wisgate.power", logging.WARNING, __file__, 1, "supply lost", None, None)
    assert JournalFormatter().format(record) == "<4>wisgate.power: supply lost"


def config_file(tmp_path: Path, *, lora: bool) -> Path:
    config = tmp_path / "wisgate.toml"
    config.write_text(f"""
[monitor]
interval_s = 0.5
[api]
enabled = false
[lora]
enabled = {"true" if lora else "false"}
traffic_url = "ipc://{tmp_path}/traffic"
[power]
shutdown_after_s = 0
[sim]
supply_cuts = [[1.0, 0.3]]
""")
    return config


def daemon_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("INVOCATION_ID", "JOURNAL_STREAM", "NOTIFY_SOCKET")}
    env.update(TERM="xterm-256color", WISGATE_STATE_DIR=str(tmp_path / "state"), **extra)
    return env


def run_in_terminal(tmp_path: Path, *args: str, **env: str) -> tuple[int, str]:
    """``wisgate run`` on a pseudo-terminal (110 x 40), as a user would start it; everything it wrote."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 110, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "wisgate", "run", "--sim", *args], stdin=slave, stdout=slave,
                            stderr=slave, env=daemon_env(tmp_path, **env), close_fds=True)
    os.close(slave)
    output = b""
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the terminal's last writer has gone
                    break
                if not chunk:
                    break
                output += chunk
            elif proc.poll() is not None:
                break
    finally:
        os.close(master)
    return proc.wait(timeout=30), output.decode(errors="replace")


def test_a_terminal_gets_the_live_view_with_lora_counters_and_events(tmp_path: Path) -> None:
    code, output = run_in_terminal(tmp_path, "--config", str(config_file(tmp_path, lora=True)), "--duration", "4")
    assert code == 0, output
    assert any(code in output for code in REDRAW), output[-2000:]
    text = ANSI.sub("", output)
    final = text[text.rindex("wisgate on the simulated RAK7391"):]
    assert "CPU temp" in final and "fan duty" in final and "supply ok" in final
    assert re.search(r"LoRa gateway \w+: \d+ uplinks", final) and "board 0" in final and "board 2" in final
    assert "supply.lost" in final and "supply.ride_through" in final
    # log lines still appear (above the view), one per change, not per reading
    assert "WARNING wisgate.power: power supply lost" in text
    assert "wisgate stopped" in text


def test_plain_lines_when_asked_or_under_systemd(tmp_path: Path) -> None:
    config = str(config_file(tmp_path, lora=False))
    for args, env in ((["--plain"], {}), ([], {"INVOCATION_ID": "0123456789abcdef"})):
        code, output = run_in_terminal(tmp_path, "--config", config, "--duration", "2", *args, **env)
        assert code == 0, output
        assert not any(code in output for code in REDRAW) and "latest events" not in output, (args, env)
        assert re.search(r"\d\d:\d\d:\d\d,\d{3} WARNING wisgate.power: power supply lost", output), output


def test_piped_output_stays_plain_lines(tmp_path: Path) -> None:
    stderr_file = tmp_path / "stderr"
    with stderr_file.open("w") as stderr:
        proc = subprocess.run(
            [sys.executable, "-m", "wisgate", "run", "--sim", "--config", str(config_file(tmp_path, lora=False)),
             "--duration", "2"],
            stdout=subprocess.PIPE, stderr=stderr, env=daemon_env(tmp_path), timeout=90, text=True,
        )
    err = stderr_file.read_text()
    assert proc.returncode == 0, proc.stdout + err
    assert "\x1b" not in proc.stdout + err and "latest events" not in proc.stdout
    assert "wisgate stopped" in proc.stdout
    lines = err.splitlines()
    assert lines and all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: ", line) for line in lines), err
    assert sum("power supply lost" in line for line in lines) == 1  # the change, once
    assert not any("temperature" in line.lower() for line in lines), err  # no readings


def test_journal_stderr_gets_priorities_and_no_timestamps(tmp_path: Path) -> None:
    stderr_file = tmp_path / "journal"
    with stderr_file.open("w") as stderr:
        stat = os.fstat(stderr.fileno())
        env = daemon_env(tmp_path, JOURNAL_STREAM=f"{stat.st_dev}:{stat.st_ino}")
        proc = subprocess.run(
            [sys.executable, "-m", "wisgate", "run", "--sim", "--config", str(config_file(tmp_path, lora=False)),
             "--duration", "2"],
            stdout=subprocess.PIPE, stderr=stderr, env=env, timeout=90, text=True,
        )
    err = stderr_file.read_text()
    assert proc.returncode == 0, proc.stdout + err
    assert "<4>wisgate.power: power supply lost" in err
    assert all(re.match(r"<[2-7]>[\w.]+: ", line) for line in err.splitlines()), err
