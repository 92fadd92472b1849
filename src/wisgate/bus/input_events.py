"""Linux input events (evdev): the power-fail input where the kernel's gpio-keys owns GPIO16.

Newer RAKPiOS (its rak-board-detect script) adds
``dtoverlay=gpio-key,gpio=16,active_low=1,gpio_pull=up,label=power-fault,keycode=148``, so the
power-fail line is a key: KEY_PROG1 (148) pressed = line low = supply gone. Several readers can
share an input device, while requesting GPIO16 through libgpiod fails as busy there.

Kernel ABI (include/uapi/linux/input.h): ``struct input_event`` is a ``struct timeval`` (two C
longs, seconds and microseconds) then ``__u16 type``, ``__u16 code``, ``__s32 value``: 24 bytes for a
64-bit process, 16 for a 32-bit one (the kernel writes the reader's layout).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import select
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from wisgate.bus.gpio import EdgeCallback, GpioLine
from wisgate.errors import WisgateError

log = logging.getLogger("wisgate.input")

EV_SYN = 0x00
EV_KEY = 0x01
KEY_PROG1 = 148
KEY_MAX = 0x2FF
#: ``value`` of an EV_KEY event
RELEASED, PRESSED, REPEATED = 0, 1, 2

PROC_DEVICES = Path("/proc/bus/input/devices")
BY_PATH = Path("/dev/input/by-path")

# ioctl numbers: _IOC(dir, 'E', nr, size) from include/uapi/asm-generic/ioctl.h
_IOC_WRITE, _IOC_READ = 1, 2


def _ioc(direction: int, nr: int, size: int) -> int:
    return direction << 30 | size << 16 | ord("E") << 8 | nr


#: EVIOCGKEY(len): the device's current key bitmap
EVIOCGKEY = _ioc(_IOC_READ, 0x18, (KEY_MAX + 1) // 8)
#: EVIOCSCLOCKID: stamp events with CLOCK_MONOTONIC, the clock the services compare against
EVIOCSCLOCKID = _ioc(_IOC_WRITE, 0xA0, 4)


class InputDeviceError(WisgateError, OSError):
    """No input device answers for the key, or it cannot be read; the message says which."""


@dataclass(frozen=True)
class InputEvent:
    #: the event's timestamp in seconds (timeval seconds + microseconds)
    time: float
    type: int
    code: int
    value: int


def event_struct(word_bytes: int = struct.calcsize("l")) -> struct.Struct:
    """The layout of ``struct input_event`` for a process whose C long is ``word_bytes`` wide."""
    if word_bytes == 8:
        return struct.Struct("=qqHHi")
    if word_bytes == 4:
        return struct.Struct("=iiHHi")
    raise ValueError(f"a C long is 4 or 8 bytes, not {word_bytes}")


class EventParser:
    """Bytes in, events out; keeps a partial event until the rest arrives (pipes split anywhere)."""

    def __init__(self, word_bytes: int = struct.calcsize("l")) -> None:
        self.layout = event_struct(word_bytes)
        self._pending = b""

    def feed(self, data: bytes) -> list[InputEvent]:
        data = self._pending + data
        size = self.layout.size
        whole = len(data) - len(data) % size
        self._pending = data[whole:]
        return [
            InputEvent(sec + usec / 1e6, kind, code, value)
            for sec, usec, kind, code, value in self.layout.iter_unpack(data[:whole])
        ]

    @property
    def pending(self) -> int:
        """Bytes of an incomplete event held back."""
        return len(self._pending)


def parse_events(data: bytes, *, word_bytes: int = struct.calcsize("l")) -> list[InputEvent]:
    """Whole events in ``data``; a trailing partial event is an error here (use :class:`EventParser`)."""
    parser = EventParser(word_bytes)
    events = parser.feed(data)
    if parser.pending:
        raise ValueError(f"{len(data)} bytes is not a whole number of {parser.layout.size}-byte input events")
    return events


# -- finding the device -------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputDeviceInfo:
    name: str
    phys: str
    sysfs: str
    handlers: tuple[str, ...]
    keys: frozenset[int]

    @property
    def event_node(self) -> str | None:
        return next((h for h in self.handlers if re.fullmatch(r"event\d+", h)), None)


def kernel_long_bits() -> int:
    """Width of the kernel's ``long``: /proc prints bitmaps in kernel words, whatever the reader is."""
    return 64 if os.uname().machine in ("aarch64", "arm64", "x86_64") else 32


def parse_bitmap(text: str, *, word_bits: int = 64) -> frozenset[int]:
    """A /proc/bus/input/devices bitmap (hex words, most significant first) as the set bit numbers."""
    bits: set[int] = set()
    for index, word in enumerate(reversed(text.split())):
        value = int(word, 16)
        bits.update(index * word_bits + n for n in range(word_bits) if value >> n & 1)
    return frozenset(bits)


