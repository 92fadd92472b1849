"""One ``wisgate run`` per board: a lock file under the runtime directory, holding the owner's PID and API.

A second daemon on the same board would fight the first for the bus, the API port and the traffic
socket, and keep retrying with nothing working; it refuses at start instead, saying which process has
the board. The lock is an ``flock`` on the open file, so the kernel drops it when the owner dies
(kill -9 included): a stale file never blocks a new start.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re

from wisgate.errors import WisgateError
from wisgate.paths import runtime_dir


class BoardInUseError(WisgateError):
    """Another ``wisgate run`` holds the board."""


class RunLock:
    def __init__(self, board: str, *, key: str, api: str | None) -> None:
        """``board`` as the user reads it; ``key`` (the bus spec: sim, /dev/i2c-1) names the lock file."""
        slug = re.sub(r"[^A-Za-z0-9]+", "-", key).strip("-") or "board"
        self.path = runtime_dir() / f"run-{slug}.lock"
        self.board = board
        self.api = api
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise BoardInUseError(f"cannot create the lock file {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 200).decode("utf-8", "replace").strip()
            os.close(fd)
            raise BoardInUseError(
                f"another wisgate run ({owner or 'unknown process'}) is using the {self.board}; "
                f"stop it first (lock {self.path})"
            ) from None
        os.ftruncate(fd, 0)
        api = f", API on {self.api}" if self.api else ", no API"
        os.write(fd, f"PID {os.getpid()}{api}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
