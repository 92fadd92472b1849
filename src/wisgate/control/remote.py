"""A :class:`~wisgate.target.Target` whose board is the running daemon's, reached over its control socket.

The bus is a proxy :class:`~wisgate.bus.i2c.I2CBus` sending each ``transfer()`` to the daemon, which runs
it on its bus worker; drivers work on it unchanged. Lines are proxies too. The clock is the wall clock
shifted to read the daemon's simulated time (its clock follows the wall clock), so times on lines the
daemon records compare with ours; waiting really waits while the daemon's board moves on.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wisgate.bus.gpio import GpioLine
from wisgate.bus.i2c import I2CBus, Message
from wisgate.bus.thermal_zone import CpuTemperature
from wisgate.clock import WallClock
from wisgate.control.protocol import MAX_LINE, ProtocolError, decode, encode, error_from_wire, messages_to_wire
from wisgate.errors import BusError, UnsupportedError
from wisgate.target import ConcentratorSet, Target

if TYPE_CHECKING:
    from wisgate.config import LoraSection

#: how long a command waits for the daemon to answer one request (a busy bus worker answers in ms)
REQUEST_TIMEOUT_S = 10.0
#: how long connecting may take before the daemon counts as not running
CONNECT_TIMEOUT_S = 1.0


class DaemonGoneError(BusError):
    """The daemon closed the control socket or stopped answering."""


class Connection:
    """One blocking request/answer channel; safe to share between threads."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._file = sock.makefile("rb")
        self._lock = threading.Lock()
        self._unanswered = 0
        self.pid = 0

    def call(self, op: str, **fields: Any) -> Any:
        """Send a request and wait for its answer (after those of requests sent without waiting)."""
        with self._lock:
            self._send(op, fields)
            answers = [self._receive() for _ in range(self._unanswered)]
            self._unanswered = 0
        for answer in answers[:-1]:
            _value(answer)  # an error of a request sent earlier surfaces here, first
        return _value(answers[-1])

    def send(self, op: str, **fields: Any) -> None:
        """Send a request without waiting for its answer (line writes keep their pace; the round trip does not
        delay the next one). Its error, if any, is raised by the next :meth:`call`."""
        with self._lock:
            self._send(op, fields)

    def _send(self, op: str, fields: dict[str, Any]) -> None:
        try:
            self._sock.sendall(encode({"op": op, **fields}))
        except OSError as exc:
            raise DaemonGoneError(f"the running daemon (PID {self.pid}) is gone: {exc}") from None
        self._unanswered += 1

    def _receive(self) -> dict[str, Any]:
        try:
            line = self._file.readline(MAX_LINE)
        except (OSError, ValueError) as exc:
            raise DaemonGoneError(f"the running daemon (PID {self.pid}) did not answer: {exc}") from None
        if not line:
            raise DaemonGoneError(f"the running daemon (PID {self.pid}) closed the connection")
        return decode(line)

    def close(self) -> None:
        self._file.close()
        self._sock.close()


def _value(answer: dict[str, Any]) -> Any:
    if "error" in answer:
        raise error_from_wire(answer["error"])
    if "ok" not in answer:
        raise ProtocolError("an answer with neither ok nor error")
    return answer["ok"]


def connect(path: Path) -> Connection | None:
    """A connection to the daemon listening at ``path``; None when none answers there.

    A socket that is not ours (another user's, in a shared temporary directory) is not used.
    """
    try:
        info = path.lstat()
    except OSError:
        return None
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.geteuid():
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(CONNECT_TIMEOUT_S)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None
    sock.settimeout(REQUEST_TIMEOUT_S)
    return Connection(sock)


class RemoteBus(I2CBus):
    def __init__(self, connection: Connection, name: str) -> None:
        self.connection = connection
        self.name = name

    def transfer(self, messages: Sequence[Message]) -> list[bytes]:
        answer = self.connection.call("transfer", messages=messages_to_wire(messages))
        if not isinstance(answer, list):
            raise ProtocolError("a transfer answered without its reads")
        return [bytes.fromhex(data) for data in answer]

    def close(self) -> None:
        self.connection.close()


class RemoteLine(GpioLine):
    def __init__(self, connection: Connection, name: str) -> None:
        self.connection = connection
        self.name = name

    def read(self) -> bool:
        return bool(self.connection.call("line_read", name=self.name))

    def write(self, value: bool) -> None:
        self.connection.send("line_write", name=self.name, value=bool(value))

    def recorded_edges(self) -> list[tuple[float, bool]] | None:
        edges = self.connection.call("line_edges", name=self.name)
        return None if edges is None else [(float(t), bool(level)) for t, level in edges]

    def close(self) -> None:
        self.connection.call("line_release", name=self.name)

    def flush(self) -> None:
        """Wait until the daemon has done every write sent (and raise the first that failed)."""
        self.connection.call("line_read", name=self.name)


class RemoteCpuTemperature:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def read_celsius(self) -> float:
        return float(self.connection.call("cpu_temperature"))


class DaemonClock(WallClock):
    """The wall clock, read on the daemon's scale (its simulated clock follows the wall clock)."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def sleep_until(self, deadline: float) -> None:
        super().sleep_until(deadline - self.offset)


class RemoteTarget(Target):
    def __init__(self, connection: Connection) -> None:
        super().__init__()
        self.connection = connection
        before = time.monotonic()
        hello = connection.call("hello")
        after = time.monotonic()
        self.pid = int(hello["pid"])
        connection.pid = self.pid
        self._description = f"{hello['description']} via the running daemon (PID {self.pid})"
        self.bus = RemoteBus(connection, f"{hello['bus']} via the running daemon (PID {self.pid})")
        # the daemon read its clock about halfway through the round trip
        self.clock = DaemonClock(float(hello["clock"]) - (before + after) / 2)
        self.addresses = {str(k): int(v) for k, v in hello["addresses"].items()}
        self._creates_missing_keys = bool(hello["creates_missing_keys"])

    @classmethod
    def open(cls, path: Path) -> RemoteTarget | None:
        """The daemon's board, or None when no daemon answers at ``path``."""
        connection = connect(path)
        if connection is None:
            return None
        try:
            return cls(connection)
        except (BusError, ProtocolError, KeyError, TypeError, ValueError):
            connection.close()  # something answers, but not a daemon saying hello
            return None

    @property
    def description(self) -> str:
        return self._description

    def _open_line(self, name: str, *, output: bool, initial: bool) -> GpioLine:
        self.connection.call("line", name=name, output=output, initial=initial)
        return RemoteLine(self.connection, name)

    def cpu_temperature(self) -> CpuTemperature:
        return RemoteCpuTemperature(self.connection)

    def power_fail_input(self, *, owner: str) -> GpioLine:
        return self.line("GPIO16", owner=owner)

    def concentrators(self, config: LoraSection) -> ConcentratorSet:
        raise UnsupportedError(f"the LoRa modules belong to the running daemon (PID {self.pid})")

    @property
    def creates_missing_keys(self) -> bool:
        return self._creates_missing_keys

    @property
    def remote_pid(self) -> int | None:
        return self.pid

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """The daemon's bus worker runs only this command's requests until the block ends (at most 2 s)."""
        self.connection.call("hold")
        try:
            yield
        finally:
            self.connection.call("release")

    def save_display(self, path: Path) -> bool:
        return bool(self.connection.call("save_display", path=str(path.resolve())))
