"""Linux input events: the struct input_event parser, gpio-keys discovery, the key as a line (FIFO, file)."""

from __future__ import annotations

import os
import struct
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wisgate.bus.input_events import (
    EV_KEY,
    EV_SYN,
    KEY_PROG1,
    EventParser,
    InputDeviceError,
    InputEvent,
    KeyLine,
    event_struct,
    find_key_device,
    parse_bitmap,
    parse_events,
    parse_proc_devices,
)


def raw_event(sec: int, usec: int, kind: int, code: int, value: int, *, word: int = 8) -> bytes:
    """Built field by field as the kernel lays it out (little-endian, as on the CM4 and x86)."""
    return (
        sec.to_bytes(word, "little", signed=True)
        + usec.to_bytes(word, "little", signed=True)
        + kind.to_bytes(2, "little")
        + code.to_bytes(2, "little")
        + value.to_bytes(4, "little", signed=True)
    )


def test_a_64_bit_event_is_24_bytes_timeval_type_code_value() -> None:
    data = raw_event(1_764_000_000, 250_000, EV_KEY, KEY_PROG1, 1)
    assert len(data) == 24 == event_struct(8).size
    assert parse_events(data, word_bytes=8) == [InputEvent(1_764_000_000.25, EV_KEY, 148, 1)]


def test_a_32_bit_event_is_16_bytes() -> None:
    data = raw_event(12, 500_000, EV_KEY, KEY_PROG1, 0, word=4) + raw_event(12, 500_001, EV_SYN, 0, 0, word=4)
    assert event_struct(4).size == 16
    events = parse_events(data, word_bytes=4)
    assert [(e.type, e.code, e.value) for e in events] == [(EV_KEY, 148, 0), (EV_SYN, 0, 0)]
    assert events[0].time == pytest.approx(12.5)


def test_trailing_partial_event_is_an_error() -> None:
    with pytest.raises(ValueError, match="25 bytes is not a whole number of 24-byte"):
        parse_events(raw_event(1, 0, EV_KEY, 148, 1) + b"\0", word_bytes=8)
    with pytest.raises(ValueError, match="4 or 8"):
        event_struct(2)


events_strategy = st.lists(
    st.tuples(st.integers(0, 2**40), st.integers(0, 999_999), st.integers(0, 0x1F), st.integers(0, 0x2FF),
              st.integers(-(2**31), 2**31 - 1)),
    max_size=20,
)


@given(events_strategy, st.lists(st.integers(0, 500), max_size=10))
def test_parser_reassembles_events_split_anywhere(
    fields: list[tuple[int, int, int, int, int]], cuts: list[int]
) -> None:
    data = b"".join(raw_event(*f) for f in fields)
    parser = EventParser(8)
    got: list[InputEvent] = []
    previous = 0
    for cut in [*sorted({min(c, len(data)) for c in cuts}), len(data)]:
        got += parser.feed(data[previous:cut])
        previous = cut
    assert [(e.type, e.code, e.value) for e in got] == [f[2:] for f in fields]
    assert [e.time for e in got] == [sec + usec / 1e6 for sec, usec, *_ in fields]
    assert parser.pending == 0


PROC = """\
I: Bus=0019 Vendor=0001 Product=0001 Version=0100
N: Name="vc4-hdmi"
P: Phys=vc4-hdmi/input0
S: Sysfs=/devices/platform/soc/fef00700.hdmi/rc/rc0/input0
U: Uniq=
H: Handlers=kbd event0
B: PROP=20
B: EV=100017
B: KEY=ffffffff 0 0 0

I: Bus=0019 Vendor=0001 Product=0001 Version=0100
N: Name="soc:gpio_key@10"
P: Phys=gpio-keys/input0
S: Sysfs=/devices/platform/soc/soc:gpio_key@10/input/input1
U: Uniq=
H: Handlers=kbd event1
B: PROP=0
B: EV=3
B: KEY=100000 0 0
"""


