"""One contract for every driver on the simulated board: each bus fault surfaces as its typed error,
quickly (bounded simulated time), and the driver works again once the fault is gone."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from wisgate.chips.atecc608a import ATECC608A
from wisgate.chips.emc2301 import EMC2301
from wisgate.chips.pcf85063a import PCF85063A
from wisgate.chips.sgm58031 import SGM58031
from wisgate.chips.shtc3 import SHTC3
from wisgate.chips.ssd1306 import SSD1306
from wisgate.chips.tpt29555 import TPT29555
from wisgate.errors import BusError, BusStuckError, BusTimeoutError, NoDeviceError
from wisgate.sim.board import SimBoard

Operation = Callable[[SimBoard], object]

OPERATIONS: dict[str, tuple[str, Operation]] = {
    "SHTC3 measure": ("temperature_sensor", lambda b: SHTC3(b.bus, clock=b.clock).measure()),
    "SSD1306 init": ("oled", lambda b: SSD1306(b.bus, clock=b.clock).init()),
    "TPT29555 read": ("expander2", lambda b: TPT29555(b.bus, 0x26, clock=b.clock).read_pins()),
    "SGM58031 read": ("adc", lambda b: SGM58031.open(b.bus, 0x4B, clock=b.clock).read_volts(1)),
    "EMC2301 reading": ("fan", lambda b: EMC2301.open(b.bus, clock=b.clock).reading()),
    "ATECC608A serial": ("secure_element", lambda b: ATECC608A(b.bus, clock=b.clock).serial_number()),
    "PCF85063A time": ("rtc", lambda b: PCF85063A(b.bus, clock=b.clock).read_time()),
}

FAULTS: dict[str, tuple[Callable[[SimBoard, int], None], type[Exception]]] = {
    "nack": (lambda b, a: b.bus.faults.nack(a), NoDeviceError),
    "vanish": (lambda b, a: b.bus.faults.vanish(a), NoDeviceError),
    "timeout": (lambda b, a: b.bus.faults.timeout(a), BusTimeoutError),
    "stuck": (lambda b, a: b.bus.faults.stick(), BusStuckError),
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("operation", OPERATIONS)
def test_fault_is_typed_bounded_and_recoverable(operation: str, fault: str) -> None:
    board = SimBoard()
    name, run = OPERATIONS[operation]
    inject, expected = FAULTS[fault]
    run(board)  # works before
    inject(board, board.addresses[name])
    start = board.clock.monotonic()
    with pytest.raises(BusError) as info:
        run(board)
    # drivers that retry on NACK still give up with the bus's own typed error, naming the address
    assert isinstance(info.value, expected), repr(info.value)
    if fault != "stuck":
        assert f"0x{board.addresses[name]:02X}" in str(info.value)
    assert board.clock.monotonic() - start < 5.0, "the driver kept retrying far too long"
    board.bus.faults.clear()
    run(board)  # and works again
