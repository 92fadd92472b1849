"""Telling systemd how the daemon is doing: the ``sd_notify`` datagram protocol, written out.

systemd passes a unix datagram socket in ``$NOTIFY_SOCKET`` (a path, or ``@name`` in the abstract
namespace); each datagram is newline-separated ``KEY=value`` lines (``READY=1``, ``WATCHDOG=1``,
``STOPPING=1``, ``STATUS=...``), see sd_notify(3). ``$WATCHDOG_USEC`` is the watchdog interval when the
unit sets ``WatchdogSec=``, and ``$WATCHDOG_PID``, when set, names the process it is meant for.

Twenty lines of stdlib instead of a dependency: the protocol is one ``sendto``, and the PyPI wrappers
(``sdnotify``, last released 2017; ``systemd-python``, which needs libsystemd headers to build) add
nothing we need. Outside systemd every call is a no-op, so the daemon calls it unconditionally.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from wisgate.services.readings import format_value

if TYPE_CHECKING:
    from wisgate.aio import BusWorker
    from wisgate.services.state import BoardState
    from wisgate.services.supervisor import Supervisor

log = logging.getLogger("wisgate.notify")


def socket_address(value: str) -> str | bytes | None:
    """The address to send to: a filesystem path, or the abstract name for ``@name``; None for
    anything that is not a unix socket (``vsock:...``, empty)."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None


def watchdog_interval_s(environ: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """The watchdog interval systemd expects pings within, or None when there is no watchdog for us."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    target_pid = env.get("WATCHDOG_PID", "")
    if target_pid and target_pid != str(os.getpid() if pid is None else pid):
        return None  # the watchdog is meant for another process (we were started by the main one)
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1_000_000 if value > 0 else None


class Notifier:
    """Sends state changes to the service manager; does nothing when not started by one."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.where = env.get("NOTIFY_SOCKET", "")
        self.address = socket_address(self.where)
        self._socket: socket.socket | None = None
        self._warned = False
        if self.address is not None:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def send(self, **fields: str) -> bool:
        """One datagram with these ``KEY=value`` lines (``send(READY="1", STATUS="running")``).

        True if it was delivered. A failure is logged once and never raised: the daemon keeps running
        (without its watchdog pings systemd will restart it, which is the right outcome).
        """
        if self._socket is None or self.address is None:
            return False
        message = "\n".join(f"{key}={value.replace(chr(10), ' ')}" for key, value in fields.items())
        try:
            self._socket.sendto(message.encode(), self.address)
        except OSError as exc:
            if not self._warned:
                log.warning("cannot notify systemd at %s: %s", self.where, exc)
                self._warned = True
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.send(READY="1", STATUS=status, MAINPID=str(os.getpid()))

    def status(self, status: str) -> bool:
        return self.send(STATUS=status)

    def watchdog(self) -> bool:
        return self.send(WATCHDOG="1")

    def stopping(self, status: str = "stopping") -> bool:
        return self.send(STOPPING="1", STATUS=status)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


#: how often the status line is refreshed when there is no watchdog to pace it
STATUS_PERIOD_S = 5.0


def status_line(state: BoardState) -> str:
    """``8/8 services running; CPU 47.1 °C; fan 30 %; supply ok; LoRa 120 uplinks``: what
    ``systemctl status wisgate`` shows next to the unit."""
    services = list(state.services.values())
    failed = sorted(h.name for h in services if h.state == "failed")
    running = sum(h.state in ("running", "finished") for h in services)
    parts = [f"{running}/{len(services)} services running" + (f" ({', '.join(failed)} failed)" if failed else "")]
    cpu = state.reading("cpu.temperature")
    if cpu is not None:
        parts.append(f"CPU {format_value(cpu)}")
    if state.fan is not None:
        parts.append(f"fan {state.fan.duty_percent:.0f} %" + (f" ({state.fan.fault})" if state.fan.fault else ""))
    if state.power is not None:
        parts.append(f"supply {state.power.supply}")
    if state.lora.gateway is not None:
        parts.append(f"LoRa {state.lora.gateway.stats.uplinks} uplinks")
    return "; ".join(parts)


async def answers(bus: BusWorker, timeout_s: float) -> bool:
    """Whether the bus worker runs a no-op within ``timeout_s`` (a hung I2C transfer holds it)."""
    try:
        async with asyncio.timeout(timeout_s):
            await bus.run(lambda: None)
    except TimeoutError:
        return False
    return True


async def report_to_systemd(notifier: Notifier, supervisor: Supervisor, supervising: asyncio.Task[None],
                            stop: asyncio.Event, *, watchdog_s: float | None) -> None:
    """READY=1 once every service has started, then WATCHDOG=1 every half interval while the daemon is
    healthy and STATUS= whenever it changes (looked at on every event); returns when ``stop`` is set
    (whoever sets it sends STOPPING=1 first, see :func:`stop_requester`).

    Healthy means this task gets its turn on the event loop (a blocked loop sends nothing), the
    supervisor is still running, and the bus worker answers within the half interval. Anything else
    withholds the ping and systemd restarts the daemon (``Restart=on-failure``).
    """
    state = supervisor.state
    with state.events.subscribe(maxsize=100) as events:
        while any(h.state == "starting" for h in state.services.values()) and not stop.is_set():
            await asyncio.sleep(0.01)
        if stop.is_set():
            return
        shown = status_line(state)
        notifier.ready(shown)
        period = watchdog_s / 2 if watchdog_s else STATUS_PERIOD_S
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while not stop.is_set():
            if loop.time() >= next_tick:
                next_tick = loop.time() + period
                if watchdog_s and not supervising.done() and await answers(supervisor.context.bus, period):
                    notifier.watchdog()
            await events.get(timeout=max(0.0, next_tick - loop.time()))
            status = status_line(state)
            if status != shown and not stop.is_set():
                notifier.status(status)
                shown = status


def stop_requester(notifier: Notifier, stop: asyncio.Event) -> Callable[[], None]:
    """What a signal (or ``--duration``) calls: STOPPING=1 at once, before the services wind down."""

    def request() -> None:
        if not stop.is_set():
            notifier.stopping("stopping: services are flushing their stores")
        stop.set()

    return request
