"""smbus2 and busio adapters: exact bytes on the bus for every call, errors as third-party code
expects them, and real third-party drivers (Adafruit, luma) running unchanged on the simulated board.
"""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from smbus2 import i2c_msg

from wisgate.bus.adapters import BlinkaI2C, SMBusAdapter
from wisgate.bus.i2c import Message, Read, Write
from wisgate.bus.linux import LinuxI2CBus
from wisgate.clock import SimClock
from wisgate.errors import BusError, BusTimeoutError, NoDeviceError, UnsupportedError
from wisgate.sim.board import SimBoard
from wisgate.sim.bus import SimI2CBus
from wisgate.sim.device import I2CModel
from wisgate.sim.registers import ByteRegisterModel

REGS = 0x20  # a plain register file
TOY = 0x0B  # an SMBus device (the smart-battery address)


class Registers(ByteRegisterModel):
    size = 64


class SMBusToy(I2CModel):
    """An SMBus device answering from what it was sent, as the SMBus 3.0 transactions define."""

    part = "SMBus toy"
    NAME = b"wisgate"

    def __init__(self, clock: SimClock, address: int) -> None:
        super().__init__(clock, address)
        self.received: bytes = b""
        self.stored: bytes = b""

    def ack_address(self, read: bool) -> bool:
        if not read:
            self.received = b""
        return True

    def write(self, data: bytes) -> None:
        self.received += data
        if self.received[:1] == b"\x40" and len(self.received) >= 2:
            self.stored = self.received[2 : 2 + self.received[1]]

    def read(self, length: int) -> bytes:
        command, rest = self.received[0], self.received[1:]
        if command == 0x10:  # block read: count, then the name
            reply = bytes([len(self.NAME)]) + self.NAME
        elif command == 0x20:  # process call: the word's complement
            reply = (int.from_bytes(rest[:2], "little") ^ 0xFFFF).to_bytes(2, "little")
        elif command == 0x30:  # block process call: the block reversed
            reply = bytes([rest[0]]) + rest[1 : 1 + rest[0]][::-1]
        elif command == 0x50:  # a broken device: count over the SMBus maximum
            reply = b"\x40"
        else:
            reply = b""
        return (reply + b"\xff" * length)[:length]


class Recorder:
    def __init__(self, bus: SimI2CBus) -> None:
        self.transactions: list[list[Message]] = []
        bus.listeners.append(lambda messages: self.transactions.append(list(messages)))


@pytest.fixture
def sim() -> tuple[SimI2CBus, Recorder]:
    bus = SimI2CBus(SimClock())
    bus.attach(Registers(bus.clock, REGS))
    bus.attach(SMBusToy(bus.clock, TOY))
    return bus, Recorder(bus)


# -- SMBus adapter: bytes on the wire ---------------------------------------------------------


def test_byte_commands(sim: tuple[SimI2CBus, Recorder]) -> None:
    bus, rec = sim
    smbus = SMBusAdapter(bus)
    smbus.write_quick(REGS)
    smbus.write_byte(REGS, 0x05)  # pointer to 5
    smbus.write_byte_data(REGS, 0x05, 0xA7)
    assert smbus.read_byte_data(REGS, 0x05) == 0xA7
    assert smbus.read_byte(REGS) == 0x00  # pointer moved on to 6
    assert rec.transactions == [
        [Write(REGS, b"")],
        [Write(REGS, b"\x05")],
        [Write(REGS, b"\x05\xa7")],
        [Write(REGS, b"\x05"), Read(REGS, 1)],
        [Read(REGS, 1)],
    ]
    assert smbus.address == REGS


def test_words_are_little_endian(sim: tuple[SimI2CBus, Recorder]) -> None:
    bus, rec = sim
    smbus = SMBusAdapter(bus)
    smbus.write_word_data(REGS, 0x10, 0xBEEF)
    assert rec.transactions[-1] == [Write(REGS, b"\x10\xef\xbe")]
    assert smbus.read_word_data(REGS, 0x10) == 0xBEEF
    assert rec.transactions[-1] == [Write(REGS, b"\x10"), Read(REGS, 2)]
    with pytest.raises(ValueError, match="16 bits"):
        smbus.write_word_data(REGS, 0x10, 0x1_0000)


