"""Store-and-forward: a bounded on-disk FIFO of uplinks for one network server.

The forwarder writes each uplink here before it sends it and deletes it when the server
acknowledges, so an uplink survives a server outage, a daemon restart and a power cut.
One SQLite file per server (standard library ``sqlite3``), in WAL mode with
``synchronous=FULL``: every ``put_many``/``ack`` is one transaction and the WAL is fsynced
before the call returns, so a returned put is on disk even if power fails next (``NORMAL``
would only keep the database consistent, losing the last commits).

Ids come from an ``AUTOINCREMENT`` key, so they keep growing across restarts and never
reuse an acknowledged id: ascending id is the replay order.

The queue is bounded by ``max_items``. ``drop-oldest`` (default) deletes the oldest queued
uplinks to make room, so fresh traffic wins; ``drop-newest`` refuses the new ones. Either
way the dropped count is persisted in the same transaction and reported by ``dropped``.

A file that is not a readable SQLite database raises ``StoreCorruptError`` naming the
file. Recovery (``UplinkStore.recover``): the file is moved aside to
``<name>.corrupt-<time>`` and a new empty store is created; what it held is counted as lost.

Concurrency: one process, one thread at a time (an asyncio event loop); the file is not
meant to be shared between processes.
"""

from __future__ import annotations

import contextlib
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
    ) -> UplinkStore:
        """Open the store; if the file is corrupt, move it aside and start empty.

        The moved file keeps its bytes for inspection (``<name>.corrupt-<unix time>``);
        its uplinks are counted in ``lost`` (1 when the count cannot be read).
        """
        try:
            return cls(path, server=server, max_items=max_items, policy=policy)
        except StoreCorruptError:
            pass
        path = Path(path)
        aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        path.replace(aside)
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.replace(aside.with_name(aside.name + suffix))
        store = cls(path, server=server, max_items=max_items, policy=policy)
        store._add_lost(max(1, _count_rows(aside)))
        return store

    # -- the FIFO ----------------------------------------------------------

    def put_many(self, items: Sequence[tuple[bytes, float]]) -> list[int]:
        """Queue uplinks (payload, received_at) in one transaction; returns their ids.

        Committed and synced when it returns. Under ``drop-newest`` at the cap, the
        refused items get no id (the returned list is shorter); they count as dropped.
        """
        if not items:
            return []
        with self._transaction() as db:
            room = self.max_items - self._count
            keep = list(items)
            dropped = 0
            if len(keep) > room:
                if self.policy == "drop-newest":
                    dropped = len(keep) - max(room, 0)
                    keep = keep[: max(room, 0)]
                else:
                    if len(keep) > self.max_items:
                        dropped += len(keep) - self.max_items
                        keep = keep[-self.max_items :]
                    evict = len(keep) - room
                    if evict > 0:
                        # Oldest rows go first; ids ascend so the lowest ones are the oldest.
                        db.execute(
                            "DELETE FROM uplinks WHERE id IN (SELECT id FROM uplinks ORDER BY id LIMIT ?)",
                            (evict,),
                        )
                        dropped += evict
                        self._count -= evict
            ids: list[int] = []
            for payload, received_at in keep:
                cursor = db.execute(
                    "INSERT INTO uplinks(received_at, payload) VALUES (?, ?)", (received_at, bytes(payload))
                )
                assert cursor.lastrowid is not None
                ids.append(cursor.lastrowid)
            if dropped:
                self._bump(db, "dropped", dropped)
        self._count += len(ids)
        self._dropped += dropped
        return ids

    def put(self, payload: bytes, received_at: float) -> int:
        """Queue one uplink; returns its id (-1 when ``drop-newest`` refused it at the cap)."""
        ids = self.put_many([(payload, received_at)])
        return ids[0] if ids else -1

    def peek(self, limit: int) -> list[StoredUplink]:
        """The oldest ``limit`` queued uplinks, oldest first (they stay queued until acked)."""
        if limit <= 0:
            return []
        try:
            rows = self._db.execute(
                "SELECT id, payload, received_at FROM uplinks ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"read failed ({exc})", path=self.path) from exc
        return [StoredUplink(id=row[0], payload=bytes(row[1]), received_at=row[2]) for row in rows]

    def ack(self, ids: Iterable[int]) -> None:
        """Delivered: delete these ids (unknown or already deleted ids are ignored). Committed."""
        wanted = [(i,) for i in ids]
        if not wanted:
            return
        with self._transaction() as db:
            before = db.total_changes
            db.executemany("DELETE FROM uplinks WHERE id = ?", wanted)
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
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()

    def __enter__(self) -> UplinkStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"UplinkStore({str(self.path)!r}, server={self.server!r}, queued={self._count}, dropped={self._dropped})"

    # -- helpers -----------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._db
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
