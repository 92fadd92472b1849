"""Plain log lines for ``wisgate run`` (with a timestamp on a console or in a file, with a syslog priority
prefix and no timestamp when stderr is the journal), and whether the live view is wanted.

Apart from :mod:`wisgate.services.liveview` so that a daemon with plain logs (systemd, a pipe, ``--plain``)
never imports rich.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def under_systemd(environ: Mapping[str, str] | None = None) -> bool:
    """Started by systemd (a service, ``systemd-run``): it sets ``INVOCATION_ID``; ``JOURNAL_STREAM``
    when stdout/stderr go to the journal."""
    env = os.environ if environ is None else environ
    return bool(env.get("INVOCATION_ID") or env.get("JOURNAL_STREAM"))


def wants_live_view(stdout: TextIO, *, plain: bool, environ: Mapping[str, str] | None = None) -> bool:
    return not plain and stdout.isatty() and not under_systemd(environ)


def stderr_is_journal(environ: Mapping[str, str] | None = None, stream: TextIO | None = None) -> bool:
    """``JOURNAL_STREAM`` is ``device:inode`` of the journal's socket; it applies only if stderr is it
    (a child that redirected stderr elsewhere inherits the variable, systemd.exec(5))."""
    env = os.environ if environ is None else environ
    device, _, inode = env.get("JOURNAL_STREAM", "").partition(":")
    try:
        stat = os.fstat((stream or sys.stderr).fileno())
        return (stat.st_dev, stat.st_ino) == (int(device), int(inode))
    except (ValueError, OSError):
        return False


class JournalFormatter(logging.Formatter):
    """``<3>wisgate.fan: ...``: the journal reads the priority from the prefix (sd-daemon(3)) and
    stamps the time itself."""

    PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        priority = next((p for level, p in sorted(self.PRIORITY.items(), reverse=True) if record.levelno >= level), 7)
        return f"<{priority}>{super().format(record)}"


def plain_logging(level: str) -> None:
    """Plain log lines on stderr; journal-style when stderr is the journal."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JournalFormatter() if stderr_is_journal() else logging.Formatter(PLAIN_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])  # a no-op where logging is set up already
