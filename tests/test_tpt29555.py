"""TPT29555 expanders: driver against the model, register bytes, INT line, board loads, faults."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wisgate.bus.i2c import Read, Write
from wisgate.chips.tpt29555 import TPT29555
from wisgate.clock import SimClock
from wisgate.errors import BusTimeoutError, ConfigError, NoDeviceError
from wisgate.sim.board import SimBoard
from wisgate.sim.bus import SimI2CBus
from wisgate.sim.chips.tpt29555 import TPT29555Model
from wisgate.sim.lines import SimLine

EXP1 = 0x27
EXP2 = 0x26


def expander(board: SimBoard, address: int = EXP2) -> TPT29555:
    return TPT29555(board.bus, address, clock=board.clock)


def model(board: SimBoard, name: str = "expander2") -> TPT29555Model:
    chip = board.models[name]
    assert isinstance(chip, TPT29555Model)
    return chip


def test_power_on_registers(board: SimBoard) -> None:
    # command 0 reads Input 0, 1 (all pins float high), then wraps within the pair
    assert board.bus.write_read(EXP2, [0], 3) == b"\xff\xff\xff"
    assert board.bus.write_read(EXP2, [2], 2) == b"\xff\xff"
    assert board.bus.write_read(EXP2, [4], 2) == b"\x00\x00"
    assert board.bus.write_read(EXP2, [6], 2) == b"\xff\xff"


def test_consecutive_bytes_alternate_within_the_pair(board: SimBoard) -> None:
    board.bus.write(EXP2, [3, 0x11, 0x22, 0x33])  # Output 1, Output 0, Output 1
    assert board.bus.write_read(EXP2, [2], 4) == bytes([0x22, 0x33, 0x22, 0x33])
    # polarity pair is untouched
    assert board.bus.write_read(EXP2, [4], 2) == b"\x00\x00"


def test_input_registers_are_read_only(board: SimBoard) -> None:
    board.bus.write(EXP2, [0, 0x00, 0x00])
    assert board.bus.write_read(EXP2, [0], 2) == b"\xff\xff"


def test_output_pins_drive_their_levels(board: SimBoard) -> None:
    dev = expander(board)
    dev.set_direction(4, output=True, initial=False)
    dev.set_direction(12, output=True, initial=True)
    assert dev.read_pins() == 0xFFFF & ~(1 << 4)
    assert dev.outputs() == (1 << 4) | (1 << 12)
    dev.write_pin(4, True)
    dev.write_pin(12, False)
    assert dev.read_pin(4) is True
    assert dev.read_pin(12) is False
    assert model(board).levels() == 0xFFFF & ~(1 << 12)


def test_inputs_read_external_levels_and_float_high(board: SimBoard) -> None:
    dev = expander(board)
    chip = model(board)
    chip.set_input(3, False)
    chip.set_input(10, False)
    assert dev.read_pins() == 0xFFFF & ~(1 << 3) & ~(1 << 10)
    chip.set_input(3, None)
    assert dev.read_pin(3) is True
    assert dev.read_port(1) == 0xFF & ~(1 << 2)


def test_external_drive_does_not_override_an_output(board: SimBoard) -> None:
    dev = expander(board)
    dev.set_direction(5, output=True, initial=True)
    model(board).set_input(5, False)
    assert dev.read_pin(5) is True
    dev.set_direction(5, output=False)
    assert dev.read_pin(5) is False


def test_polarity_inverts_the_input_register_only(board: SimBoard) -> None:
    dev = expander(board)
    dev.set_polarity(0, True)
    dev.set_polarity(15, True)
    assert dev.read_pins() == 0x7FFE
    assert dev.polarity() == 0x8001
    assert model(board).levels() == 0xFFFF


def test_single_pin_write_is_a_pair_read_modify_write(board: SimBoard) -> None:
    dev = expander(board)
    dev.write_pair(2, 0x0F0F)
    seen: list[list[Write | Read]] = []
    board.bus.listeners.append(lambda messages: seen.append(list(messages)))
    dev.write_pin(9, False)
    assert seen == [
        [Write(EXP2, b"\x02"), Read(EXP2, 2)],
        [Write(EXP2, bytes([0x02, 0x0F, 0x0D]))],
    ]
    assert dev.output_latch() == 0x0D0F


def test_write_pins_changes_only_the_named_pins(board: SimBoard) -> None:
    dev = expander(board)
    dev.write_pair(2, 0x0000)
    dev.write_pins({0: True, 8: True, 15: True, 1: False})
    assert dev.output_latch() == 0x8101


def test_unchanged_pin_write_sends_no_write(board: SimBoard) -> None:
    dev = expander(board)
    board.bus.reset_stats()
    dev.write_pin(3, True)  # Output resets to 0xFF: already high
    assert board.bus.stats[EXP2].transactions == 2  # pointer write + read, no write-back


def test_port_wide_operations(board: SimBoard) -> None:
    dev = expander(board)
    dev.set_port_direction(1, 0xF0)
    assert board.bus.write_read(EXP2, [7], 1) == b"\x0f"
    dev.write_port(1, 0x5F)
    assert dev.read_port(1) == 0x5F
    assert dev.read_port(0) == 0xFF


def test_interrupt_asserts_on_input_change_and_clears_on_read(board: SimBoard) -> None:
    dev = expander(board)
    chip = model(board)
    line = board.lines.line("expander2.INT")
    assert line.read() is True
    chip.set_input(2, False)
    assert line.read() is False
    # reading the other port does not clear it
    dev.read_port(1)
    assert line.read() is False
    dev.read_port(0)
    assert line.read() is True


def test_interrupt_clears_when_the_pin_returns(board: SimBoard) -> None:
    chip = model(board)
    line = board.lines.line("expander2.INT")
    chip.set_input(11, False)
    assert line.read() is False
    chip.set_input(11, None)
    assert line.read() is True


def test_outputs_raise_no_interrupt(board: SimBoard) -> None:
    dev = expander(board)
    line = board.lines.line("expander2.INT")
    dev.set_direction(7, output=True, initial=False)
    dev.write_pin(7, True)
    dev.write_pin(7, False)
    assert line.read() is True


def test_interrupt_history_has_both_edges(board: SimBoard) -> None:
    chip = model(board)
    line = board.lines.line("expander2.INT")
    chip.set_input(1, False)
    board.advance(0.5)
    expander(board).read_pins()
    levels = [level for _, level in line.history]
    assert levels == [True, False, True]
    assert line.history[2][0] - line.history[1][0] >= 0.5


def test_leds_follow_expander1_pins_6_and_7(board: SimBoard) -> None:
    dev = expander(board, EXP1)
    assert board.loads.leds() == {"LED IO0_6": False, "LED IO0_7": False}
    dev.set_direction(6, output=True, initial=False)
    assert board.loads.leds() == {"LED IO0_6": True, "LED IO0_7": False}
    dev.set_direction(7, output=True, initial=False)
    dev.write_pin(6, True)
    assert board.loads.leds() == {"LED IO0_6": False, "LED IO0_7": True}
    assert [lit for _, lit in board.lines.line("LED IO0_6").history] == [False, True, False]


def test_wisblock_slot_outputs_follow_expander2(board: SimBoard) -> None:
    dev = expander(board, EXP2)
    dev.set_direction(1, output=True, initial=False)
    dev.set_direction(4, output=True, initial=True)
    dev.set_direction(12, output=True, initial=False)
    assert board.loads.slot(1).module_enabled is False
    assert board.loads.slot(1).relay_on is True
    assert board.loads.slot(2).relay_on is False
    assert board.loads.slot(2).module_enabled is True  # input, pulled up


def test_invalid_pins_and_ports(board: SimBoard) -> None:
    dev = expander(board)
    with pytest.raises(ConfigError, match="pin 16"):
        dev.write_pin(16, True)
    with pytest.raises(ConfigError, match="port 2"):
        dev.read_port(2)


def test_vanished_expander_raises_no_device(board: SimBoard) -> None:
    board.bus.faults.vanish(EXP1)
    with pytest.raises(NoDeviceError, match="0x27"):
        expander(board, EXP1).read_pins()


def test_bus_timeout_surfaces(board: SimBoard) -> None:
    board.bus.faults.timeout(EXP2, count=1)
    with pytest.raises(BusTimeoutError):
        expander(board).write_pin(0, False)
    assert expander(board).read_pin(0) is True


def test_power_on_reset_restores_defaults(board: SimBoard) -> None:
    dev = expander(board)
    dev.set_direction(0, output=True, initial=False)
    dev.set_polarity(1, True)
    model(board).power_on_reset()
    assert dev.outputs() == 0
    assert dev.read_pins() == 0xFFFF


@given(
    outputs=st.integers(0, 0xFFFF),
    latch=st.integers(0, 0xFFFF),
    polarity=st.integers(0, 0xFFFF),
    driven_low=st.integers(0, 0xFFFF),
)
def test_input_register_is_level_xor_polarity(outputs: int, latch: int, polarity: int, driven_low: int) -> None:
    clock = SimClock()
    bus = SimI2CBus(clock)
    chip = TPT29555Model(clock, 0x20, interrupt=SimLine(clock, "int"))
    bus.attach(chip)
    dev = TPT29555(bus, 0x20, clock=clock)
    for pin in range(16):
        if driven_low >> pin & 1:
            chip.set_input(pin, False)
    dev.write_pair(2, latch)
    dev.write_pair(4, polarity)
    dev.write_pair(6, ~outputs & 0xFFFF)
    levels = (latch & outputs) | (~driven_low & ~outputs & 0xFFFF)
    assert chip.levels() == levels
    assert dev.read_pins() == levels ^ polarity
