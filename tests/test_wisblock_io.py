"""WisBlock IO on the simulated board: RAK5801/RAK5811 scaling from the simulated analog inputs, loop
faults as events, module enable and relay lines on expander 0x26."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from wisgate.industrial.config import IndustrialSection, WisblockSection
from wisgate.industrial.service import IndustrialGateway
from wisgate.industrial.wisblock import signal_of
from wisgate.services.events import EventKind, Severity
from wisgate.services.supervisor import Context
from wisgate.sim.target import SimTarget


def module(**fields: Any) -> WisblockSection:
    return WisblockSection.model_validate({"name": "m", "slot": 1, "module": "RAK5801", **fields})


@pytest.mark.parametrize(("volts", "milliamps", "bar", "condition"), [
    (0.5996, 4.0, 0.0, "ok"), (1.7988, 12.0, 5.0, "ok"), (2.998, 20.0, 10.0, "ok"), (0.5, 3.3356, None, "broken"),
    (3.2, 21.3476, 10.8423, "over"),
])
def test_rak5801_conversion(volts: float, milliamps: float, bar: float | None, condition: str) -> None:
    measured = signal_of(module(range=(0, 10), unit="bar"), volts)
    assert measured.signal == pytest.approx(milliamps, abs=1e-3)
    assert measured.condition == condition
    assert measured.value == (None if bar is None else pytest.approx(bar, abs=1e-3))


def test_rak5811_conversion() -> None:
    measured = signal_of(module(module="RAK5811", range=(-20, 80), unit="°C"), 1.5)
    assert measured.signal == pytest.approx(2.5) and measured.value == pytest.approx(30.0)
    assert signal_of(module(module="RAK5811"), 3.3).condition == "over"


def test_analog_modules_and_relay_on_the_simulated_board() -> None:
    target = SimTarget.open()
    env = target.board.env.analog
    config = IndustrialSection.model_validate({"wisblock": [
        {"name": "pressure", "slot": 1, "module": "RAK5801", "range": [0, 10], "unit": "bar", "interval_s": 0.1},
        {"name": "pump", "slot": 2, "module": "RAK13007"}]})

    async def main() -> tuple[list[Any], list[Any]]:
        context = Context(target=target)
        events = context.state.events.subscribe()
        gateway = IndustrialGateway(config, context)
        env.set_current_loop(1, 12.0)
        task = asyncio.create_task(gateway.run())
        seen = []

        async def settle() -> None:
            await asyncio.sleep(0.35)
            state = context.state
            seen.append((state.value("wisblock.pressure.current"), state.value("wisblock.pressure.value")))

        await settle()
        env.set_current_loop(1, 1.0)  # the loop is cut
        await settle()
        env.set_current_loop(1, 20.0)
        await settle()
        await gateway.set_relay("pump", True)
        expander = target.expander("expander2")
        pins = await target.worker.run(lambda: (expander.read_pin(1), expander.is_output(1), expander.read_pin(12)))
        seen.append(pins)
        seen.append(context.state.value("wisblock.pump.relay"))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        kinds = []
        while (event := await events.get(0)) is not None:
            kinds.append((event.kind, event.severity))
        return seen, kinds

    try:
        seen, kinds = asyncio.run(asyncio.wait_for(main(), 20))
    finally:
        target.close()
    assert seen[0][0] == pytest.approx(12.0, abs=0.01) and seen[0][1] == pytest.approx(5.0, abs=0.01)
    assert seen[1][0] == pytest.approx(1.0, abs=0.01) and seen[1][1] is None
    assert seen[2][1] == pytest.approx(10.0, abs=0.01)
    assert seen[3] == (True, True, True)  # module enable (slot 1 line 1) driven high; relay (slot 2 line 12) on
    assert seen[4] == 1.0
    assert (EventKind.ANALOG_LOOP_BROKEN, Severity.ALARM) in kinds
    assert kinds.index((EventKind.ANALOG_OK, Severity.INFO)) > kinds.index((EventKind.ANALOG_LOOP_BROKEN,
                                                                              Severity.ALARM))
    assert (EventKind.WISBLOCK_OUTPUT, Severity.INFO) in kinds


def test_debouncer_ignores_bounces_shorter_than_its_hold() -> None:
    from wisgate.industrial.wisblock import Debouncer

    debouncer = Debouncer(0.05)
    samples = [(0.0, False), (0.02, True), (0.04, False), (0.06, True), (0.08, True), (0.10, True), (0.12, True),
               (0.14, False), (0.16, True)]
    changes = [(t, debouncer.sample(level, t)) for t, level in samples]
    assert [(t, new) for t, new in changes if new is not None] == [(0.12, True)]
    assert debouncer.level is True


def test_opto_input_on_the_simulated_board_is_debounced_into_events() -> None:
    from wisgate.sim.chips.tpt29555 import TPT29555Model

    target = SimTarget.open()
    model = target.board.models["expander2"]
    assert isinstance(model, TPT29555Model)
    config = IndustrialSection.model_validate({"wisblock": [
        {"name": "door", "slot": 2, "module": "RAK13001", "input_line": 10, "debounce_s": 0.1}]})

    async def main() -> tuple[list[Any], float | None]:
        context = Context(target=target)
        events = context.state.events.subscribe()
        await target.worker.run(lambda: model.set_input(10, False))  # the undriven pin would float high
        task = asyncio.create_task(IndustrialGateway(config, context).run())
        await asyncio.sleep(0.2)
        for level in (True, False, True, False, True):  # contact bounce, 20 ms each
            await target.worker.run(lambda lv=level: model.set_input(10, lv))
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        seen = []
        while (event := await events.get(0)) is not None:
            if event.kind is EventKind.WISBLOCK_INPUT:
                seen.append(event.data["level"])
        return seen, context.state.value("wisblock.door.input")

    try:
        seen, value = asyncio.run(asyncio.wait_for(main(), 20))
    finally:
        target.close()
    assert seen == [True]
    assert value == 1.0


def test_input_line_checks() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="input_line 12 is the relay's line"):
        WisblockSection.model_validate({"name": "a", "slot": 2, "module": "RAK13001", "input_line": 12})
    with pytest.raises(ValidationError, match="input_line is for the RAK13001"):
        WisblockSection.model_validate({"name": "a", "slot": 2, "module": "RAK13007", "input_line": 10})