def test_i2c_block_commands(sim: tuple[SimI2CBus, Recorder]) -> None:
    bus, rec = sim
    smbus = SMBusAdapter(bus)
    smbus.write_i2c_block_data(REGS, 0x02, [1, 2, 3, 4])
    assert rec.transactions[-1] == [Write(REGS, b"\x02\x01\x02\x03\x04")]
    assert smbus.read_i2c_block_data(REGS, 0x01, 5) == [0, 1, 2, 3, 4]
    assert rec.transactions[-1] == [Write(REGS, b"\x01"), Read(REGS, 5)]
    with pytest.raises(ValueError, match="32"):
        smbus.write_i2c_block_data(REGS, 0, bytes(33))
    with pytest.raises(ValueError, match="32"):
        smbus.read_i2c_block_data(REGS, 0, 33)


def test_smbus_block_write_sends_the_count_first(sim: tuple[SimI2CBus, Recorder]) -> None:
    bus, rec = sim
    SMBusAdapter(bus).write_block_data(TOY, 0x40, b"abc")
    assert rec.transactions[-1] == [Write(TOY, b"\x40\x03abc")]
    toy = bus.devices[TOY]
    assert isinstance(toy, SMBusToy) and toy.stored == b"abc"


def test_smbus_block_read_takes_the_count_from_the_device(sim: tuple[SimI2CBus, Recorder]) -> None:
    bus, rec = sim
    assert bytes(SMBusAdapter(bus).read_block_data(TOY, 0x10)) == b"wisgate"
    # one transaction: command, repeated START, count + up to the 32-byte maximum
    assert rec.transactions == [[Write(TOY, b"\x10"), Read(TOY, 33)]]


def test_bad_block_count_is_a_protocol_error(sim: tuple[SimI2CBus, Recorder]) -> None:
    bus, _ = sim
    with pytest.raises(BusError) as info:
        SMBusAdapter(bus).read_block_data(TOY, 0x50)
    assert info.value.errno == errno.EPROTO


def test_process_calls(sim: tuple[SimI2CBus, Recorder]) -> None:
    bus, rec = sim
    smbus = SMBusAdapter(bus)
    assert smbus.process_call(TOY, 0x20, 0x1234) == 0xEDCB
    assert rec.transactions[-1] == [Write(TOY, b"\x20\x34\x12"), Read(TOY, 2)]
    assert smbus.block_process_call(TOY, 0x30, [1, 2, 3]) == [3, 2, 1]
    assert rec.transactions[-1] == [Write(TOY, b"\x30\x03\x01\x02\x03"), Read(TOY, 33)]


def test_i2c_rdwr_fills_smbus2_messages_in_one_transaction(sim: tuple[SimI2CBus, Recorder]) -> None:
    bus, rec = sim
    smbus = SMBusAdapter(bus)
    smbus.write_i2c_block_data(REGS, 0x08, b"\x11\x22\x33")
    rec.transactions.clear()
    write, read = i2c_msg.write(REGS, [0x08]), i2c_msg.read(REGS, 3)
    smbus.i2c_rdwr(write, read)
    assert rec.transactions == [[Write(REGS, b"\x08"), Read(REGS, 3)]]
    assert list(read) == [0x11, 0x22, 0x33]
    assert bytes(read) == b"\x11\x22\x33"


def test_i2c_rdwr_refuses_flags_it_cannot_honour(sim: tuple[SimI2CBus, Recorder]) -> None:
    bus, rec = sim
    msg = i2c_msg.write(REGS, b"\x00")
    msg.flags = 0x0010  # I2C_M_TEN
    with pytest.raises(UnsupportedError):
        SMBusAdapter(bus).i2c_rdwr(msg)
    assert rec.transactions == []


