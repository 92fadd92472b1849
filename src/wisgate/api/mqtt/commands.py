"""Command payloads as they arrive on ``<prefix>/<id>/set/<command>``: checked before anything is applied.

Each parser returns the value or raises :class:`CommandError` with one line saying what was wrong.
"""

from __future__ import annotations

import math

from wisgate.api.mqtt.discovery import OLED_CHARS, OLED_LINES, PRESS
from wisgate.api.mqtt.payloads import OLED_SEPARATOR

#: nothing sensible is longer; larger payloads are refused before decoding
MAX_PAYLOAD = 512


class CommandError(ValueError):
    pass


def command_text(payload: bytes) -> str:
    """A command's payload as text: bounded in size, UTF-8, or a CommandError saying which."""
    if len(payload) > MAX_PAYLOAD:
        raise CommandError(f"payload of {len(payload)} bytes (at most {MAX_PAYLOAD})")
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError("payload is not UTF-8 text") from None


def parse_duty(payload: bytes) -> float:
    """A fan duty in percent, 0-100: ``42`` or ``42.5``."""
    text = command_text(payload).strip()
    try:
        duty = float(text)
    except ValueError:
        raise CommandError(f"fan duty {text[:40]!r} is not a number") from None
    if not math.isfinite(duty):
        raise CommandError(f"fan duty {text[:40]!r} is not a finite number")
    if not 0 <= duty <= 100:
        raise CommandError(f"fan duty {duty:g} % is out of range 0-100")
    return duty


def parse_oled(payload: bytes) -> tuple[str, ...]:
    """The OLED's lines, separated by ``|`` or new lines; empty: give the screen back to the display service."""
    text = command_text(payload).replace("\r\n", "\n")
    if not text.strip():
        return ()
    lines = tuple(line for part in text.split("\n") for line in part.split(OLED_SEPARATOR))
    if len(lines) > OLED_LINES:
        raise CommandError(f"OLED text has {len(lines)} lines (at most {OLED_LINES})")
    for line in lines:
        if len(line) > OLED_CHARS:
            raise CommandError(f"OLED line {line[:30]!r} has {len(line)} characters (at most {OLED_CHARS})")
        if any(not ch.isprintable() for ch in line):
            raise CommandError(f"OLED line {line[:30]!r} has control characters")
    return lines


def parse_press(payload: bytes) -> None:
    """A button press: ``PRESS`` (what Home Assistant sends) or an empty payload."""
    text = command_text(payload).strip()
    if text not in ("", PRESS):
        raise CommandError(f"button payload {text[:40]!r} (expected {PRESS!r})")
