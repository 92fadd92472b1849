"""``wisgate.service`` as shipped, made into the unit for one installation (its ExecStart, system or user).

The shipped file is the single source: the repository copy, the package data and what
``wisgate install-service`` writes differ only in ExecStart (and, for a user unit, the hardening that
only the system manager can apply, and the install target).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib.resources import files

UNIT_NAME = "wisgate.service"

#: the block of sandboxing settings, from its comment to the blank line before [Install]
_HARDENING = re.compile(r"^# Hardening\..*?\n\n", re.MULTILINE | re.DOTALL)


def shipped_unit() -> str:
    return files("wisgate.systemd").joinpath(UNIT_NAME).read_text(encoding="utf-8")


def quote_argument(argument: str) -> str:
    """One ExecStart argument as systemd parses it (systemd.service(5) "Command lines"; no shell):
    ``%`` specifiers and ``$`` variables escaped, quoted when it holds spaces or quotes."""
    escaped = argument.replace("%", "%%").replace("$", "$$")
    if not escaped or re.search(r"[\s\"'\\;]", escaped):
        escaped = '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return escaped


def render_unit(argv: Sequence[str], *, user: bool = False) -> str:
    """The shipped unit running ``argv``; a user unit drops the system-only hardening."""
    if not argv or not argv[0].startswith("/"):
        raise ValueError("ExecStart needs an absolute program path")
    unit = shipped_unit()
    exec_start = "ExecStart=" + " ".join(quote_argument(a) for a in argv)
    unit, replaced = re.subn(r"^ExecStart=.*$", lambda _: exec_start, unit, count=1, flags=re.MULTILINE)
    if replaced != 1:
        raise ValueError(f"the shipped {UNIT_NAME} has no ExecStart line")
    if user:
        # a user manager cannot restrict devices, capabilities or system calls of its own user's
        # processes; the devices are reached through the groups (i2c, gpio, input) instead
        unit = _HARDENING.sub("", unit)
        unit = unit.replace("WantedBy=multi-user.target", "WantedBy=default.target")
        unit = unit.replace("After=network-online.target time-sync.target docker.service",
                            "After=network-online.target")
    return unit
