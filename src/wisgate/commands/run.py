"""``wisgate run``: the board daemon (monitor, display...) until Ctrl-C, SIGTERM or SIGHUP."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import click

from wisgate.commands._options import console


@click.command("run")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="TOML configuration file.")
@click.option("--sim", "use_sim", is_flag=True, help="Use the simulated board (overrides the config).")
@click.option("--bus", "bus_path", metavar="/dev/i2c-N", help="Use this Linux I2C bus (overrides the config).")
@click.option("--duration", type=float, help="Stop after this many seconds (default: run until stopped).")
def command(config_path: Path | None, use_sim: bool, bus_path: str | None, duration: float | None) -> None:
    """Run the board daemon on the simulated board or the real one."""
    from wisgate.commands._options import checked_bus
    from wisgate.config import load_config
    from wisgate.preflight import check_config
    from wisgate.services.daemon import build_supervisor
    from wisgate.services.history import History, default_history_path
    from wisgate.services.notify import Notifier, report_to_systemd, stop_requester, watchdog_interval_s
    from wisgate.target import open_target

    config = load_config(config_path)
    check_config(config, source=str(config_path or "default configuration"))
    logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if use_sim and bus_path:
        raise click.UsageError("give --sim or --bus, not both")
    spec = "sim" if use_sim else checked_bus(bus_path) or (None if config.board.bus == "auto" else config.board.bus)
    target = open_target(spec, realtime=True, addresses=config.board.addresses)
    target.apply_scenario(config.sim)
    console.print(f"wisgate running on the {target.description}; Ctrl-C stops it")
    history = None
    if config.history.enabled:
        history_path = config.history.path or default_history_path()
        history = History.open_or_none(history_path)
        if history is not None:
            console.print(f"history (readings and events): {history_path}", soft_wrap=True)
    picture = config.display.png or target.display_path()
    if config.display.enabled and picture is not None:
        console.print(f"the OLED is drawn to {picture.resolve()}", soft_wrap=True)
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
        try:
            await supervising
        finally:
            reporting.cancel()
            await asyncio.gather(reporting, return_exceptions=True)

    try:
        asyncio.run(main())
    finally:
        notifier.close()
        target.close()
    console.print("wisgate stopped")
