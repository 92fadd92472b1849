"""``lora.module_up`` / ``lora.module_down`` from the running daemon's LoRa service, on the simulated board."""

from __future__ import annotations

import time
from pathlib import Path

from daemon_rig import LiveDaemon

from wisgate.clock import SimClock
from wisgate.services.events import Event, EventKind, Severity
from wisgate.sim.concentratord import SimConcentratord, SimModule


def module_events(daemon: LiveDaemon, wanted: set[tuple[EventKind, int]], timeout: float = 20) -> list[Event]:
    deadline = time.monotonic() + timeout
    while True:
        events = [e for e in daemon.on_loop(lambda: daemon.history.events(limit=1000))
                  if e.kind in (EventKind.LORA_MODULE_UP, EventKind.LORA_MODULE_DOWN)]
        if wanted <= {(e.kind, e.data["board"]) for e in events} or time.monotonic() > deadline:
            return events
        time.sleep(0.1)


def gateway_boards(daemon: LiveDaemon) -> list[int]:
    deadline = time.monotonic() + 10
    while (gateway := daemon.on_loop(lambda: daemon.supervisor.state.lora.gateway)) is None:
        assert time.monotonic() < deadline, "the LoRa gateway never started"
        time.sleep(0.05)
    return sorted(gateway.boards)


def test_the_simulated_modules_come_up(tmp_path: Path) -> None:
    daemon = LiveDaemon(tmp_path, devices=2)
    try:
        boards = gateway_boards(daemon)
        events = module_events(daemon, {(EventKind.LORA_MODULE_UP, board) for board in boards})
    finally:
        daemon.stop()
    assert len(boards) >= 2
    assert sorted((e.kind, e.data["board"], e.source) for e in events) == [
        (EventKind.LORA_MODULE_UP, board, f"lora.board{board}") for board in boards]  # once each
    assert all(e.severity is Severity.INFO and "module answers" in e.message for e in events)


def test_a_configured_module_that_never_answers_is_down_and_the_one_that_answers_is_up(tmp_path: Path) -> None:
    modules = [{"board": board, "event_url": f"ipc://{tmp_path}/e{board}", "command_url": f"ipc://{tmp_path}/c{board}"}
               for board in (0, 1)]
    alive = SimConcentratord(SimModule("0016c001ff10a235", board=0), clock=SimClock(),
                             event_url=f"ipc://{tmp_path}/e0", command_url=f"ipc://{tmp_path}/c0").start()
    try:
        daemon = LiveDaemon(tmp_path, lora={"modules": modules})
        try:
            events = module_events(daemon, {(EventKind.LORA_MODULE_UP, 0), (EventKind.LORA_MODULE_DOWN, 1)})
        finally:
            daemon.stop()
    finally:
        alive.stop()
    by_board = {e.data["board"]: e for e in events}
    assert len(events) == 2, events
    assert by_board[0].kind is EventKind.LORA_MODULE_UP
    down = by_board[1]
    assert down.kind is EventKind.LORA_MODULE_DOWN and down.severity is Severity.WARNING
    assert "does not answer" in down.message and "no answer from" in str(down.data["error"])
