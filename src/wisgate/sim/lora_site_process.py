"""The daemon's end of the simulated LoRa site: its process started, watched, restarted and stopped.

The site (:mod:`wisgate.sim.lora_site_child`) runs beside the daemon as Concentratord runs beside it on
hardware: the daemon only talks ZeroMQ to it and imports neither the radio simulation nor cryptography. Its log
lines come into the daemon's log prefixed ``lora-site[PID]``; a site that dies is one warning naming how, each
of its modules is reported down (in ``/api/health`` and as ``lora.module_down``), and it is started again after
1 s, then 2, 4... up to a minute while it keeps dying (a site that ran a minute starts the count again). It is
stopped (SIGTERM, then SIGKILL after ``STOP_TIMEOUT_S``) when the LoRa service stops, and stops itself when the
daemon's end of its stdin closes, so it never outlives a daemon that crashed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
from collections.abc import Callable

from wisgate.errors import WisgateError
from wisgate.sim.site_spec import SiteSpec

log = logging.getLogger("wisgate.lora.site")

#: how long a starting site may take to bind its endpoints (its imports, on a busy 2-core board)
READY_TIMEOUT_S = 30.0
#: how long a site is given to stop after SIGTERM before it is killed
STOP_TIMEOUT_S = 5.0
RESTART_FIRST_S = 1.0
RESTART_MAX_S = 60.0
#: a site that ran this long had not been dying: the next restart waits RESTART_FIRST_S again
STABLE_S = 60.0
#: how long the last words of a site that ended (a traceback) may take to reach the log
DRAIN_S = 2.0

LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING, "ERROR": logging.ERROR,
          "CRITICAL": logging.CRITICAL}

#: told that a module is down and why: (board, reason)
ModuleDown = Callable[[int, str], None]


class SiteError(WisgateError):
    """The site's process did not come up."""


def exit_reason(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with code {code}"


async def relay(stream: asyncio.StreamReader, prefix: str) -> None:
    """The site's lines into the daemon's log at their own level; anything else (a traceback) as a warning."""
    while True:
        try:
            line = await stream.readline()
        except ValueError:  # a line beyond the stream's limit: dropped, the next one is read
            continue
        if not line:
            return
        text = line.decode(errors="replace").rstrip()
        if not text:
            continue
        level_name, _, rest = text.partition(" ")
        level = LEVELS.get(level_name)
        if level is None:
            log.warning("%s %s", prefix, text)
        else:
            log.log(level, "%s %s", prefix, rest)


class SiteProcess:
    """The site of ``spec`` in a child process (a :class:`~wisgate.target.ModuleRunner`); ``on_close`` removes
    what the site used (its folder, the board's time file) once it is stopped."""

    def __init__(self, spec: SiteSpec, *, on_close: Callable[[], None] | None = None) -> None:
        self.spec = spec
        self._on_close = on_close
        self._process: asyncio.subprocess.Process | None = None
        self._relays: list[asyncio.Task[None]] = []
        self._started_at = 0.0
        #: the running site's PID (None while it is down) and how many times it was started, for tests and logs
        self.pid: int | None = None
        self.starts = 0

    async def start(self) -> None:
        """Start the site and wait until its endpoints are bound; one that does not come up is a warning and
        :meth:`run` tries again."""
        try:
            await self._spawn()
        except SiteError as exc:
            log.warning("simulated LoRa site: %s; trying again in %.0f s", exc, RESTART_FIRST_S)

    async def _spawn(self) -> None:
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "wisgate.sim.lora_site_child", self.spec.to_json(),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:  # no interpreter to run it, no process left to make
            raise SiteError(f"cannot start {sys.executable}: {exc.strerror or exc}") from None
        self.starts += 1
        prefix = f"lora-site[{process.pid}]"
        assert process.stdout is not None and process.stderr is not None
        self._relays = [asyncio.create_task(relay(process.stderr, prefix), name="lora-site-log")]
        try:
            line = await asyncio.wait_for(process.stdout.readline(), READY_TIMEOUT_S)
        except asyncio.CancelledError:  # the daemon stops while the site starts: it must not stay behind
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            if process.stdin is not None:
                process.stdin.close()
            raise
        except TimeoutError:
            process.kill()
            await process.wait()
            await self._ended(process)
            raise SiteError(f"process {process.pid} did not bind its endpoints within {READY_TIMEOUT_S:.0f} s; "
                            "killed") from None
        if not _is_ready(line):
            if line:  # not the ready line: the site is broken; stop it rather than guess
                process.kill()
            code = await process.wait()
            await self._ended(process)
            raise SiteError(f"process {process.pid} {exit_reason(code)} before its endpoints were bound")
        self._relays.append(asyncio.create_task(relay(process.stdout, prefix), name="lora-site-out"))
        self._process, self.pid, self._started_at = process, process.pid, time.monotonic()
        log.info("simulated LoRa site running: PID %d, %d module(s), endpoints in %s", process.pid,
                 len(self.spec.radios), self.spec.directory)

    async def _ended(self, process: asyncio.subprocess.Process) -> None:
        """After ``process`` exited: its last words (a traceback) logged, its pipes closed (the transport with them)."""
        if process.stdin is not None:
            process.stdin.close()
        relays, self._relays = self._relays, []
        if relays:
            await asyncio.wait(relays, timeout=DRAIN_S)
            for task in relays:
                task.cancel()

    async def run(self, down: ModuleDown) -> None:
        """Restart the site whenever it dies, until cancelled; then stop it (before the cancellation goes on)."""
        delay = RESTART_FIRST_S
        try:
            while True:
                process = self._process
                if process is not None:
                    code = await process.wait()
                    await self._ended(process)  # its last words before the warning
                    self._process = self.pid = None
                    if time.monotonic() - self._started_at >= STABLE_S:
                        delay = RESTART_FIRST_S
                    why = f"the simulated LoRa site's process (PID {process.pid}) {exit_reason(code)}"
                    log.warning("%s; restarting it in %.0f s", why, delay)
                    for radio in self.spec.radios:
                        down(radio.board, why)
                await asyncio.sleep(delay)
                delay = min(2 * delay, RESTART_MAX_S)
                try:
                    await self._spawn()
                except SiteError as exc:
                    log.warning("simulated LoRa site: %s; trying again in %.0f s", exc, delay)
        finally:
            # the supervisor cancels a stopping service again and again: the stop is shielded and waited for,
            # so the daemon never ends with its site still running
            stopping = asyncio.ensure_future(self._stop())
            cancelled = False
            while not stopping.done():
                try:
                    await asyncio.shield(stopping)
                except asyncio.CancelledError:
                    cancelled = True
            if cancelled:
                raise asyncio.CancelledError

    async def _stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                code = await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                log.warning("the simulated LoRa site (PID %d) did not stop within %.0f s: killed", process.pid,
                            STOP_TIMEOUT_S)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
            else:
                if code not in (0, -signal.SIGTERM):
                    log.warning("the simulated LoRa site (PID %d) %s as it stopped", process.pid, exit_reason(code))
        await self._ended(process)
        self._process = self.pid = None

    def close(self) -> None:
        """Kill a site still running (a service that stopped before :meth:`run` could stop it) and clean up."""
        process, self._process, self.pid = self._process, None, None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        for task in self._relays:
            task.cancel()
        if self._on_close is not None:
            self._on_close()


def _is_ready(line: bytes) -> bool:
    try:
        message = json.loads(line)
    except ValueError:
        return False
    return isinstance(message, dict) and message.get("ready") is True