def test_bitmap_words_are_most_significant_first() -> None:
    assert parse_bitmap("100000 0 0", word_bits=64) == {148}
    assert parse_bitmap("100000 0 0 0 0", word_bits=32) == {148}
    assert parse_bitmap("3", word_bits=64) == {0, 1}


def test_proc_devices_finds_the_gpio_keys_node_reporting_key_prog1(tmp_path: Path) -> None:
    devices = parse_proc_devices(PROC, word_bits=64)
    assert [d.event_node for d in devices] == ["event0", "event1"]
    assert KEY_PROG1 in devices[1].keys and KEY_PROG1 not in devices[0].keys
    proc = tmp_path / "devices"
    proc.write_text(PROC)
    assert find_key_device(proc=proc, by_path=tmp_path / "none", dev=Path("/dev/input"), word_bits=64) == Path(
        "/dev/input/event1"
    )


def test_by_path_link_is_the_fallback_and_nothing_is_a_clear_error(tmp_path: Path) -> None:
    by_path = tmp_path / "by-path"
    by_path.mkdir()
    (by_path / "platform-soc:gpio_key@10-event").touch()
    (by_path / "platform-fe980000.usb-usb-0:1:1.0-event-kbd").touch()
    missing = tmp_path / "no-proc"
    assert find_key_device(proc=missing, by_path=by_path).name == "platform-soc:gpio_key@10-event"
    with pytest.raises(InputDeviceError, match=r"keycode=148"):
        find_key_device(proc=missing, by_path=tmp_path / "empty")


def collect(line: KeyLine) -> tuple[list[tuple[bool, float]], threading.Event]:
    seen: list[tuple[bool, float]] = []
    two = threading.Event()

    def on_edge(level: bool, t: float) -> None:
        seen.append((level, t))
        if len(seen) == 2:
            two.set()

    line.on_edge(on_edge)
    return seen, two


def test_key_line_on_a_fifo_reports_the_electrical_level(tmp_path: Path) -> None:
    fifo = tmp_path / "event-fifo"
    os.mkfifo(fifo)
    line = KeyLine(fifo)
    try:
        assert line.read() is True  # no evdev state to ask: not pressed = supply present
        seen, two = collect(line)
        press = raw_event(100, 10, EV_KEY, KEY_PROG1, 1, word=struct.calcsize("l"))
        with open(fifo, "wb", buffering=0) as writer:
            writer.write(press[:10])  # a pipe may hand over half an event
            writer.write(press[10:] + raw_event(100, 20, EV_SYN, 0, 0, word=struct.calcsize("l")))
            writer.write(raw_event(100, 30, EV_KEY, KEY_PROG1, 2, word=struct.calcsize("l")))  # autorepeat
            writer.write(raw_event(101, 500_000, EV_KEY, KEY_PROG1, 0, word=struct.calcsize("l")))
            assert two.wait(3)
        assert [level for level, _ in seen] == [False, True]
        assert [t for _, t in seen] == pytest.approx([100.00001, 101.5])
        assert line.read() is True
    finally:
        line.close()


def test_key_line_on_a_recorded_file_ignores_other_keys(tmp_path: Path) -> None:
    word = struct.calcsize("l")
    recording = tmp_path / "events"
    recording.write_bytes(
        raw_event(5, 0, EV_KEY, 30, 1, word=word)  # KEY_A: someone else's key
        + raw_event(6, 0, EV_KEY, KEY_PROG1, 1, word=word)
        + raw_event(9, 250_000, EV_KEY, KEY_PROG1, 0, word=word)
    )
    line = KeyLine(recording)
    try:
        seen, two = collect(line)
        assert two.wait(3)
        assert seen == [(False, 6.0), (True, 9.25)]
    finally:
        line.close()


def test_unreadable_device_names_it(tmp_path: Path) -> None:
    with pytest.raises(InputDeviceError, match=r"cannot open input device .*missing"):
        KeyLine(tmp_path / "missing")
