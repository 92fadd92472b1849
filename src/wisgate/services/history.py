"""The history: every event and the readings, downsampled, in one SQLite file that survives restarts.

Readings are averaged (with min and max) into 10 s buckets kept for a day and 1 min buckets kept for a
month, so the file stays bounded (about 20 numeric readings: under 60 MB). Buckets are written when they
close and on :meth:`History.flush`; events are committed as they are published. The power service
flushes before any shutdown action, so a power cut loses nothing that was reported.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from wisgate.paths import state_dir
from wisgate.services.events import Event, EventKind, Severity
from wisgate.services.readings import Reading

log = logging.getLogger("wisgate.history")

#: (bucket seconds, kept seconds)
TIERS = ((10, 86_400), (60, 31 * 86_400))
PRUNE_EVERY_S = 3600.0
#: events are kept this long (and at most this many)
EVENT_RETENTION_S = 365 * 86_400
MAX_EVENTS = 100_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    name TEXT NOT NULL, step INTEGER NOT NULL, t INTEGER NOT NULL,
    mean REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL, n INTEGER NOT NULL, unit TEXT NOT NULL,
    PRIMARY KEY (name, step, t)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, t REAL NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL,
    severity TEXT NOT NULL, message TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_t ON events (t);
"""


def default_history_path() -> Path:
    return state_dir() / "history.sqlite"


@dataclass(frozen=True)
class Sample:
    t: float
    mean: float
    min: float
    max: float
    unit: str


@dataclass
class _Bucket:
    t: int
    total: float
    low: float
    high: float
    n: int
    unit: str

    def add(self, value: float) -> None:
        self.total += value
        self.low = min(self.low, value)
        self.high = max(self.high, value)
        self.n += 1


class History:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA journal_size_limit=4194304")
            self._db.executescript(SCHEMA)
        self._open: dict[tuple[str, int], _Bucket] = {}
        self._last_prune = 0.0
        self.broken: str | None = None

    @classmethod
    def open_or_none(cls, path: Path) -> History | None:
        """The history, or None (logged) when its file cannot be opened: the daemon runs without it."""
        try:
            return cls(path)
        except (OSError, sqlite3.Error) as exc:
            log.error("history %s cannot be opened (%s): readings and events are not kept", path, exc)
            return None

    # -- writing -----------------------------------------------------------------------------------

    def add_readings(self, readings: Iterable[Reading]) -> None:
        closed: list[tuple[str, int, _Bucket]] = []
        for reading in readings:
            value = reading.number
            if value is None:
                continue
            for step, _ in TIERS:
                t = int(reading.time // step * step)
                key = (reading.name, step)
                bucket = self._open.get(key)
                if bucket is not None and bucket.t != t:
                    closed.append((reading.name, step, bucket))
                    bucket = None
                if bucket is None:
                    self._open[key] = _Bucket(t, value, value, value, 1, reading.unit)
                else:
                    bucket.add(value)
        if closed:
            self._write_samples(closed)
        self._maybe_prune(time.time())

    def flush(self) -> None:
        """Write every open bucket (they stay open and are rewritten when they close)."""
        self._write_samples([(name, step, bucket) for (name, step), bucket in self._open.items()])

    def _write_samples(self, rows: list[tuple[str, int, _Bucket]]) -> None:
        self._execute_many(
            "INSERT OR REPLACE INTO samples VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(name, step, b.t, b.total / b.n, b.low, b.high, b.n, b.unit) for name, step, b in rows],
        )

    def add_event(self, event: Event) -> None:
        self._execute_many(
            "INSERT INTO events (t, kind, source, severity, message, data) VALUES (?, ?, ?, ?, ?, ?)",
            [(event.time, str(event.kind), event.source, str(event.severity), event.message,
              json.dumps(dict(event.data)))],
        )

    def _execute_many(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        if not rows:
            return
        try:
            with self._lock:
                self._db.execute("BEGIN")
                self._db.executemany(sql, rows)
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            if self.broken != str(exc):
                log.error("history %s: write failed (%s); the daemon goes on without it", self.path, exc)
            self.broken = str(exc)
        else:
            self.broken = None

    def _maybe_prune(self, now: float) -> None:
        if now - self._last_prune < PRUNE_EVERY_S:
            return
        self._last_prune = now
        with contextlib.suppress(sqlite3.Error), self._lock:
            for step, kept in TIERS:
                self._db.execute("DELETE FROM samples WHERE step = ? AND t < ?", (step, now - kept))
            self._db.execute("DELETE FROM events WHERE t < ?", (now - EVENT_RETENTION_S,))
            self._db.execute("DELETE FROM events WHERE seq <= (SELECT MAX(seq) FROM events) - ?", (MAX_EVENTS,))
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- reading -----------------------------------------------------------------------------------

    def samples(self, name: str, *, since: float, until: float | None = None, step: int | None = None) -> list[Sample]:
        """Samples of ``name`` from ``since``; the finest tier that covers the range unless ``step`` is given."""
        now = time.time()
        if step is None:
            step = next((s for s, kept in TIERS if now - since <= kept), TIERS[-1][0])
        rows = self._query(
            "SELECT t, mean, min, max, unit FROM samples WHERE name = ? AND step = ? AND t >= ? AND t <= ? ORDER BY t",
            (name, step, int(since // step * step), until if until is not None else now),
        )
        return [Sample(float(str(t)), float(str(mean)), float(str(low)), float(str(high)), str(unit))
                for t, mean, low, high, unit in rows]

    def names(self) -> list[str]:
        return [str(row[0]) for row in self._query("SELECT DISTINCT name FROM samples ORDER BY name", ())]

    def events(self, *, after_seq: int = 0, since: float = 0.0, limit: int = 100) -> list[Event]:
        """Stored events after ``after_seq`` (the file's own numbering), oldest first."""
        rows = self._query(
            "SELECT seq, t, kind, source, severity, message, data FROM events WHERE seq > ? AND t >= ? "
            "ORDER BY seq LIMIT ?",
            (after_seq, since, limit),
        )
        return [event_from_row(*row) for row in rows]

    def _query(self, sql: str, args: tuple[object, ...]) -> list[tuple[object, ...]]:
        with self._lock:
            return list(self._db.execute(sql, args))

    def close(self) -> None:
        self.flush()
        with contextlib.suppress(sqlite3.Error), self._lock:
            self._db.close()


def event_from_row(seq: object, t: object, kind: object, source: object, severity: object, message: object,
                   data: object) -> Event:
    try:
        event_kind = EventKind(str(kind))
    except ValueError:
        event_kind = EventKind.OVERRIDE
    try:
        level = Severity(str(severity))
    except ValueError:
        level = Severity.INFO
    try:
        values = json.loads(str(data))
    except ValueError:
        values = {}
    return Event(event_kind, str(source), str(message), level, float(str(t)),
                 values if isinstance(values, dict) else {}, int(str(seq)))


class ReadOnlyHistory(History):
    """The history file of a daemon that may be running: opened for reading only."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise FileNotFoundError(f"no history at {path} (has wisgate run been started with it?)")
        self.path = path
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        self._open = {}
        self._last_prune = 0.0
        self.broken = None

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error), self._lock:
            self._db.close()
