"""Where the daemon keeps its files when the config names none."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def state_dir() -> Path:
    """``$WISGATE_STATE_DIR``, else the directory systemd made for the unit (``$STATE_DIRECTORY``, from
    ``StateDirectory=``), else /var/lib/wisgate for root, else ``$XDG_STATE_HOME/wisgate``
    (``~/.local/state/wisgate``)."""
    base = os.environ.get("WISGATE_STATE_DIR")
    if base:
        return Path(base)
    systemd_made = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if systemd_made:
        return Path(systemd_made)
    if os.geteuid() == 0:
        return Path("/var/lib/wisgate")
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "wisgate"


def runtime_dir() -> Path:
    """Sockets and locks of a running daemon: ``$WISGATE_RUNTIME_DIR``, else ``$XDG_RUNTIME_DIR/wisgate``,
    /run/wisgate for root, or a per-user folder in the temporary directory."""
    if explicit := os.environ.get("WISGATE_RUNTIME_DIR"):
        return Path(explicit)
    if xdg := os.environ.get("XDG_RUNTIME_DIR"):
        return Path(xdg) / "wisgate"
    if os.geteuid() == 0:
        return Path("/run/wisgate")
    return Path(tempfile.gettempdir()) / f"wisgate-{os.geteuid()}"


def sim_board_file() -> Path:
    """Where the simulated board keeps its identity (secure element serial and keys) and RTC time."""
    return state_dir() / "sim-board.json"