def parse_proc_devices(text: str, *, word_bits: int = 64) -> list[InputDeviceInfo]:
    devices = []
    for block in re.split(r"\n\s*\n", text.strip()):
        fields: dict[str, str] = {}
        keys: frozenset[int] = frozenset()
        for line in block.splitlines():
            match = re.match(r"([A-Z]): (\w+)=(.*)", line)
            if not match:
                continue
            kind, key, value = match.groups()
            if kind == "B" and key == "KEY":
                keys = parse_bitmap(value, word_bits=word_bits)
            elif kind != "B":
                fields[key] = value.strip().strip('"')
        if fields:
            devices.append(InputDeviceInfo(
                name=fields.get("Name", ""), phys=fields.get("Phys", ""), sysfs=fields.get("Sysfs", ""),
                handlers=tuple(fields.get("Handlers", "").split()), keys=keys,
            ))
    return devices


def find_key_device(
    code: int = KEY_PROG1,
    *,
    proc: Path = PROC_DEVICES,
    by_path: Path = BY_PATH,
    dev: Path = Path("/dev/input"),
    word_bits: int | None = None,
) -> Path:
    """The event node of the gpio-keys device that reports key ``code``.

    /proc/bus/input/devices first (a gpio-keys device names ``gpio-keys/input0`` as its Phys); then
    the udev links in /dev/input/by-path (``platform-...gpio_key...-event``).
    """
    with contextlib.suppress(OSError):
        devices = parse_proc_devices(proc.read_text(), word_bits=word_bits or kernel_long_bits())
        candidates = [d for d in devices if code in d.keys and d.event_node]
        candidates.sort(key=lambda d: not d.phys.startswith("gpio-keys"))
        if candidates:
            node = candidates[0].event_node
            assert node is not None
            return dev / node
    with contextlib.suppress(OSError):
        names = (p for p in by_path.iterdir() if p.name.endswith("event"))
        links = sorted(p for p in names if "gpio" in p.name and "key" in p.name)
        if links:
            return links[0]
    raise InputDeviceError(
        f"no input device reports key {code} (checked {proc} and {by_path}): is "
        "'dtoverlay=gpio-key,gpio=16,active_low=1,gpio_pull=up,label=power-fault,keycode=148' in config.txt?"
    )


# -- the key as a line --------------------------------------------------------------------------------


def key_pressed(fd: int, code: int) -> bool | None:
    """The key's current state from the device (EVIOCGKEY), or None where the file is no evdev node."""
    bitmap = bytearray((KEY_MAX + 1) // 8)
    try:
        fcntl.ioctl(fd, EVIOCGKEY, bitmap)
    except OSError:
        return None
    return bool(bitmap[code // 8] >> (code % 8) & 1)


class KeyLine(GpioLine):
    """A gpio-keys key seen as the GPIO line behind it.

    ``active_low``: pressed = the line low (the overlay's ``active_low=1``), so the level this line
    reports is the electrical one, as a libgpiod line would report it. Edges come from a watcher
    thread, stamped with the event's own time (CLOCK_MONOTONIC where the device accepts it).
    """

    def __init__(self, path: Path, code: int = KEY_PROG1, *, active_low: bool = True, name: str = "GPIO16") -> None:
        self.name = name
        self.path = path
        self.code = code
        self.active_low = active_low
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            hint = " (add the user to the 'input' group)" if exc.errno == errno.EACCES else ""
            raise InputDeviceError(f"cannot open input device {path} for {name}: {exc.strerror}{hint}") from exc
        with contextlib.suppress(OSError):
            fcntl.ioctl(self._fd, EVIOCSCLOCKID, struct.pack("i", time.CLOCK_MONOTONIC))
        pressed = key_pressed(self._fd, code)
        self._level = self._level_for(bool(pressed))
        self._parser = EventParser()
        self._callbacks: list[EdgeCallback] = []
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def _level_for(self, pressed: bool) -> bool:
        return pressed != self.active_low

    def read(self) -> bool:
        return self._level

    def on_edge(self, callback: EdgeCallback) -> None:
        self._callbacks.append(callback)
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name=f"input-{self.name}", daemon=True)
            self._watcher.start()

    def _events(self) -> Iterator[InputEvent]:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.2)
            if not ready:
                continue
            try:
                data = os.read(self._fd, 64 * self._parser.layout.size)
            except BlockingIOError:
                continue
            except OSError as exc:  # ENODEV: the device went away (driver unbound)
                log.error("input device %s for %s stopped: %s; no more edges", self.path, self.name, exc.strerror)
                return
            if not data:  # a FIFO whose writer went away; a device never ends
                time.sleep(0.05)
                continue
            yield from self._parser.feed(data)

    def _watch(self) -> None:
        for event in self._events():
            if event.type != EV_KEY or event.code != self.code or event.value == REPEATED:
                continue
            level = self._level_for(event.value == PRESSED)
            if level == self._level:
                continue
            self._level = level
            for callback in list(self._callbacks):
                callback(level, event.time)

    def close(self) -> None:
        self._stop.set()
        if self._watcher:
            self._watcher.join(timeout=1)
        os.close(self._fd)
