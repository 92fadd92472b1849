"""Options and output shared by the subcommands."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from wisgate.target import open_target

if TYPE_CHECKING:
    from rich.console import Console

F = TypeVar("F", bound=Callable[..., Any])


@functools.cache
def rich_console() -> Console:
    """The commands' rich console, made at first use: ``wisgate run`` with plain logs (systemd, a pipe)
    never loads rich (a megabyte and a half of the daemon's memory)."""
    from rich.console import Console

    return Console(highlight=False)


class _Console:
    """Stands for :func:`rich_console` until something prints through it."""

    def __getattr__(self, name: str) -> Any:
        return getattr(rich_console(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(rich_console(), name, value)


console = cast("Console", _Console())


def checked_bus(bus_path: str | None) -> str | None:
    """The ``--bus`` value as a bus spec, or a one-line usage error."""
    if bus_path is None:
        return None
    from wisgate.bus.open import bus_spec

    try:
        return bus_spec(bus_path)
    except ValueError as exc:
        raise click.ClickException(f"--bus: {exc}") from None


def bus_options(func: F) -> F:
    """``--sim`` / ``--bus PATH``: the simulated board is the default where /dev/i2c-1 is missing.

    Without either, a ``wisgate run`` on the simulated board is the board (through its control socket);
    ``--sim`` is a private simulated board of the command's own."""

    @click.option("--sim", "use_sim", is_flag=True,
                  help="Use a private simulated board (not a running daemon's).")
    @click.option("--bus", "bus_path", metavar="/dev/i2c-N", help="Use this Linux I2C bus.")
    @click.option("--fresh", is_flag=True,
                  help="Give the simulated board a new identity (secure element serial and keys, RTC time).")
    @functools.wraps(func)
    def wrapper(*args: Any, use_sim: bool, bus_path: str | None, fresh: bool, **kwargs: Any) -> Any:
        from wisgate.paths import sim_board_file

        if use_sim and bus_path:
            raise click.UsageError("give --sim or --bus, not both")
        target = open_target("sim" if use_sim else checked_bus(bus_path), state_file=sim_board_file(), fresh=fresh)
        if target.remote_pid is not None:
            # every command says so, whatever it prints: its answer is the daemon's board, not a board of its own
            click.echo(f"via the running daemon (PID {target.remote_pid}): its simulated board; "
                       "--sim for a private one", err=True)
        try:
            return func(*args, target=target, **kwargs)
        finally:
            target.close()

    return wrapper  # type: ignore[return-value]