def test_force_is_accepted_and_pec_is_refused(sim: tuple[SimI2CBus, Recorder]) -> None:
    bus, _ = sim
    smbus = SMBusAdapter(bus, force=True)
    smbus.write_byte_data(REGS, 0, 7, force=True)
    assert smbus.read_byte_data(REGS, 0, force=False) == 7
    assert smbus.pec == 0
    smbus.pec = 0
    with pytest.raises(UnsupportedError, match="PEC"):
        smbus.pec = 1
    with pytest.raises(UnsupportedError):
        smbus.enable_pec()


class ClosingBus(SimI2CBus):
    closed = 0

    def close(self) -> None:
        self.closed += 1


def test_close_leaves_a_borrowed_bus_open_and_closes_an_owned_one() -> None:
    borrowed = ClosingBus(SimClock())
    with SMBusAdapter(borrowed) as smbus:
        pass
    assert borrowed.closed == 0
    with pytest.raises(OSError) as info:
        smbus.read_byte(REGS)
    assert info.value.errno == errno.EBADF
    owned = ClosingBus(SimClock())
    SMBusAdapter(owned, owns_bus=True).close()
    assert owned.closed == 1


# -- errors as smbus2 and busio users see them -------------------------------------------------


def test_missing_device_is_our_error_with_the_kernel_errno(sim: tuple[SimI2CBus, Recorder]) -> None:
    bus, _ = sim
    with pytest.raises(NoDeviceError) as info:
        SMBusAdapter(bus).read_byte_data(0x42, 0)
    assert isinstance(info.value, OSError)
    assert info.value.errno == errno.EREMOTEIO
    assert "0x42" in str(info.value)


def test_timeout_has_etimedout(sim: tuple[SimI2CBus, Recorder]) -> None:
    bus, _ = sim
    bus.faults.timeout(REGS, count=1)
    with pytest.raises(BusTimeoutError) as info:
        SMBusAdapter(bus).read_byte(REGS)
    assert info.value.errno == errno.ETIMEDOUT


class KernelRefusing:
    """Stands in for smbus2 on Linux: every transfer fails with the adapter driver's errno."""

    def __init__(self, number: int) -> None:
        self.code = errno.ENXIO

    def i2c_rdwr(self, *msgs: Any) -> None:
        raise OSError(self.code, os.strerror(self.code))

    def close(self) -> None:
        pass


def test_kernel_errno_passes_through_from_the_linux_backend(tmp_path: Path) -> None:
    linux = LinuxI2CBus("/dev/i2c-1", sysfs=tmp_path, smbus_factory=KernelRefusing)
    with pytest.raises(NoDeviceError) as info:
        SMBusAdapter(linux).write_byte(0x3C, 0)
    assert info.value.errno == errno.ENXIO


def test_luma_reports_a_missing_display_as_device_not_found(sim: tuple[SimI2CBus, Recorder]) -> None:
    from luma.core.error import DeviceNotFoundError
    from luma.core.interface.serial import i2c

    serial = i2c(bus=SMBusAdapter(sim[0]), address=0x3D)
    with pytest.raises(DeviceNotFoundError, match="0x3D"):
        serial.command(0xAE)


# -- busio adapter -----------------------------------------------------------------------------


def test_operations_need_the_lock(sim: tuple[SimI2CBus, Recorder]) -> None:
    bus, rec = sim
    i2c = BlinkaI2C(bus)
    for call in (
        lambda: i2c.scan(),
        lambda: i2c.writeto(REGS, b"\x00"),
        lambda: i2c.readfrom_into(REGS, bytearray(1)),
        lambda: i2c.writeto_then_readfrom(REGS, b"\x00", bytearray(1)),
    ):
        with pytest.raises(RuntimeError, match="requires lock"):
            call()
    assert rec.transactions == []
    assert i2c.try_lock()
    assert not i2c.try_lock()
    i2c.unlock()
    i2c.unlock()  # unlocking an unlocked bus is allowed, as in CircuitPython
    assert i2c.try_lock()


