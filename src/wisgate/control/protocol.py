"""The control socket's messages: one JSON object per line each way; bytes as hex; errors by type name.

A request is ``{"op": ..., ...}``; the answer ``{"ok": value}`` or ``{"error": {"type", "message", "bus",
"address"}}``. An error the daemon raised comes back as the same typed error (a :class:`NoDeviceError`
stays a ``NoDeviceError`` with its address), so drivers behind the remote bus behave as on a local one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wisgate import errors
from wisgate.bus.i2c import Message, Read, Write, check_address
from wisgate.paths import runtime_dir
from wisgate.target import LineInUseError

#: a request or answer longer than this is refused (the longest real one is an OLED frame, about 2 KiB hex)
MAX_LINE = 256 * 1024
#: reading is not a change of anything: no one line names this many messages
MAX_MESSAGES = 64
MAX_READ = 4096

#: the errors that cross the socket as themselves; anything else becomes a WisgateError with its message
ERROR_TYPES: dict[str, type[Exception]] = {
    cls.__name__: cls
    for cls in (
        LineInUseError, errors.NoDeviceError, errors.NackError, errors.BusTimeoutError, errors.BusStuckError,
        errors.DeviceBusyError, errors.BusError, errors.UnsupportedError, errors.ChipTimeoutError,
        errors.CrcError, errors.WrongChipError, errors.ChipError, errors.ConfigError, errors.WisgateError,
        KeyError, ValueError,
    )
}


class ProtocolError(errors.WisgateError):
    """A malformed request or answer on the control socket."""


def socket_path() -> Path:
    """Where the daemon on the simulated board listens."""
    return runtime_dir() / "sim-board.sock"


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"not a JSON line ({exc})") from None
    if not isinstance(value, dict):
        raise ProtocolError("not a JSON object")
    return value


def messages_to_wire(messages: Sequence[Message]) -> list[list[Any]]:
    return [["w", m.address, m.data.hex()] if isinstance(m, Write) else ["r", m.address, m.length]
            for m in messages]


def messages_from_wire(value: object) -> list[Message]:
    if not isinstance(value, list) or not 0 < len(value) <= MAX_MESSAGES:
        raise ProtocolError(f"messages must be a list of 1-{MAX_MESSAGES}")
    messages: list[Message] = []
    for item in value:
        match item:
            case ["w", int() as address, str() as data]:
                try:
                    messages.append(Write(check_address(address), bytes.fromhex(data)))
                except ValueError as exc:
                    raise ProtocolError(f"bad write: {exc}") from None
            case ["r", int() as address, int() as length] if 0 <= length <= MAX_READ:
                try:
                    messages.append(Read(check_address(address), length))
                except ValueError as exc:
                    raise ProtocolError(f"bad read: {exc}") from None
            case _:
                raise ProtocolError(f"not a message: {item!r:.80}")
    return messages


def error_to_wire(exc: BaseException) -> dict[str, Any]:
    name = type(exc).__name__
    # a subclass the client does not know travels as its nearest known ancestor
    for cls in type(exc).__mro__:
        if cls.__name__ in ERROR_TYPES and ERROR_TYPES[cls.__name__] is cls:
            name = cls.__name__
            break
    else:
        name = "WisgateError"
    message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return {"type": name, "message": str(message), "bus": getattr(exc, "bus", None),
            "address": getattr(exc, "address", None)}


def error_from_wire(value: object) -> Exception:
    if not isinstance(value, dict):
        return ProtocolError("an error without a description")
    cls = ERROR_TYPES.get(str(value.get("type")), errors.WisgateError)
    message = str(value.get("message", ""))
    # built without __init__: the message already carries the bus and address the daemon's error named
    exc = cls.__new__(cls, message)
    exc.args = (message,)
    if isinstance(exc, (errors.BusError, errors.ChipError)):
        exc.address = value.get("address") if isinstance(value.get("address"), int) else None
        if isinstance(exc, errors.BusError):
            exc.bus = str(value.get("bus") or "")
        else:
            exc.chip = ""
    return exc
