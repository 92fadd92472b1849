"""The power service on the simulated board: GPIO16 edges, debounce, ride-through, shutdown, hold-up, display."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wisgate.bus.gpio import GpioLine, LineProvider
from wisgate.bus.input_events import EV_KEY, KEY_PROG1, KeyLine, event_struct
from wisgate.chips.ssd1306 import render_text
from wisgate.config import parse_config
from wisgate.errors import ConfigError, DeviceBusyError
from wisgate.hardware import HardwareTarget
from wisgate.services.daemon import build_supervisor
from wisgate.services.display import display_service
from wisgate.services.events import EventKind
from wisgate.services.power import (
    MESSAGE,
    PowerEvent,
    PowerMonitor,
    PowerSettings,
    PowerWatch,
    ShutdownDue,
    SupplyLost,
    SupplyRestored,
    power_screen,
    power_service,
    run_shutdown,
)
from wisgate.services.state import PowerState, ShutdownRecord
from wisgate.services.supervisor import Supervisor
from wisgate.sim.board import SimBoard
from wisgate.sim.chips.ssd1306 import SSD1306Model
from wisgate.sim.target import SimTarget

STEP = 0.001


def watch_on(board: SimBoard, settings: PowerSettings) -> PowerWatch:
    line = board.lines.line("GPIO16")
    supply = board.env.supply
    watch = PowerWatch(settings, board.clock, line.read(), powered=lambda: supply.powered, simulated=True)
    line.on_edge(watch.edge)
    return watch


def run_for(board: SimBoard, watch: PowerWatch, seconds: float, step: float = STEP) -> list[tuple[float, object]]:
    """Advance in small steps, polling like the service does; (time, event) of everything reported."""
    seen: list[tuple[float, object]] = []
    for _ in range(round(seconds / step)):
        board.advance(step)
        seen += [(board.clock.monotonic(), e) for e in watch.poll()]
    return seen


# -- the debounced state machine -------------------------------------------------------------------


def test_monitor_confirms_an_edge_only_after_the_debounce() -> None:
    monitor = PowerMonitor(PowerSettings(debounce_s=0.02, shutdown_after_s=30), now=0.0, supply_ok=True)
    monitor.edge(False, 10.0)
    assert monitor.tick(10.019) == [] and monitor.ok
    assert monitor.next_deadline() == pytest.approx(10.02)
    assert monitor.tick(10.02) == [SupplyLost(10.0)]
    assert monitor.next_deadline() == pytest.approx(40.0)  # counted from the edge, not the confirmation
    monitor.edge(True, 12.5)
    monitor.edge(False, 12.51)  # bounced back within the debounce: the return did not happen
    assert monitor.tick(39.999) == [] and monitor.glitches == 1
    assert monitor.tick(40.0) == [ShutdownDue(40.0, 30.0)]
    assert monitor.tick(50.0) == []  # once
    monitor.edge(True, 60.0)
    assert monitor.tick(61.0) == [SupplyRestored(60.0, 50.0)] and monitor.last_outage_s == 50.0


def test_monitor_with_shutdown_disabled_never_asks() -> None:
    monitor = PowerMonitor(PowerSettings(shutdown_after_s=0), now=0.0, supply_ok=False)
    assert monitor.tick(0.0) == [SupplyLost(0.0)]  # low at start: lost since start
    assert monitor.tick(1e6) == [] and monitor.next_deadline() is None


# -- on the simulated board, exact time ------------------------------------------------------------


def test_cut_is_seen_within_the_debounce_and_shutdown_would_run(board: SimBoard) -> None:
    watch = watch_on(board, PowerSettings(debounce_s=0.02, shutdown_after_s=5.0))
    run_for(board, watch, 1.0)
    cut_at = board.clock.monotonic()
    board.env.supply.cut()
    events = run_for(board, watch, 6.0)
    (seen_at, lost), (due_at, due) = events
    assert isinstance(lost, SupplyLost) and lost.at == pytest.approx(cut_at + STEP)
    assert seen_at - cut_at == pytest.approx(0.02 + STEP, abs=1.5 * STEP)
    assert isinstance(due, ShutdownDue) and due_at == pytest.approx(cut_at + 5.0 + STEP, abs=1.5 * STEP)
    state = watch.state()
    assert state.supply == "lost" and state.losses == 1 and state.since is not None
    assert state.shutdown == ShutdownRecord(("systemctl", "poweroff"), 5.0, ran=False,
                                            result="simulated board: not run")
    assert state.outage_s == pytest.approx(6.0, abs=2 * STEP)
    assert board.env.supply.powered  # halted with energy to spare
    assert power_screen(state) == ["", MESSAGE, "on ultracaps   6.0 s", "SYSTEM SHUTDOWN"]


def test_restore_before_the_deadline_cancels_and_records_the_outage(board: SimBoard) -> None:
    watch = watch_on(board, PowerSettings(debounce_s=0.02, shutdown_after_s=5.0))
    run_for(board, watch, 0.5)
    board.env.supply.cut()
    run_for(board, watch, 2.0)
    assert watch.state().shutdown_in_s == pytest.approx(3.0, abs=2 * STEP)
    board.env.supply.restore()
    events = run_for(board, watch, 10.0)
    assert [type(e) for _, e in events] == [SupplyRestored]
    state = watch.state()
    assert state.supply == "ok" and state.shutdown is None and state.shutdown_in_s is None
    assert state.last_outage_s == pytest.approx(2.0, abs=1e-9)
    assert power_screen(state) is None


def test_micro_cut_shorter_than_the_debounce_is_ignored(board: SimBoard) -> None:
    watch = watch_on(board, PowerSettings(debounce_s=0.02))
    run_for(board, watch, 0.5)
    board.env.supply.cut()
    run_for(board, watch, 0.015)
    board.env.supply.restore()
    assert run_for(board, watch, 1.0) == []
    state = watch.state()
    assert state.supply == "ok" and state.losses == 0 and state.glitches == 1
    # one just longer than the debounce is an outage, ridden through
    board.env.supply.cut()
    run_for(board, watch, 0.03)
    board.env.supply.restore()
    run_for(board, watch, 0.1)
    assert watch.state().losses == 1
    assert watch.state().last_outage_s == pytest.approx(0.03, abs=1e-9)


def test_hold_up_time_of_the_ultracapacitors_is_reported(board: SimBoard) -> None:
    supply = board.env.supply
    watch = watch_on(board, PowerSettings(shutdown_after_s=0))
    run_for(board, watch, 0.1)
    supply.cut()
    run_for(board, watch, 20.0, step=0.01)
    # constant power P from C: (V0^2 - Vmin^2) C / 2P = (25 - 9) * 10 / 12 s
    expected = (supply.cap_full**2 - supply.cap_min**2) * supply.cap_farads / (2 * supply.load_watts)
    assert not supply.powered
    hold_up = watch.state().hold_up_s
    assert isinstance(hold_up, float) and hold_up == pytest.approx(expected, abs=0.02)
    assert watch.state().shutdown is None


# -- the service under the supervisor, real time ------------------------------------------------------


def test_service_shows_the_message_would_halt_and_rides_through() -> None:
    board = SimBoard(realtime=True)
    target = SimTarget(board)
    supervisor = Supervisor(target)
    supervisor.add("power", power_service(PowerSettings(debounce_s=0.02, shutdown_after_s=0.4)))
    supervisor.add("display", display_service(0.05))
    oled = board.models["oled"]
    assert isinstance(oled, SSD1306Model)
    state = supervisor.state
    looks: dict[str, tuple[PowerState | None, bool]] = {}
    message = render_text(["", MESSAGE])
    box = message.lit_box()
    assert box is not None
    left, top, right, bottom = box

    def message_shown() -> bool:
        shown = oled.ram_frame()
        return all(shown.pixel(x, y) == message.pixel(x, y) for y in range(top, bottom) for x in range(left, right))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def look(name: str) -> None:
            looks[name] = (state.power, message_shown())

        loop.call_later(0.2, look, "before")
        loop.call_later(0.3, board.env.supply.cut)
        loop.call_later(0.5, look, "lost")
        loop.call_later(0.9, look, "due")
        loop.call_later(1.0, board.env.supply.restore)
        loop.call_later(1.3, look, "back")
        loop.call_later(1.4, stop.set)
        await supervisor.run(stop)

    asyncio.run(main())
    before, lost, due, back = (looks[k] for k in ("before", "lost", "due", "back"))
    assert before[0] is not None and before[0].supply == "ok" and not before[1]
    assert lost[0] is not None and lost[0].supply == "lost" and lost[0].shutdown is None and lost[1]
    assert due[0] is not None and due[0].shutdown is not None and due[0].shutdown.ran is False and due[1]
    assert back[0] is not None and back[0].supply == "ok" and not back[1]
    assert back[0].last_outage_s == pytest.approx(0.7, abs=0.05)
    kinds = [e.kind for e in state.events.recent if e.source == "power"]
    assert kinds == [EventKind.SUPPLY_LOST, EventKind.SHUTDOWN_SCHEDULED, EventKind.SHUTDOWN_RUN,
                     EventKind.SUPPLY_RETURNED, EventKind.SUPPLY_RIDE_THROUGH]
    assert all(s.restarts == 0 for s in supervisor.services)


def test_daemon_runs_power_and_buzzer_from_the_config() -> None:
    board = SimBoard()
    target = SimTarget(board)
    config = parse_config({"power": {"debounce_s": 0.005, "shutdown_after_s": 0}, "lora": {"enabled": False}})
    assert [s.name for s in build_supervisor(target, config).services] == [
        "monitor", "fan", "environment", "leds", "rtc", "power", "buzzer", "display", "industrial", "api"
    ]
    off = parse_config({"power": {"enabled": False}, "buzzer": {"enabled": False}, "lora": {"enabled": False}})
    assert "power" not in [s.name for s in build_supervisor(target, off).services]


@pytest.mark.parametrize(
    ("section", "match"),
    [
        ({"shutdown_command": "systemctl poweroff"}, r"power\.shutdown_command: must be a list of arguments"),
        ({"shutdown_command": []}, "non-empty list"),
        ({"debounce_s": -1}, r"power\.debounce_s"),
        ({"adc_channel": 4}, r"power\.adc_channel"),
    ],
)
def test_bad_power_config_names_the_field(section: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_config({"power": section})


# -- hardware paths --------------------------------------------------------------------------------


def test_busy_line_falls_back_to_the_gpio_keys_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class BusyLines(LineProvider):
        def line(self, name: str, *, output: bool = False, initial: bool = False) -> GpioLine:
            raise DeviceBusyError(f"GPIO line {name} is in use")

    fifo = tmp_path / "event1"
    os.mkfifo(fifo)
    monkeypatch.setattr("wisgate.bus.gpiod_lines.GpiodLines", BusyLines)
    monkeypatch.setattr("wisgate.bus.input_events.find_key_device", lambda code: fifo)
    board = SimBoard()
    hardware = HardwareTarget(board.bus)
    line = hardware.power_fail_input(owner="test")
    try:
        assert isinstance(line, KeyLine) and line.path == fifo
        got = asyncio.Event()
        levels: list[bool] = []

        async def main() -> None:
            loop = asyncio.get_running_loop()

            def on_edge(level: bool, _t: float) -> None:
                levels.append(level)
                loop.call_soon_threadsafe(got.set)

            line.on_edge(on_edge)
            with open(fifo, "wb", buffering=0) as writer:
                writer.write(event_struct().pack(7, 0, EV_KEY, KEY_PROG1, 1))
                await asyncio.wait_for(got.wait(), 3)

        asyncio.run(main())
        assert levels == [False]  # pressed = line low = supply lost
    finally:
        line.close()


def test_shutdown_command_runs_without_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "halted; echo not-a-shell"
    result, ran = asyncio.run(run_shutdown(["touch", str(marker)]))
    assert ran and result == "exit status 0" and marker.exists()
    result, ran = asyncio.run(run_shutdown(["/nonexistent/poweroff"]))
    assert not ran and result.startswith("could not start")


def test_optional_supply_voltage_through_a_divider() -> None:
    board = SimBoard(realtime=True)
    board.env.analog.set_volts(2, 12.0 / 11)  # 12 V through a 100k/10k divider on AIN2
    target = SimTarget(board)
    supervisor = Supervisor(target)
    supervisor.add("power", power_service(PowerSettings(adc_channel=2, divider_ratio=11.0)))

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.2, stop.set)
        await supervisor.run(stop)

    asyncio.run(main())
    power = supervisor.state.power
    assert power is not None
    assert power.volts == pytest.approx(12.0, abs=0.01)  # 125 µV LSB at ±4.096 V, times 11
    assert power.supply == "ok"


def test_a_shutdown_delay_longer_than_the_hold_up_is_called_out(
    board: SimBoard, caplog: pytest.LogCaptureFixture
) -> None:
    watch = watch_on(board, PowerSettings(shutdown_after_s=30))  # the default; the simulated bank lasts 13.3 s
    board.env.supply.cut()
    with caplog.at_level("ERROR", logger="wisgate.power"):
        run_for(board, watch, 15.0, step=0.01)
    assert watch.state().shutdown is None
    assert "browned out 13.3" in caplog.text and "lower [power] shutdown_after_s" in caplog.text


def test_outage_record_gives_the_hold_up_after_the_board_died(board: SimBoard, tmp_path: Path) -> None:
    record = tmp_path / "state" / "outage.json"
    watch = watch_on(board, PowerSettings(shutdown_after_s=0, outage_record=record))
    board.env.supply.cut()
    run_for(board, watch, 20.0, step=0.01)  # the simulated bank is spent after 13.3 s
    assert not board.env.supply.powered
    written = json.loads(record.read_text())
    assert written["phase"] == "on_caps" and 12.8 <= written["survived_s"] <= 13.34
    # the next start (supply back) finds the record: the hold-up, within the 0.5 s write interval
    board.env.supply.restore()
    board.advance(60)
    again = watch_on(board, PowerSettings(outage_record=record))
    assert again.hold_up_s == written["survived_s"] and not record.exists()
    assert again.state().hold_up_s == written["survived_s"]


def test_outage_record_after_a_ride_through_or_a_halt_is_no_hold_up(board: SimBoard, tmp_path: Path) -> None:
    record = tmp_path / "outage.json"
    watch = watch_on(board, PowerSettings(shutdown_after_s=2.0, outage_record=record))
    board.env.supply.cut()
    run_for(board, watch, 1.0, step=0.01)
    assert json.loads(record.read_text())["phase"] == "on_caps"
    board.env.supply.restore()
    run_for(board, watch, 0.1, step=0.01)
    assert not record.exists()  # ridden through: nothing to report next time
    board.env.supply.cut()
    run_for(board, watch, 3.0, step=0.01)
    assert json.loads(record.read_text())["phase"] == "halting"
    assert watch_on(board, PowerSettings(outage_record=record)).hold_up_s is None


def test_unwritable_outage_record_is_reported_once(
    board: SimBoard, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    watch = watch_on(board, PowerSettings(outage_record=blocker / "outage.json"))
    board.env.supply.cut()
    with caplog.at_level("ERROR", logger="wisgate.power"):
        run_for(board, watch, 2.0, step=0.01)
    assert caplog.text.count("cannot be written") == 1
    assert watch.state().supply == "lost"


def reference_transitions(edges: list[tuple[float, bool]], debounce: float, end: float) -> list[tuple[bool, float]]:
    """Runs of one raw level that held at least ``debounce``: (level, start) of each accepted change."""
    runs: list[tuple[float, bool]] = []
    for t, raw in edges:
        if not runs or runs[-1][1] != raw:
            runs.append((t, raw))
    accepted, level = [], True
    for i, (t, raw) in enumerate(runs):
        held = (runs[i + 1][0] if i + 1 < len(runs) else end) - t
        if raw != level and held >= debounce - 1e-9:
            accepted.append((raw, t))
            level = raw
    return accepted


@given(st.lists(st.tuples(st.integers(1, 100), st.booleans()), max_size=40))
def test_monitor_matches_a_reference_debounce(steps: list[tuple[int, bool]]) -> None:
    debounce = 0.02
    edges, t = [], 0.0
    for gap_ms, level in steps:
        t += gap_ms / 1000
        edges.append((t, level))
    end = t + 1.0
    monitor = PowerMonitor(PowerSettings(debounce_s=debounce, shutdown_after_s=0), now=0.0, supply_ok=True)
    got: list[PowerEvent] = []
    for when, level in edges:
        monitor.edge(level, when)
        got += monitor.tick(when)
    got += monitor.tick(end)
    seen = [(isinstance(e, SupplyRestored), e.at) for e in got]
    assert seen == reference_transitions(edges, debounce, end)


def test_return_after_a_brown_out_is_not_called_a_ride_through(
    board: SimBoard, caplog: pytest.LogCaptureFixture
) -> None:
    watch = watch_on(board, PowerSettings(shutdown_after_s=0))
    supply = board.env.supply
    with caplog.at_level("WARNING", logger="wisgate.power"):
        supply.cut()
        run_for(board, watch, 1.0, step=0.01)
        supply.restore()
        run_for(board, watch, 0.5, step=0.01)
        assert "ridden through on the ultracapacitors" in caplog.text
        caplog.clear()
        run_for(board, watch, 30.0, step=0.05)  # recharge
        supply.cut()
        run_for(board, watch, 15.0, step=0.01)  # longer than the 13.3 s hold-up
        supply.restore()
        run_for(board, watch, 0.5, step=0.01)
    assert "browned out" in caplog.text
    assert "the board had browned out" in caplog.text and "ridden through" not in caplog.text
