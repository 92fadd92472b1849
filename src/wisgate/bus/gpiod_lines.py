"""Linux GPIO lines through libgpiod (the ``gpiod`` package, v2 API).

Line names: ``GPIO16`` is BCM line 16 of the CM4 (gpiochip0); ``1-0027:6`` is line 6 of the gpiochip
whose label is the I2C device ``1-0027`` (a pca953x expander bound by the kernel on RAKPiOS).
Edge callbacks run on one watcher thread per requested input line.
"""

from __future__ import annotations

import errno
import re
import threading
from pathlib import Path
from typing import Any

from wisgate.bus.gpio import EdgeCallback, GpioLine, LineProvider
from wisgate.errors import DeviceBusyError, UnsupportedError, WisgateError

CONSUMER = "wisgate"
#: Inputs that need the SoC pull-up: the power-fail output is pulled up (RAK's OLED service and the
#: gpio-key overlay both set it); left as-is it may float or sit on the SoC's default pull-down and read
#: "supply lost" (the default pull of BCM GPIO9-27 is down: inferred from the BCM2711 peripherals doc).
PULL_UP_LINES = frozenset({"GPIO16"})


def parse_line_name(name: str) -> tuple[str | None, int]:
    """(chip label or None for the CM4's gpiochip0, offset)."""
    bcm = re.fullmatch(r"GPIO(\d{1,2})", name)
    if bcm:
        return None, int(bcm.group(1))
    labelled = re.fullmatch(r"([\w.-]+):(\d{1,3})", name)
    if labelled:
        return labelled.group(1), int(labelled.group(2))
    raise ValueError(f"line name {name!r} is neither GPIO<n> nor <chip label>:<offset>")


def _gpiod() -> Any:
    try:
        import gpiod
    except ImportError as exc:
        raise UnsupportedError("GPIO lines on Linux need the gpiod package: pip install 'wisgate[hardware]'") from exc
    return gpiod


def find_chip(label: str | None, dev: Path = Path("/dev")) -> str:
    gpiod = _gpiod()
    chips = sorted(str(p) for p in dev.glob("gpiochip*") if gpiod.is_gpiochip_device(str(p)))
    if label is None:
        if not chips:
            raise WisgateError("no /dev/gpiochip* device: is this a Raspberry Pi?")
        return f"{dev}/gpiochip0"
    for path in chips:
        with gpiod.Chip(path) as chip:
            if chip.get_info().label == label:
                return path
    raise WisgateError(f"no gpiochip labelled {label!r} (is its kernel driver loaded?)")


class GpiodLine(GpioLine):
    def __init__(self, name: str, *, output: bool, initial: bool) -> None:
        gpiod = _gpiod()
        from gpiod.line import Bias, Direction, Edge, Value

        self.name = name
        self._value_type = Value
        label, self.offset = parse_line_name(name)
        settings = (
            gpiod.LineSettings(direction=Direction.OUTPUT, output_value=Value.ACTIVE if initial else Value.INACTIVE)
            if output
            else gpiod.LineSettings(direction=Direction.INPUT, edge_detection=Edge.BOTH,
                                 bias=Bias.PULL_UP if name in PULL_UP_LINES else Bias.AS_IS)
        )
        try:
            self._request = gpiod.request_lines(find_chip(label), consumer=CONSUMER, config={self.offset: settings})
        except OSError as exc:
            if exc.errno == errno.EBUSY:
                raise DeviceBusyError(
                    f"GPIO line {name} is in use by another consumer (on newer RAKPiOS GPIO16 belongs to "
                    "gpio-keys: read its input events instead)"
                ) from exc
            raise
        self._callbacks: list[EdgeCallback] = []
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def read(self) -> bool:
        return bool(self._request.get_value(self.offset) == self._value_type.ACTIVE)

    def write(self, value: bool) -> None:
        self._request.set_value(self.offset, self._value_type.ACTIVE if value else self._value_type.INACTIVE)

    def on_edge(self, callback: EdgeCallback) -> None:
        self._callbacks.append(callback)
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name=f"gpio-{self.name}", daemon=True)
            self._watcher.start()

    def _watch(self) -> None:
        from gpiod.edge_event import EdgeEvent

        while not self._stop.is_set():
            if not self._request.wait_edge_events(0.2):
                continue
            for event in self._request.read_edge_events():
                rising = event.event_type == EdgeEvent.Type.RISING_EDGE
                for callback in list(self._callbacks):
                    callback(rising, event.timestamp_ns / 1e9)

    def close(self) -> None:
        self._stop.set()
        if self._watcher:
            self._watcher.join(timeout=1)
        self._request.release()


class GpiodLines(LineProvider):
    def line(self, name: str, *, output: bool = False, initial: bool = False) -> GpiodLine:
        return GpiodLine(name, output=output, initial=initial)
