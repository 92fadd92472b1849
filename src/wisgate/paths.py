"""Where the daemon keeps its files when the config names none."""

from __future__ import annotations

import os
from pathlib import Path


def state_dir() -> Path:
    """``$WISGATE_STATE_DIR``, else /var/lib/wisgate for root, else ``$XDG_STATE_HOME/wisgate``
    (``~/.local/state/wisgate``)."""
    base = os.environ.get("WISGATE_STATE_DIR")
    if base:
        return Path(base)
    if os.geteuid() == 0:
        return Path("/var/lib/wisgate")
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "wisgate"
