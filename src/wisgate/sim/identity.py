"""The simulated board's identity and what it keeps between runs: a file in the state directory.

A real RAK7391 has one secure element with its own serial number and keys, and a battery-backed RTC
that keeps time while the board is off. The simulated board keeps the same in a JSON file
(``sim-board.json`` in :func:`wisgate.paths.state_dir`): the ATECC608A's serial and the private key of
every key slot (distinct per slot, made from the OS's randomness the first time), the RTC's offset from
the host clock (None when its oscillator is stopped), and counters (how often the board was opened,
its total running time). The file holds private keys, so it is written owner-only.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from wisgate.errors import ConfigError

#: the secure element's private-key slots (the default configuration's slots 0-4)
KEY_SLOTS = range(5)
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
VERSION = 1


def new_serial() -> bytes:
    """A 9-byte serial in Microchip's shape (01 23 .. EE)."""
    return b"\x01\x23" + secrets.token_bytes(6) + b"\xee"


def new_private_key() -> int:
    """A P-256 private scalar (1 .. n-1)."""
    return secrets.randbelow(P256_ORDER - 1) + 1


@dataclass
class SimIdentity:
    serial: bytes
    #: slot -> P-256 private scalar
    keys: dict[int, int]
    #: RTC time minus host time, seconds; None: the oscillator is stopped (time invalid)
    rtc_offset_s: float | None = 0.0
    #: times the board was opened (its power-ups)
    runs: int = 0
    #: total time the board ran, seconds
    uptime_s: float = 0.0
    #: where it is kept (None: nowhere, a board that forgets)
    path: Path | None = field(default=None, compare=False)

    @classmethod
    def new(cls, path: Path | None = None) -> SimIdentity:
        return cls(serial=new_serial(), keys={slot: new_private_key() for slot in KEY_SLOTS}, path=path)

    @classmethod
    def load_or_new(cls, path: Path, *, fresh: bool = False) -> SimIdentity:
        """The identity kept at ``path``; a new one (written at once) if there is none or ``fresh``."""
        if not fresh and path.exists():
            return cls.load(path)
        identity = cls.new(path)
        identity.save()
        return identity

    @classmethod
    def load(cls, path: Path) -> SimIdentity:
        try:
            data = json.loads(path.read_text())
            if data.get("version") != VERSION:
                raise ValueError(f"version {data.get('version')!r}, expected {VERSION}")
            serial = bytes.fromhex(data["serial"])
            keys = {int(slot): int(scalar, 16) for slot, scalar in data["keys"].items()}
            offset = data["rtc_offset_s"]
            identity = cls(serial=serial, keys=keys, rtc_offset_s=None if offset is None else float(offset),
                           runs=int(data["runs"]), uptime_s=float(data["uptime_s"]), path=path)
        except OSError as exc:
            raise ConfigError(f"cannot read the simulated board's state {path}: {exc.strerror or exc}") from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"the simulated board's state {path} is damaged ({exc}); remove it or use --fresh"
            ) from None
        if len(serial) != 9 or serial[:2] != b"\x01\x23" or serial[8] != 0xEE:
            raise ConfigError(f"the simulated board's state {path}: serial {serial.hex()} is not 01 23 .. EE")
        if any(not 0 < k < P256_ORDER for k in keys.values()) or any(not 0 <= s < 16 for s in keys):
            raise ConfigError(f"the simulated board's state {path}: a key or slot number is out of range")
        return identity

    def save(self) -> None:
        """Write atomically (a power cut leaves the old file or the new one), owner-only: it holds keys."""
        if self.path is None:
            return
        data = {
            "version": VERSION,
            "serial": self.serial.hex(),
            "keys": {str(slot): f"{scalar:064x}" for slot, scalar in sorted(self.keys.items())},
            "rtc_offset_s": self.rtc_offset_s,
            "runs": self.runs,
            "uptime_s": round(self.uptime_s, 3),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(data, out, indent=1)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
