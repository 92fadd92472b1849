"""``wisgate run``: the board daemon (monitor, display...) until Ctrl-C, SIGTERM or SIGHUP."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from wisgate.commands._options import rich_console

if TYPE_CHECKING:
    from wisgate.config import Config


@click.command("run")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="TOML configuration file.")
@click.option("--sim", "use_sim", is_flag=True, help="Use the simulated board (overrides the config).")
@click.option("--bus", "bus_path", metavar="/dev/i2c-N", help="Use this Linux I2C bus (overrides the config).")
@click.option("--duration", type=float, help="Stop after this many seconds (default: run until stopped).")
@click.option("--plain", is_flag=True, help="Plain log lines, no live view (the default when not in a terminal).")
@click.option("--fresh", is_flag=True,
              help="Give the simulated board a new identity (secure element serial and keys, RTC time).")
def command(config_path: Path | None, use_sim: bool, bus_path: str | None, duration: float | None,
            plain: bool, fresh: bool) -> None:
    """Run the board daemon on the simulated board or the real one.

    In a terminal it shows a live view of the board, the fan and supply, the LoRa counters and the latest
    events; under systemd, piped or with --plain it writes plain log lines."""
    from wisgate.bus.open import default_bus_spec
    from wisgate.commands._options import checked_bus
    from wisgate.config import load_config
    from wisgate.runlock import RunLock

    # FastAPI asks of every response model whether it is a pydantic.v1 model by importing pydantic.v1 (1.4 MB
    # of the daemon's memory); none is, and nothing the daemon runs uses v1: an import refused here answers "no"
    sys.modules.setdefault("pydantic.v1", None)  # type: ignore[arg-type]
    config = load_config(config_path)
    if use_sim and bus_path:
        raise click.UsageError("give --sim or --bus, not both")
    spec = "sim" if use_sim else checked_bus(bus_path) or (None if config.board.bus == "auto" else config.board.bus)
    board = spec or default_bus_spec()
    api = f"{config.api.host}:{config.api.port}" if config.api.enabled else None
    lock = RunLock("simulated board" if board == "sim" else f"board on {board}", key=board, api=api)
    lock.acquire()  # before the preflight: "PID 123 has the board" says more than "port 8391 is in use"
    try:
        _run(config, config_path, spec, duration, plain, fresh)
    finally:
        lock.release()


#: a stop that takes longer than this names what it still waits for (systemd's TimeoutStopSec is longer)
SLOW_STOP_S = 10.0


async def report_a_slow_stop(stop: asyncio.Event, supervising: asyncio.Task[None]) -> None:
    """Log each task still running ``SLOW_STOP_S`` after a stop was asked for, with where it waits, so a
    stop that hangs says why before systemd or the user kills it."""
    import logging

    await stop.wait()
    await asyncio.sleep(SLOW_STOP_S)
    if supervising.done():
        return
    current = asyncio.current_task()
    for task in asyncio.all_tasks():
        if task is current or task.done():
            continue
        frames = task.get_stack(limit=1)
        where = f"{frames[0].f_code.co_filename}:{frames[0].f_lineno}" if frames else "(not started)"
        logging.getLogger("wisgate").warning("still stopping after %g s: task %s waits at %s", SLOW_STOP_S,
                                             task.get_name(), where)


def _say(text: str, *, soft_wrap: bool = False) -> None:
    """A line as rich prints it where there is no terminal (these lines carry no markup)."""
    click.echo(text)


def _run(config: Config, config_path: Path | None, spec: str | None, duration: float | None, plain: bool,
         fresh: bool) -> None:
    from wisgate.control.server import serve_control
    from wisgate.paths import sim_board_file
    from wisgate.preflight import check_config
    from wisgate.services.daemon import build_supervisor
    from wisgate.services.history import History, default_history_path
    from wisgate.services.logsetup import plain_logging, wants_live_view
    from wisgate.services.notify import Notifier, report_to_systemd, stop_requester, watchdog_interval_s
    from wisgate.target import open_target

    check_config(config, source=str(config_path or "default configuration"))
    plain_logging(config.log_level)
    live = wants_live_view(sys.stdout, plain=plain)
    # plain output needs no rich: a daemon under systemd or in a pipe never loads it
    say = rich_console().print if live else _say
    target = open_target(spec, realtime=True, addresses=config.board.addresses, state_file=sim_board_file(),
                         fresh=fresh, via_daemon=False)
    target.apply_scenario(config.sim)
    say(f"wisgate running on the {target.description}; Ctrl-C stops it")
    history = None
    if config.history.enabled:
        history_path = config.history.path or default_history_path()
        history = History.open_or_none(history_path)
        if history is not None:
            say(f"history (readings and events): {history_path}", soft_wrap=True)
    picture = config.display.png or target.display_path()
    if config.display.enabled and picture is not None:
        say(f"the OLED is drawn to {picture.resolve()}", soft_wrap=True)
    if config.api.enabled:
        host = f"[{config.api.host}]" if ":" in config.api.host else config.api.host
        say(f"dashboard: http://{host}:{config.api.port}/ (API docs /docs, metrics /metrics)",
                      soft_wrap=True)
    supervisor = build_supervisor(target, config, history)
    notifier = Notifier()

    async def main() -> None:
        stop = asyncio.Event()
        request_stop = stop_requester(notifier, stop)
        loop = asyncio.get_running_loop()
        # SIGHUP (the terminal closed, or a reload asked for) stops cleanly too: reloading is not supported
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, request_stop)
        if duration is not None:
            loop.call_later(duration, request_stop)
        supervising = asyncio.create_task(supervisor.run(stop), name="supervisor")
        reporting = asyncio.create_task(
            report_to_systemd(notifier, supervisor, supervising, stop, watchdog_s=watchdog_interval_s()),
            name="systemd-notify",
        )
        helpers = [reporting, asyncio.create_task(serve_control(target, spec), name="control-socket"),
                   asyncio.create_task(report_a_slow_stop(stop, supervising), name="slow-stop-report")]
        if live:
            from wisgate.services.liveview import show_live

            view = show_live(supervisor.state, rich_console(), title=target.description, stop=stop)
            helpers.append(asyncio.create_task(view, name="live-view"))
        try:
            await supervising
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    try:
        asyncio.run(main())
    finally:
        notifier.close()
        target.close()
    say("wisgate stopped")