def test_lock_belongs_to_the_thread_that_took_it(sim: tuple[SimI2CBus, Recorder]) -> None:
    i2c = BlinkaI2C(sim[0])
    assert i2c.try_lock()
    seen: list[object] = []

    def other() -> None:
        seen.append(i2c.try_lock())
        try:
            i2c.writeto(REGS, b"\x00")
        except RuntimeError as exc:
            seen.append(str(exc))

    worker = threading.Thread(target=other)
    worker.start()
    worker.join()
    assert seen == [False, "Function requires lock"]


def test_writeto_and_readfrom_into_respect_start_and_end(sim: tuple[SimI2CBus, Recorder]) -> None:
    bus, rec = sim
    i2c = BlinkaI2C(bus)
    assert i2c.try_lock()
    i2c.writeto(REGS, bytearray(b"\xff\x04\xaa\xbb\xcc\xff"), start=1, end=5)
    assert rec.transactions[-1] == [Write(REGS, b"\x04\xaa\xbb\xcc")]
    i2c.writeto(REGS, b"\x04")
    buf = bytearray(b"------")
    i2c.readfrom_into(REGS, buf, start=2, end=5)
    assert rec.transactions[-1] == [Read(REGS, 3)]
    assert buf == b"--\xaa\xbb\xcc-"


def test_writeto_then_readfrom_is_one_transaction(sim: tuple[SimI2CBus, Recorder]) -> None:
    bus, rec = sim
    i2c = BlinkaI2C(bus)
    assert i2c.try_lock()
    i2c.writeto(REGS, b"\x30\x01\x02\x03")
    rec.transactions.clear()
    buf = bytearray(4)
    i2c.writeto_then_readfrom(REGS, b"\x00\x30", buf, out_start=1, in_start=1, in_end=3)
    assert rec.transactions == [[Write(REGS, b"\x30"), Read(REGS, 2)]]
    assert buf == b"\x00\x01\x02\x00"
    # the old Blinka keyword asks for a STOP in between: two transactions
    i2c.writeto_then_readfrom(REGS, b"\x31", buf, stop=True)
    assert rec.transactions[1:] == [[Write(REGS, b"\x31")], [Read(REGS, 4)]]
    assert buf == b"\x02\x03\x00\x00"


def test_scan_frequency_and_deinit(sim: tuple[SimI2CBus, Recorder]) -> None:
    bus, _ = sim
    with BlinkaI2C(bus) as i2c:
        assert i2c.try_lock()
        assert i2c.scan() == [TOY, REGS]
        assert i2c.frequency == 400_000
    with pytest.raises(ValueError, match="deinitialized"):
        i2c.try_lock()


def test_bus_errors_reach_busio_users_as_oserror(sim: tuple[SimI2CBus, Recorder]) -> None:
    i2c = BlinkaI2C(sim[0])
    assert i2c.try_lock()
    with pytest.raises(OSError) as info:
        i2c.readfrom_into(0x42, bytearray(2))
    assert info.value.errno == errno.EREMOTEIO


def test_adafruit_i2c_device_probes_and_transfers(sim: tuple[SimI2CBus, Recorder]) -> None:
    from adafruit_bus_device.i2c_device import I2CDevice

    bus, rec = sim
    i2c = BlinkaI2C(bus)
    with pytest.raises(ValueError, match="No I2C device at address: 0x42"):
        I2CDevice(i2c, 0x42)
    device = I2CDevice(i2c, REGS)
    with device:
        device.write(bytes([0x09, 0x5A, 0xA5]))
    got = bytearray(2)
    with device:
        device.write_then_readinto(bytes([0x09]), got)
    assert got == b"\x5a\xa5"
    assert rec.transactions[-1] == [Write(REGS, b"\x09"), Read(REGS, 2)]
    assert i2c.try_lock()  # I2CDevice gave the lock back


# -- third-party drivers, unchanged, on the simulated board ------------------------------------


