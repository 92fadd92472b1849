"""SSD1306 OLED: the model driven by raw bytes, the driver against the model, partial updates."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from wisgate.bitmap import Frame
from wisgate.bus.i2c import Message, Write
from wisgate.chips.ssd1306 import SSD1306, pack, render_text
from wisgate.clock import SimClock
from wisgate.errors import ConfigError, NackError, NoDeviceError
from wisgate.sim.board import SimBoard
from wisgate.sim.bus import SimI2CBus
from wisgate.sim.chips.ssd1306 import SSD1306Model
from wisgate.sim.device import DataNack

OLED = 0x3C

GOLDEN_INIT = bytes.fromhex(
    "00"  # control byte: command stream
    "ae d580 a83f d300 40 8d14 2000 a1 c8 da12 81cf d9f1 db20 2e a4 a6 21007f 220007"
)


def make_bus() -> tuple[SimI2CBus, SSD1306Model]:
    clock = SimClock()
    bus = SimI2CBus(clock)
    model = SSD1306Model(clock, OLED)
    bus.attach(model)
    return bus, model


def record(bus: SimI2CBus) -> list[bytes]:
    writes: list[bytes] = []

    def listen(messages: Sequence[Message]) -> None:
        writes.extend(m.data for m in messages if isinstance(m, Write))

    bus.listeners.append(listen)
    return writes


def pixels(image: Image.Image) -> list[list[int]]:
    return [[1 if image.getpixel((x, y)) else 0 for x in range(128)] for y in range(64)]


def status_screen(clock: str, temperature: str) -> Frame:
    return render_text(["WisGate RAK7391", clock, f"PCB {temperature} °C", "fan 1200 rpm"])


def ready_model(bus: SimI2CBus) -> None:
    """Power the panel the way every driver does: charge pump, on, glass orientation, horizontal."""
    bus.write(OLED, bytes([0x00, 0x8D, 0x14, 0xA1, 0xC8, 0xAF]))


# -- model, driven by raw bytes ---------------------------------------------------------------


def test_reset_state_is_the_datasheet_one() -> None:
    _, model = make_bus()
    s = model.settings
    assert (s.contrast, s.display_on, s.addressing_mode, s.multiplex, s.com_pins) == (0x7F, False, 2, 64, 0x12)
    assert model.pointer == (0, 0)
    # charge pump and display off: nothing to see whatever GDDRAM holds (noise at power-up)
    assert any(model.ram)
    assert model.screen().lit() == 0 and model.image().getbbox() is None


def test_horizontal_mode_window_wraps_to_start_column_and_page() -> None:
    bus, model = make_bus()
    model.ram[:] = bytes(1024)
    bus.write(OLED, bytes([0x00, 0x20, 0x00, 0x21, 10, 12, 0x22, 2, 3]))
    bus.write(OLED, bytes([0x40, *range(1, 8)]))  # 6 bytes fill the window, the 7th wraps home
    assert model.ram[2 * 128 + 10 : 2 * 128 + 13] == bytes([7, 2, 3])
    assert model.ram[3 * 128 + 10 : 3 * 128 + 13] == bytes([4, 5, 6])
    assert model.pointer == (2, 11)
    assert sum(1 for b in model.ram if b) == 6


def test_vertical_mode_increments_page_first() -> None:
    bus, model = make_bus()
    model.ram[:] = bytes(1024)
    bus.write(OLED, bytes([0x00, 0x20, 0x01, 0x21, 5, 6, 0x22, 6, 7]))
    bus.write(OLED, bytes([0x40, 1, 2, 3, 4, 5]))
    assert [model.ram[6 * 128 + 5], model.ram[7 * 128 + 5], model.ram[6 * 128 + 6], model.ram[7 * 128 + 6]] == [
        5, 2, 3, 4,
    ]  # fmt: skip
    assert model.pointer == (7, 5)


def test_page_mode_sets_column_by_nibbles_and_wraps_within_the_page() -> None:
    bus, model = make_bus()
    model.ram[:] = bytes(1024)
    # reset default is page mode: page 4, column 0x7E (low nibble E, high nibble 7)
    bus.write(OLED, bytes([0x00, 0xB4, 0x0E, 0x17]))
    bus.write(OLED, bytes([0x40, 0xAA, 0xBB, 0xCC]))
    assert model.ram[4 * 128 + 126 : 4 * 128 + 128] == bytes([0xAA, 0xBB])
    assert model.ram[4 * 128] == 0xCC  # wrapped to column 0 of the same page
    assert model.ram[5 * 128] == 0
    assert model.pointer == (4, 1)


def test_page_commands_do_not_move_the_pointer_in_horizontal_mode() -> None:
    bus, model = make_bus()
    bus.write(OLED, bytes([0x00, 0x20, 0x00, 0x21, 0, 127, 0x22, 0, 7, 0xB5, 0x03, 0x12]))
    assert model.pointer == (0, 0)


def test_command_arguments_may_straddle_transactions() -> None:
    bus, model = make_bus()
    # Co=1 pairs, one per transaction, as Adafruit's driver sends them
    bus.write(OLED, bytes([0x80, 0x81]))
    bus.write(OLED, bytes([0x80, 0x10]))
    assert model.contrast == 0x10
    bus.write(OLED, bytes([0x00, 0x21]))
    bus.write(OLED, bytes([0x00, 20]))
    bus.write(OLED, bytes([0x00, 30, 0x22, 1]))
    assert (model.settings.column_start, model.settings.column_end) == (20, 30)
    bus.write(OLED, bytes([0x00, 6]))
    assert (model.settings.page_start, model.settings.page_end) == (1, 6)


def test_single_command_and_data_pairs_then_a_data_stream_in_one_transaction() -> None:
    bus, model = make_bus()
    model.ram[:] = bytes(1024)
    bus.write(OLED, bytes([0x80, 0xB3, 0x80, 0x05, 0xC0, 0x11, 0x40, 0x22, 0x33]))
    assert model.ram[3 * 128 + 5 : 3 * 128 + 8] == bytes([0x11, 0x22, 0x33])


def test_each_transaction_starts_with_a_control_byte() -> None:
    bus, model = make_bus()
    model.ram[:] = bytes(1024)
    bus.write(OLED, bytes([0x40, 0x01, 0x02]))
    bus.write(OLED, bytes([0x40, 0x03]))  # 0x40 here is a control byte again, not data
    assert model.ram[:4] == bytes([1, 2, 3, 0])


def test_luma_style_full_frame_in_32_byte_blocks() -> None:
    bus, model = make_bus()
    frame = bytes((i * 7) & 0xFF for i in range(1024))
    bus.write(OLED, bytes([0x00, 0x21, 0, 127, 0x22, 0, 7, 0x20, 0x00]))
    bus.write(OLED, bytes([0x00, 0x21, 0, 127, 0x22, 0, 7]))
    for offset in range(0, 1024, 32):
        bus.write(OLED, bytes([0x40]) + frame[offset : offset + 32])
    assert bytes(model.ram) == frame
    assert model.pointer == (0, 0)


def test_settings_commands_and_scroll_setup_are_parsed_with_their_arguments() -> None:
    bus, model = make_bus()
    bus.write(
        OLED,
        bytes([
            0x00, 0xD5, 0xF0, 0xA8, 0x1F, 0xD3, 0x08, 0x65, 0xDA, 0x02, 0xD9, 0x22, 0xDB, 0x30,
            0x26, 0x00, 0x01, 0x07, 0x03, 0x00, 0xFF, 0x2F, 0x29, 0x00, 0x00, 0x00, 0x07, 0x01,
            0xA3, 0x00, 0x40, 0xE3, 0x2E, 0x81, 0x44,
        ]),
    )  # fmt: skip
    s = model.settings
    assert (s.clock_divide, s.multiplex, s.display_offset, s.start_line) == (0xF0, 32, 8, 0x25)
    assert (s.com_pins, s.precharge, s.vcomh, s.contrast) == (0x02, 0x22, 0x30, 0x44)
    assert s.scroll_setup == (0xA3, 0x00, 0x40)
    assert not s.scrolling


def test_status_read_reports_display_off() -> None:
    bus, _ = make_bus()
    assert bus.read(OLED, 1)[0] & 0x40
    bus.write(OLED, bytes([0x80, 0xAF]))
    assert not bus.read(OLED, 1)[0] & 0x40


def one_pixel_model(x: int, y: int) -> tuple[SimI2CBus, SSD1306Model]:
    bus, model = make_bus()
    model.ram[:] = bytes(1024)
    model.ram[(y // 8) * 128 + x] = 1 << (y % 8)
    ready_model(bus)
    return bus, model


def lit(model: SSD1306Model) -> list[tuple[int, int]]:
    screen = model.screen()
    shown = [(x, y) for y in range(64) for x in range(128) if screen.pixel(x, y)]
    # the Pillow view (luma.oled and Adafruit users compare against it) shows the same
    image = model.image()
    assert shown == [(x, y) for y in range(64) for x in range(128) if image.getpixel((x, y))]
    return shown


def test_image_follows_ram_with_the_usual_orientation() -> None:
    _, model = one_pixel_model(3, 10)
    assert lit(model) == [(3, 10)]


def test_reset_orientation_shows_the_picture_rotated() -> None:
    bus, model = one_pixel_model(3, 10)
    bus.write(OLED, bytes([0x00, 0xA0, 0xC0]))
    assert lit(model) == [(124, 53)]


def test_start_line_and_sequential_com_pins_move_rows() -> None:
    bus, model = one_pixel_model(3, 10)
    bus.write(OLED, bytes([0x00, 0x42]))  # start line 2: RAM row 10 shows on row 8
    assert lit(model) == [(3, 8)]
    bus.write(OLED, bytes([0x00, 0x40, 0xDA, 0x02]))  # wrong COM pin order for this glass: rows interleave
    assert lit(model) == [(3, 20)]


def test_multiplex_leaves_unscanned_rows_dark() -> None:
    bus, model = one_pixel_model(3, 40)
    bus.write(OLED, bytes([0x00, 0xA8, 0x1F]))
    assert lit(model) == []


def test_display_off_charge_pump_off_all_on_and_inverse() -> None:
    bus, model = one_pixel_model(3, 10)
    bus.write(OLED, bytes([0x80, 0xA7]))
    assert model.inverse and len(lit(model)) == 128 * 64 - 1
    bus.write(OLED, bytes([0x00, 0xA6, 0xA5]))
    assert len(lit(model)) == 128 * 64
    bus.write(OLED, bytes([0x00, 0xA4, 0x8D, 0x10]))
    assert model.display_on and lit(model) == []
    bus.write(OLED, bytes([0x00, 0x8D, 0x14, 0xAE]))
    assert not model.display_on and lit(model) == []


def test_save_png(tmp_path: Path) -> None:
    bus, model = one_pixel_model(3, 10)
    bus.write(OLED, bytes([0x80, 0xA7]))  # inverse: the file shows what the glass shows
    path = tmp_path / "oled.png"
    model.save_png(path)
    with Image.open(path) as saved:
        assert saved.size == (128, 64) and saved.mode == "1"
        assert saved.tobytes() == model.image().tobytes()
        assert not saved.getpixel((3, 10)) and saved.getpixel((4, 10))


# -- driver against the model -----------------------------------------------------------------


def test_init_sends_the_golden_sequence_then_a_blank_frame_then_display_on() -> None:
    bus, model = make_bus()
    writes = record(bus)
    SSD1306(bus, clock=bus.clock).init()
    assert writes[0] == GOLDEN_INIT
    assert writes[1] == bytes([0x40]) + bytes(1024)
    assert writes[2:] == [bytes([0x00, 0xAF])]
    assert model.lit and model.contrast == 0xCF and not any(model.ram)


def test_full_and_partial_updates_match_pixel_by_pixel() -> None:
    bus, model = make_bus()
    oled = SSD1306(bus, clock=bus.clock)
    oled.init()
    first = status_screen("12:00:01", "41.2")
    oled.show(first)
    assert model.screen() == first
    second = status_screen("12:00:02", "41.3")
    oled.show(second)
    assert model.screen() == second != first
    assert model.ram_frame() == second
    assert pixels(model.image()) == pixels(second.image())


def test_partial_update_touches_only_changed_bytes() -> None:
    bus, model = make_bus()
    oled = SSD1306(bus, clock=bus.clock)
    oled.init()
    image = Image.new("1", (128, 64), 0)
    oled.show(image)
    model.ram[7 * 128 + 100] = 0x5A  # a byte the driver believes is blank
    image.putpixel((20, 20), 1)
    cost = oled.show(image)
    assert model.ram[2 * 128 + 20] == 0x10
    assert model.ram[7 * 128 + 100] == 0x5A
    # switch to page mode, page 2, column 20 by nibbles: 1 + 6 bytes; then address, 0x40, one data byte
    assert cost == 10


def test_nearby_changes_merge_into_one_write() -> None:
    bus, model = make_bus()
    oled = SSD1306(bus, clock=bus.clock)
    oled.init()
    writes = record(bus)
    image = Image.new("1", (128, 64), 0)
    for x, y in ((20, 15), (20, 16), (22, 16)):  # pages 1 and 2, columns 20-22
        image.putpixel((x, y), 255)
    assert oled.show(image) == 16
    # one two-page window (cheaper than two page-mode runs), the unchanged column 21 bridged
    assert writes == [bytes([0x00, 0x21, 20, 22, 0x22, 1, 2]), bytes([0x40, 0x80, 0, 0, 0x01, 0, 0x01])]
    assert pixels(model.image()) == pixels(image)


def test_same_rectangle_again_needs_no_commands() -> None:
    bus, _ = make_bus()
    oled = SSD1306(bus, clock=bus.clock)
    oled.init()
    writes = record(bus)
    for second in range(1, 4):
        oled.show(status_screen(f"12:00:1{second}", "41.2"))
    # the last digit's columns changed each time; the last upload is one data write, no command
    assert len(writes[-1]) > 1 and writes[-1][0] == 0x40
    assert oled.last_upload_bytes == len(writes[-1]) + 1
    assert oled.show(status_screen("12:00:13", "41.2")) == 0


def test_ticking_status_screen_costs_under_a_quarter_of_a_frame() -> None:
    board = SimBoard()
    oled = SSD1306(board.bus, clock=board.clock)
    oled.init()
    oled.show(status_screen("12:00:59", "41.2"))
    board.bus.reset_stats()
    oled.show(status_screen("12:01:00", "41.3"))
    assert board.bus.stats[OLED].wire_bytes <= 0.25 * 1034


def test_writes_respect_max_data() -> None:
    bus, model = make_bus()
    writes = record(bus)
    oled = SSD1306(bus, clock=bus.clock, max_data=32)
    oled.init()
    image = status_screen("12:00:01", "41.2")
    oled.show(image)
    assert max(len(w) for w in writes) <= 33
    assert model.screen() == image


def test_contrast_sleep_wake_invert() -> None:
    bus, model = make_bus()
    oled = SSD1306(bus, clock=bus.clock)
    image = status_screen("12:00:01", "41.2")
    oled.init(image, contrast=0x40)
    assert model.contrast == 0x40
    oled.contrast(0x11)
    assert model.contrast == 0x11
    oled.sleep()
    assert not model.display_on and model.screen().lit() == 0
    oled.wake()
    assert model.screen() == image
    oled.invert()
    assert model.inverse
    inverted = model.screen()
    assert all(inverted.pixel(x, y) != image.pixel(x, y) for x in range(128) for y in range(64))
    oled.invert(False)
    assert model.screen() == image


def test_bad_image_size_and_contrast_are_config_errors() -> None:
    bus, _ = make_bus()
    oled = SSD1306(bus, clock=bus.clock)
    with pytest.raises(ConfigError, match="128×64"):
        oled.show(Image.new("1", (128, 32)))
    with pytest.raises(ConfigError, match="128×64"):
        oled.show(Frame.blank(128, 32))
    with pytest.raises(ConfigError, match="contrast"):
        oled.contrast(300)


def test_vanished_display_raises_no_device() -> None:
    bus, _ = make_bus()
    bus.faults.vanish(OLED)
    with pytest.raises(NoDeviceError, match="0x3C"):
        SSD1306(bus, clock=bus.clock).init()


def test_data_nack_raises_and_the_next_upload_is_a_full_frame() -> None:
    bus, model = make_bus()
    oled = SSD1306(bus, clock=bus.clock)
    oled.init()
    original = model.write

    def flaky(data: bytes) -> None:
        original(data[:10])
        raise DataNack(10)

    model.write = flaky  # type: ignore[method-assign]
    image = status_screen("12:00:01", "41.2")
    with pytest.raises(NackError) as info:
        oled.show(image)
    assert not isinstance(info.value, NoDeviceError)
    model.write = original  # type: ignore[method-assign]
    assert oled.show(image) >= 1024
    assert model.screen() == image


def test_a_pillow_image_and_the_same_frame_upload_the_same_bytes() -> None:
    frame = status_screen("12:00:01", "41.2")
    assert pack(frame.image()) == pack(frame) == frame.data
    bus, model = make_bus()
    oled = SSD1306(bus, clock=bus.clock)
    oled.init(frame)
    assert oled.show(frame.image()) == 0  # the shadow compares GDDRAM bytes, whatever the picture's type
    assert model.screen() == frame


def test_pack_layout() -> None:
    image = Image.new("L", (128, 64), 0)
    image.putpixel((5, 0), 255)
    image.putpixel((7, 9), 200)
    frame = pack(image)
    assert {i: b for i, b in enumerate(frame) if b} == {5: 0x01, 128 + 7: 0x02}


# -- properties -------------------------------------------------------------------------------

shapes = st.tuples(
    st.integers(0, 127), st.integers(0, 63), st.integers(1, 40), st.integers(1, 24), st.booleans()
)


@settings(max_examples=150, deadline=None)
@given(
    updates=st.lists(st.lists(shapes, min_size=0, max_size=4), min_size=1, max_size=6),
    max_data=st.sampled_from([4, 32, 1024]),
)
def test_successive_images_always_end_in_the_model(
    updates: list[list[tuple[int, int, int, int, bool]]], max_data: int
) -> None:
    bus, model = make_bus()
    oled = SSD1306(bus, clock=bus.clock, max_data=max_data)
    oled.init()
    image = Image.new("1", (128, 64), 0)
    for shapes_now in updates:
        image = image.copy()
        draw = ImageDraw.Draw(image)
        for x, y, w, h, on in shapes_now:
            draw.rectangle((x, y, x + w - 1, y + h - 1), fill=255 if on else 0)
        oled.show(image)
        assert bytes(model.ram) == pack(image)
    assert model.framebuffer().tobytes() == image.tobytes()
    assert model.image().tobytes() == image.tobytes()


@settings(max_examples=80, deadline=None)
@given(
    stream=st.lists(st.integers(0, 255), min_size=1, max_size=60),
    cuts=st.lists(st.integers(1, 59), max_size=8),
)
def test_command_stream_split_anywhere_gives_the_same_state(stream: list[int], cuts: list[int]) -> None:
    whole_bus, whole = make_bus()
    whole_bus.write(OLED, bytes([0x00, *stream]))
    split_bus, split = make_bus()
    edges = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    for start, end in pairwise(edges):
        split_bus.write(OLED, bytes([0x00, *stream[start:end]]))
    assert split.settings == whole.settings
    assert split.pointer == whole.pointer


# -- wisgate oled -----------------------------------------------------------------------------


def test_oled_command_on_the_simulated_board_saves_what_the_panel_shows(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from wisgate.cli import cli

    path = tmp_path / "screen.png"
    result = CliRunner().invoke(
        cli, ["oled", "--sim", "--text", "WisGate", "--text", "12:00", "--contrast", "64", "--png", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert "2 line(s), contrast 64, display on" in result.output
    with Image.open(path) as saved:
        assert saved.convert("1").tobytes() == render_text(["WisGate", "12:00"]).image().tobytes()


def test_oled_command_off_saves_a_dark_panel(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from wisgate.cli import cli

    path = tmp_path / "off.png"
    result = CliRunner().invoke(cli, ["oled", "--sim", "--text", "bye", "--off", "--png", str(path)])
    assert result.exit_code == 0, result.output
    with Image.open(path) as saved:
        assert saved.getbbox() is None


def test_oled_command_on_hardware_saves_the_image_sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    import wisgate.commands._options as options
    from tests.conftest import HardwareLikeTarget
    from wisgate.cli import cli
    from wisgate.sim.board import SimBoard

    board = SimBoard()
    model = board.models["oled"]
    assert isinstance(model, SSD1306Model)
    # a target that cannot show its panel: the command takes the hardware path and saves the image it sent
    monkeypatch.setattr(options, "open_target", lambda spec, **_kw: HardwareLikeTarget(board))
    path = tmp_path / "sent.png"
    result = CliRunner().invoke(cli, ["oled", "--bus", "/dev/i2c-1", "--text", "hello", "--png", str(path)])
    assert result.exit_code == 0, result.output
    with Image.open(path) as saved:
        assert saved.convert("1").tobytes() == render_text(["hello"]).image().tobytes()
    assert model.lit and model.screen() == render_text(["hello"])


def test_oled_command_rejects_contrast_out_of_range() -> None:
    from click.testing import CliRunner

    from wisgate.cli import cli

    result = CliRunner().invoke(cli, ["oled", "--sim", "--contrast", "300"])
    assert result.exit_code == 2 and "0<=x<=255" in result.output
