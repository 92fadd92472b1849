"""Store-and-forward: a bounded on-disk FIFO of uplinks for one network server.

The forwarder writes each uplink here before it sends it and deletes it when the server
acknowledges, so an uplink survives a server outage, a daemon restart and a power cut.
One SQLite file per server (standard library ``sqlite3``), in WAL mode. Every ``put_many`` is
one transaction (one multi-row insert) committed with ``synchronous=FULL``: the WAL is fsynced
before the call returns, so a returned put is on disk even if power fails next (``NORMAL``
would only keep the database consistent, losing the last commits). An ``ack`` (a delete of
delivered uplinks) commits with ``NORMAL``, without a sync of its own: the next put's sync (or a
checkpoint's) carries it, since both sync the same WAL file. A power cut in between brings back
uplinks that were already delivered, and they are sent again (at least once, as after any
outage); it never loses one. That halves the syncs of a busy link.

Ids come from an ``AUTOINCREMENT`` key, so they keep growing across restarts and never
reuse an acknowledged id: ascending id is the replay order.

The queue is bounded by ``max_items``. ``drop-oldest`` (default) deletes the oldest queued
uplinks to make room, so fresh traffic wins; ``drop-newest`` refuses the new ones. Either
way the dropped count is persisted in the same transaction and reported by ``dropped``.

Disk space is bounded too, the write-ahead log included. The WAL is checkpointed every
``WAL_CHECKPOINT_PAGES`` pages and truncated back to that size (``journal_size_limit``), so it
never grows past about half a megabyte; SQLite's default (1,000 pages) cannot even be reached on
a small filesystem, and the WAL then filled it. Before each write the store checks the room it
may use: the filesystem's free space less a reserve (the WAL's own room, so that deletes always
have space, and 1 % of the filesystem for the rest of the system), and ``max_bytes`` if given.
When a batch does not fit, the cap policy applies as for ``max_items`` (``drop-oldest`` deletes
old uplinks whose rows cover it, their pages are reused), and what still does not fit raises
``StoreFullError`` before anything is written: the filesystem itself is never filled.

A file that is not a readable SQLite database raises ``StoreCorruptError`` naming the
file. Recovery (``UplinkStore.recover``): the file is moved aside to
``<name>.corrupt-<time>`` and a new empty store is created; what it held is counted as lost.

Concurrency: one process. Writes (``put_many``, ``ack``, ``close``) come from one thread at a time (the
forwarder's writer thread, see ``store_writer``); ``peek`` reads through a connection of its own, so a
reader on another thread (the event loop) never waits for a write or its sync, and sees only committed,
synced transactions (under ``synchronous=FULL`` SQLite publishes a commit to readers after syncing the
WAL). The file is not meant to be shared between processes.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from wisgate.errors import ConfigError, WisgateError

Policy = Literal["drop-oldest", "drop-newest"]
POLICIES: tuple[str, ...] = get_args(Policy)
SCHEMA_VERSION = 1

#: WAL pages between checkpoints; the WAL file is truncated back to this size after one.
WAL_CHECKPOINT_PAGES = 32
#: Rows per INSERT statement (SQLite takes up to 32,766 parameters in one; the rest of a batch is one more).
INSERT_ROWS = 64
#: Ids deleted per transaction: a few pages each, well inside one checkpoint interval.
ACK_CHUNK = 128
#: Bytes a row costs beyond its payload (record header, id, time, cell pointer, page slack).
ROW_OVERHEAD_BYTES = 64
#: The reserve never exceeds this, however large the filesystem.
RESERVE_MAX_BYTES = 64 * 1024 * 1024
#: The WAL index (``-shm``) of a WAL that small: 32 KiB, allocated when the store opens.
SHM_BYTES = 32 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS uplinks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


class StoreError(WisgateError, OSError):
    """The uplink store cannot be opened or written; the message names the file."""

    def __init__(self, message: str, *, path: Path) -> None:
        super().__init__(f"uplink store {path}: {message}")
        self.path = path


class StoreCorruptError(StoreError):
    """The store file is not a readable uplink database (see ``UplinkStore.recover``)."""


class StoreFullError(StoreError):
    """The batch does not fit in the room the store may use; nothing of it was written."""


@dataclass(frozen=True)
class StoredUplink:
    id: int
    """Increasing across restarts: the replay order."""
    payload: bytes
    """The server-specific record (rxpk JSON for UDP, protobuf/JSON for MQTT)."""
    received_at: float
    """Host time (``time.time()``) the uplink was received."""


class UplinkStore:
    """A bounded on-disk FIFO for one server (SQLite). Survives restarts and power cuts."""

    def __init__(
        self,
        path: Path,
        *,
        server: str,
        max_items: int = 100_000,
        policy: str = "drop-oldest",
        max_bytes: int | None = None,
        reserve_bytes: int | None = None,
    ) -> None:
        if max_items < 1:
            raise ConfigError(f"uplink store for {server}: max_items must be at least 1, got {max_items}")
        if policy not in POLICIES:
            raise ConfigError(f"uplink store for {server}: policy must be one of {', '.join(POLICIES)}, got {policy!r}")
        self.path = Path(path)
        self.server = server
        self.max_items = max_items
        self.policy = policy
        self._db = self._open()
        self._reader: sqlite3.Connection | None = None  # peek's own connection, opened when first needed
        self._durable = True  # the connection's synchronous setting: FULL
        self._page = self._scalar("PRAGMA page_size")
        #: The most the WAL takes between checkpoints (frames carry a 24-byte header; one batch may overshoot).
        self.wal_bytes = 2 * WAL_CHECKPOINT_PAGES * (self._page + 24)
        if max_bytes is not None and max_bytes < 2 * self.wal_bytes + SHM_BYTES:
            self._db.close()
            raise ConfigError(f"uplink store for {server}: max_bytes must be at least {2 * self.wal_bytes + SHM_BYTES}"
                              f" (twice the write-ahead log's room and its index), got {max_bytes}")
        self.max_bytes = max_bytes
        self.reserve_bytes = reserve_bytes if reserve_bytes is not None else self._default_reserve()
        self._count = self._scalar("SELECT COUNT(*) FROM uplinks")
        self._dropped = self._meta("dropped")
        self._lost = self._meta("lost")

    # -- opening ---------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, one per call.
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open ({exc})", path=self.path) from exc
        try:
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"cannot switch to WAL journal (got {mode})", path=self.path)
            db.execute("PRAGMA synchronous=FULL")
            db.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            page = int(db.execute("PRAGMA page_size").fetchone()[0])
            db.execute(f"PRAGMA journal_size_limit={WAL_CHECKPOINT_PAGES * (page + 24)}")
            db.executescript(_SCHEMA)
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"integrity check: {check}")
            version = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if version is None:
                db.execute("INSERT INTO meta(key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif version[0] != SCHEMA_VERSION:
                raise StoreError(f"schema version {version[0]}, this code reads {SCHEMA_VERSION}", path=self.path)
        except sqlite3.DatabaseError as exc:
            db.close()
            if not _is_corruption(exc):
                raise StoreError(f"cannot read ({exc})", path=self.path) from exc
            raise StoreCorruptError(
                f"not a readable uplink database ({exc}); move it aside or call UplinkStore.recover()",
                path=self.path,
            ) from exc
        except BaseException:
            db.close()
            raise
        return db

    @classmethod
    def recover(
        cls,
        path: Path,
        *,
        server: str,
        max_items: int = 100_000,
        policy: str = "drop-oldest",
        max_bytes: int | None = None,
        reserve_bytes: int | None = None,
    ) -> UplinkStore:
        """Open the store; if the file is corrupt, move it aside and start empty.

        The moved file keeps its bytes for inspection (``<name>.corrupt-<unix time>``);
        its uplinks are counted in ``lost`` (1 when the count cannot be read).
        """
        options: dict[str, int | None] = {"max_bytes": max_bytes, "reserve_bytes": reserve_bytes}
        try:
            return cls(path, server=server, max_items=max_items, policy=policy, **options)
        except StoreCorruptError:
            pass
        path = Path(path)
        aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        path.replace(aside)
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.replace(aside.with_name(aside.name + suffix))
        store = cls(path, server=server, max_items=max_items, policy=policy, **options)
        store._add_lost(max(1, _count_rows(aside)))
        return store

    # -- the FIFO ----------------------------------------------------------

    def put_many(self, items: Sequence[tuple[bytes, float]]) -> list[int]:
        """Queue uplinks (payload, received_at) in one transaction; returns their ids.

        Committed and synced when it returns. Under ``drop-newest`` at the cap, the
        refused items get no id (the returned list is shorter); they count as dropped.
        ``StoreFullError`` when the batch does not fit on disk even after the cap policy
        (nothing written); ``StoreError`` when the write fails (nothing written either).
        """
        if not items:
            return []
        with self._transaction() as db:
            room = self.max_items - self._count
            keep = list(items)
            dropped = 0
            evict = 0
            if len(keep) > room:
                if self.policy == "drop-newest":
                    dropped = len(keep) - max(room, 0)
                    keep = keep[: max(room, 0)]
                else:
                    if len(keep) > self.max_items:
                        dropped += len(keep) - self.max_items
                        keep = keep[-self.max_items :]
                    evict = max(len(keep) - room, 0)
            short = self._bytes_needed(keep) - self._room(db)
            if short > 0 and keep:
                if self.policy == "drop-newest":
                    raise StoreFullError(self._full_message(short), path=self.path)
                evict = self._rows_covering(db, short, at_least=evict)
            if evict:
                # Oldest rows go first; ids ascend so the lowest ones are the oldest.
                db.execute("DELETE FROM uplinks WHERE id IN (SELECT id FROM uplinks ORDER BY id LIMIT ?)", (evict,))
                dropped += evict
                self._count -= evict
            ids: list[int] = []
            if keep:
                # Under AUTOINCREMENT each row gets one more than the largest id the table ever had, and this
                # transaction is the only writer: the batch's ids are consecutive.
                before = db.total_changes
                _insert(db, keep)
                last = int(db.execute("SELECT last_insert_rowid()").fetchone()[0])
                if db.total_changes - before != len(keep):
                    raise sqlite3.DatabaseError(f"{db.total_changes - before} rows inserted of {len(keep)}")
                ids = list(range(last - len(keep) + 1, last + 1))
            if dropped:
                self._bump(db, "dropped", dropped)
        self._count += len(ids)
        self._dropped += dropped
        return ids

    def put(self, payload: bytes, received_at: float) -> int:
        """Queue one uplink; returns its id (-1 when ``drop-newest`` refused it at the cap)."""
        ids = self.put_many([(payload, received_at)])
        return ids[0] if ids else -1

    def peek(self, limit: int, after: int = 0) -> list[StoredUplink]:
        """The oldest ``limit`` queued uplinks with an id above ``after``, oldest first (they stay queued until
        acked). Read through a connection of its own: committed (and synced) rows only, never waiting for a write.
        """
        if limit <= 0:
            return []
        try:
            if self._reader is None:
                self._reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                self._reader.execute("PRAGMA query_only=1")
            rows = self._reader.execute(
                "SELECT id, payload, received_at FROM uplinks WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
            ).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"read failed ({exc})", path=self.path) from exc
        return [StoredUplink(id=row[0], payload=bytes(row[1]), received_at=row[2]) for row in rows]

    def ack(self, ids: Iterable[int]) -> None:
        """Delivered: delete these ids (unknown or already deleted ids are ignored). Committed, not synced.

        Not synced on its own (see the module doc): a power cut before the next put may bring them back,
        to be sent again. In transactions of at most ``ACK_CHUNK`` ids, so that a large delete never takes more WAL
        than a checkpoint interval: ids deleted before a failure stay deleted.
        """
        wanted = sorted(set(ids))
        for start in range(0, len(wanted), ACK_CHUNK):
            with self._transaction(durable=False) as db:
                before = db.total_changes
                db.executemany("DELETE FROM uplinks WHERE id BETWEEN ? AND ?", _runs(wanted[start : start + ACK_CHUNK]))
                self._count -= db.total_changes - before

    def __len__(self) -> int:
        return self._count

    @property
    def dropped(self) -> int:
        """Uplinks dropped at the cap since the file was created (persisted)."""
        return self._dropped

    @property
    def lost(self) -> int:
        """Uplinks lost to a corrupt file that ``recover`` moved aside (persisted)."""
        return self._lost

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()  # first: a checkpoint cannot truncate the WAL under a reader
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()

    def __enter__(self) -> UplinkStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"UplinkStore({str(self.path)!r}, server={self.server!r}, queued={self._count}, dropped={self._dropped})"

    # -- disk space ----------------------------------------------------------

    def _default_reserve(self) -> int:
        """Room for the WAL to grow to its largest, and 1 % of the filesystem (at most 64 MiB) for everything else."""
        try:
            fs = os.statvfs(self.path.parent)
        except OSError:
            return self.wal_bytes
        return self.wal_bytes + min(fs.f_blocks * fs.f_frsize // 100, RESERVE_MAX_BYTES)

    @staticmethod
    def _bytes_needed(items: Sequence[tuple[bytes, float]]) -> int:
        return sum(len(payload) + ROW_OVERHEAD_BYTES for payload, _ in items)

    def _room(self, db: sqlite3.Connection) -> int:
        """Bytes of new rows that fit: free pages in the file plus what the filesystem and ``max_bytes`` allow."""
        free_pages = int(db.execute("PRAGMA freelist_count").fetchone()[0])
        reusable = free_pages * self._page
        try:
            fs = os.statvfs(self.path.parent)
        except OSError as exc:
            raise StoreError(f"cannot check free space ({exc})", path=self.path) from exc
        room = fs.f_bavail * fs.f_frsize - self.reserve_bytes
        if self.max_bytes is not None:
            pages = int(db.execute("PRAGMA page_count").fetchone()[0])
            room = min(room, self.max_bytes - self.wal_bytes - SHM_BYTES - pages * self._page)
        return max(room, 0) + reusable

    def _rows_covering(self, db: sqlite3.Connection, short: int, *, at_least: int) -> int:
        """How many of the oldest rows to delete so that at least ``short`` bytes of rows go (StoreFullError if all
        of them are not enough)."""
        freed = count = 0
        for (size,) in db.execute(
            "SELECT length(payload) FROM uplinks ORDER BY id LIMIT ?", (self._count,)
        ):
            if freed >= short and count >= at_least:
                return count
            freed += int(size) + ROW_OVERHEAD_BYTES
            count += 1
        if freed >= short:
            return count
        raise StoreFullError(self._full_message(short - freed), path=self.path)

    def _full_message(self, short: int) -> str:
        limit = f"max_bytes {self.max_bytes} or " if self.max_bytes is not None else ""
        return (f"full: {short} bytes more than the room left ({limit}a {self.reserve_bytes}-byte reserve of free "
                f"space on the filesystem); new uplinks refused ({self.policy})")

    def has_room(self, nbytes: int = 1024) -> bool:
        """Whether ``nbytes`` of new rows would fit now (no write, no error)."""
        try:
            return self._room(self._db) >= nbytes
        except (StoreError, sqlite3.Error):
            return False

    def disk_bytes(self) -> int:
        """What the store takes on disk now: the database, its WAL and shared-memory files."""
        total = 0
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                total += self.path.with_name(self.path.name + suffix).stat().st_size
        return total

    # -- helpers -----------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction. ``durable=False`` commits without syncing the WAL (see ``ack``)."""
        db = self._db
        if durable != self._durable:
            db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._durable = durable
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot start a write ({exc})", path=self.path) from exc
        try:
            yield db
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            self._count = self._scalar("SELECT COUNT(*) FROM uplinks")
            raise StoreError(f"write failed ({exc})", path=self.path) from exc
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            self._count = self._scalar("SELECT COUNT(*) FROM uplinks")
            raise

    def _scalar(self, sql: str) -> int:
        try:
            return int(self._db.execute(sql).fetchone()[0])
        except sqlite3.Error as exc:
            raise StoreError(f"read failed ({exc})", path=self.path) from exc

    def _meta(self, key: str) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def _bump(db: sqlite3.Connection, key: str, by: int) -> None:
        db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
            (key, by),
        )

    def _add_lost(self, count: int) -> None:
        with self._transaction() as db:
            self._bump(db, "lost", count)
        self._lost += count


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    """SQLITE_CORRUPT / SQLITE_NOTADB, or our integrity check; not locks or permissions."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return True
    return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26


def _values_sql(rows: int) -> str:
    return "INSERT INTO uplinks(received_at, payload) VALUES " + ",".join(["(?,?)"] * rows)


_INSERT_FULL = _values_sql(INSERT_ROWS)


def _insert(db: sqlite3.Connection, items: Sequence[tuple[bytes, float]]) -> None:
    """The rows in statements of ``INSERT_ROWS`` rows (and one for the rest), in order.

    A row per statement costs a statement step each, and on the writer thread each step gives the GIL back
    and waits to take it again from the busy event loop: multi-row statements write a batch in a few steps.
    """
    values: list[bytes | float] = []
    for payload, received_at in items:
        values += (received_at, bytes(payload))
    step = 2 * INSERT_ROWS
    full = len(values) - len(values) % step
    if full:
        db.executemany(_INSERT_FULL, [values[i : i + step] for i in range(0, full, step)])
    if full < len(values):
        db.execute(_values_sql((len(values) - full) // 2), values[full:])


def _runs(ids: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted ids as (first, last) runs of consecutive ids: a window of acks is usually one run."""
    runs: list[tuple[int, int]] = []
    for i in ids:
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def _count_rows(path: Path) -> int:
    """Best effort: how many uplinks a damaged file still lists (0 when unreadable)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return 0
    try:
        return int(db.execute("SELECT COUNT(*) FROM uplinks").fetchone()[0])
    except sqlite3.Error:
        return 0
    finally:
        db.close()