def test_adafruit_shtc3_reads_the_simulated_climate() -> None:
    import adafruit_shtc3

    # adafruit's driver waits with time.sleep, so simulated time must follow the wall clock
    board = SimBoard(realtime=True)
    climate = board.env.climate
    climate.ambient_c, climate.ambient_rh = 12.5, 62.0
    climate.pcb_c = climate.target()  # steady state: no drift during the test
    sensor = adafruit_shtc3.SHTC3(BlinkaI2C(board.bus))
    temperature, humidity = sensor.measurements
    assert climate.pcb_c == pytest.approx(21.5)
    assert temperature == pytest.approx(climate.pcb_c, abs=0.01)
    assert humidity == pytest.approx(climate.pcb_rh, abs=0.01)
    assert 30 < humidity < 40  # warmer PCB: drier than the 62 % ambient


LUMA_ON_PILLOW_13 = "ignore:Image.Image.getdata is deprecated:DeprecationWarning"


@pytest.mark.filterwarnings(LUMA_ON_PILLOW_13)
def test_luma_ssd1306_draws_what_the_simulated_panel_shows() -> None:
    from luma.core.interface.serial import i2c
    from luma.oled.device import ssd1306
    from PIL import Image, ImageDraw

    board = SimBoard()
    oled = ssd1306(i2c(bus=SMBusAdapter(board.bus), address=board.addresses["oled"]))
    model = board.models["oled"]
    picture = Image.new("1", (128, 64))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, 0, 127, 63), outline=1)
    draw.line((0, 0, 127, 63), fill=1)
    draw.text((40, 8), "wisgate", fill=1)

    def lit(image: Image.Image) -> int:
        return sum(bin(byte).count("1") for byte in image.tobytes())

    def shown() -> Image.Image:
        return model.image()  # type: ignore[attr-defined, no-any-return]

    oled.display(picture)
    assert shown().tobytes() == picture.tobytes()
    assert model.framebuffer().tobytes() == picture.tobytes()  # type: ignore[attr-defined]
    assert lit(shown()) == lit(picture) > 500
    # luma sends only the changed area next time: the panel must still match
    draw.rectangle((90, 40, 120, 60), fill=1)
    oled.display(picture)
    assert shown().tobytes() == picture.tobytes()
    oled.contrast(0x42)
    assert model.contrast == 0x42  # type: ignore[attr-defined]
    oled.hide()
    assert shown().getbbox() is None


def test_adafruit_ads1115_reads_the_simulated_inputs() -> None:
    import adafruit_ads1x15.ads1115 as ads1115
    from adafruit_ads1x15.analog_in import AnalogIn

    board = SimBoard()
    board.env.analog.set_volts(0, 0.5)
    board.env.analog.set_volts(1, 1.234)
    board.env.analog.set_volts(3, 3.3)
    adc = ads1115.ADS1115(BlinkaI2C(board.bus), address=board.addresses["adc"])
    # the driver's default gain 1: ±4.096 V full scale, 125 µV per code
    assert AnalogIn(adc, 1).value == round(1.234 / 125e-6)
    assert AnalogIn(adc, 1).voltage == pytest.approx(1.234, abs=125e-6)
    assert AnalogIn(adc, 3).voltage == pytest.approx(3.3, abs=125e-6)
    assert AnalogIn(adc, 2).voltage == pytest.approx(0.0, abs=125e-6)
    assert AnalogIn(adc, 0, 1).voltage == pytest.approx(0.5 - 1.234, abs=125e-6)
    adc.gain = 4  # ±1.024 V: 1.234 V saturates
    assert AnalogIn(adc, 1).value == 0x7FFF


@pytest.mark.filterwarnings(LUMA_ON_PILLOW_13)
def test_simulated_board_examples_in_the_docs_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (Path(__file__).parent.parent / "docs" / "adapters.md").read_text()
    blocks = [block.split("```")[0] for block in text.split("```python\n")[1:]]
    simulated = [block for block in blocks if "SimBoard(" in block]
    assert len(simulated) == 2
    monkeypatch.chdir(tmp_path)  # the OLED example saves a PNG
    for block in simulated:
        exec(compile(block, "docs/adapters.md", "exec"), {})
    assert (tmp_path / "oled.png").stat().st_size > 100
