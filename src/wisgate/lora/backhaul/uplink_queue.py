"""One server's uplink queue that never fails its forwarder: the on-disk store, and memory when the disk cannot.

A forwarder hands every uplink to its server's :class:`UplinkQueue`. Normally it goes to the
:class:`~wisgate.lora.backhaul.store.UplinkStore` (durable). When the store cannot take it (the filesystem is
full, the store refused it, the file cannot be opened or written), the uplink waits in memory instead,
is still sent when the server is up, and counts as ``unprotected``: it survives an outage but not a
restart. While anything waits in memory, newer uplinks queue behind it there too, so the replay order
(disk first, then memory) stays the order of reception. Every ``retry_s`` the queue tries the store
again (reopening it if it could not be opened) and moves what waits in memory into it, oldest first:
the link recovers by itself once space returns.

A delete that fails (the acknowledgement of a delivered uplink cannot be written) is remembered: the
uplink is not offered again, and the delete is retried. So a failing disk never makes a forwarder send
anything twice beyond at-least-once (a restart before the retry succeeds replays those uplinks once).

``problem`` says why the link is degraded (None when the store works); forwarders show it in their
status and count ``store_errors``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import dropwhile, islice
from pathlib import Path
from typing import Protocol, TypeVar

from wisgate.aio import TaskGroup
from wisgate.lora.backhaul.store import StoredUplink, StoreError
from wisgate.lora.backhaul.store_writer import InlineWriter, ThreadWriter, Writer
from wisgate.lora.core.types import GatewayPort, ReceivedUplink

log = logging.getLogger("wisgate.lora.store")

_T = TypeVar("_T")

#: Uplinks moved from memory into the store per transaction when it works again.
MOVE_CHUNK = 256


class QueueStore(Protocol):
    """What the queue needs of a store (:class:`~wisgate.lora.backhaul.store.UplinkStore` or :class:`MemoryStore`)."""

    def put_many(self, items: Sequence[tuple[bytes, float]]) -> list[int]: ...
    def peek(self, limit: int, after: int = 0) -> list[StoredUplink]: ...
    def ack(self, ids: Iterable[int]) -> None: ...
    def __len__(self) -> int: ...
    @property
    def dropped(self) -> int: ...
    def close(self) -> None: ...


class MemoryStore:
    """The store of a server configured without a file: survives outages, not restarts."""

    def __init__(self, *, max_items: int = 100_000) -> None:
        self.max_items = max_items
        self._items: OrderedDict[int, StoredUplink] = OrderedDict()
        self._next = 1
        self._dropped = 0

    def put_many(self, items: Sequence[tuple[bytes, float]]) -> list[int]:
        ids = []
        for payload, received_at in items:
            if len(self._items) >= self.max_items:
                self._items.popitem(last=False)
                self._dropped += 1
            self._items[self._next] = StoredUplink(self._next, payload, received_at)
            ids.append(self._next)
            self._next += 1
        return ids

    def peek(self, limit: int, after: int = 0) -> list[StoredUplink]:
        items = iter(self._items.values())
        if after > 0:
            items = dropwhile(lambda item: item.id <= after, items)
        return list(islice(items, max(limit, 0)))

    def ack(self, ids: Iterable[int]) -> None:
        for i in ids:
            self._items.pop(i, None)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def dropped(self) -> int:
        return self._dropped

    def close(self) -> None:
        pass


class UplinkQueue:
    """A server's queue: the store, with memory as the fallback; no method raises for a disk problem but ``peek``.

    The store's writes run on its own writer thread (:mod:`~wisgate.lora.backhaul.store_writer`); a memory
    store's run at once. ``submit`` hands a batch over and returns; its ``done`` runs on the event loop once
    the batch is durable (or, if the store failed, held in memory). ``peek`` reads what is already written
    (a separate read connection: it never waits for the writer), so a sender that peeks only ever sends
    durable uplinks. ``put`` is the same write, waited for (tests, tools).
    """

    def __init__(
        self,
        store: QueueStore | None = None,
        *,
        opener: Callable[[], QueueStore] | None = None,
        server: str,
        memory_max: int = 10_000,
        policy: str = "drop-oldest",
        retry_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """The ``store``, or an ``opener`` that opens it (tried every ``retry_s`` while it raises ``StoreError``)."""
        if (store is None) == (opener is None):
            raise ValueError("UplinkQueue needs a store or an opener, not both")
        self.server = server
        self.memory_max = memory_max
        self.policy = policy
        self.retry_s = retry_s
        self._clock = clock
        self._opener = opener
        self.store: QueueStore | None = None
        self._writer: Writer = InlineWriter()
        self._memory: OrderedDict[int, StoredUplink] = OrderedDict()
        self._next_memory_id = -1  # memory ids are negative: never confused with the store's
        self._writing = 0  # uplinks handed to the writer and not written yet
        self._stored = 0  # the store's length as of the last job whose result is back (len(store) runs ahead)
        self._deleting: set[int] = set()  # acknowledged, their delete handed to the writer: never offered again
        self._unsent_deletes: set[int] = set()  # deletes that failed: never offered again, retried
        self._next_put: list[_Batch] | None = None  # batches for the put job the writer has not started yet
        self._next_put_behind = False
        self._next_delete: list[int] | None = None  # ids for the delete job the writer has not started yet
        self._lock = threading.Lock()  # the two above, shared with the writer thread
        self._moved: dict[int, int] = {}  # memory id -> store id, for acks of what was in flight when moved
        self._halted = False  # writer thread only: a put failed, later ones go to memory until recovery
        self._retry_at = 0.0
        self.problem: str | None = None
        self.store_errors = 0
        self.unprotected = 0
        self.memory_dropped = 0
        self.lost_at_close = 0
        if store is not None:
            self._use(store)
        else:
            self._open()

    # -- the queue -----------------------------------------------------------

    def submit(self, items: Sequence[tuple[bytes, float]],
               done: Callable[[list[StoredUplink]], None] | None = None) -> None:
        """Queue uplinks (payload, received_at) as one store transaction, on the writer thread; never blocks.

        ``done`` then runs on the event loop with those accepted, in order, with their ids: written and
        synced, or held in memory when the store could not take them. An uplink left out was dropped by
        the cap policy (counted in ``dropped``). Batches are written, and their ``done`` run, in the order
        they were submitted.
        """
        if not items:
            if done is not None:
                done([])
            return
        self._retry()
        batch = list(items)
        if self.store is None:
            accepted = self._to_memory(batch)
            if done is not None:
                done(accepted)
            return
        store, behind = self.store, bool(self._memory)
        self._writing += len(batch)
        with self._lock:
            if self._next_put is not None and self._next_put_behind == behind:
                self._next_put.append((batch, done))  # the writer has not started the last put: the same transaction
                return
            self._next_put, self._next_put_behind = (group := [(batch, done)]), behind
        self._writer.submit(lambda: self._write(store, group, behind), self._written)

    def put(self, items: Sequence[tuple[bytes, float]]) -> list[StoredUplink]:
        """``submit``, waiting until the batch is written; returns those accepted (see ``submit``)."""
        accepted: list[StoredUplink] = []
        self.submit(items, accepted.extend)
        self._writer.drain()
        return accepted

    def drain(self) -> None:
        """Wait until everything handed to the writer thread is written (blocks the caller), callbacks run."""
        self._writer.drain()

    def peek(self, limit: int, after: int = 0) -> list[StoredUplink]:
        """The oldest ``limit`` uplinks written so far, the store's first; ``StoreError`` if it cannot be read.

        ``after``: only store ids above it (a sender's newest one in flight: it need not read its whole window
        again); what waits in memory is listed all the same. Acknowledged uplinks are never listed.
        """
        self._retry()
        out: list[StoredUplink] = []
        if self.store is not None and len(self.store) > 0:
            skip = self._deleting | self._unsent_deletes if self._unsent_deletes else self._deleting
            extra = sum(1 for i in skip if i > after) if after else len(skip)
            try:
                rows = self.store.peek(limit + extra, after)
            except StoreError as exc:
                self._failed(exc)
                raise
            out = [row for row in rows if row.id not in skip][:limit] if extra else rows[:limit]
        if len(out) < limit and self._memory:
            out.extend(islice(self._memory.values(), limit - len(out)))
        return out

    def ack(self, ids: Iterable[int]) -> None:
        """Delivered: forget these uplinks (the delete runs on the writer thread; one that fails is retried)."""
        on_disk: list[int] = []
        for i in ids:
            i = self._moved.pop(i, i)
            if i < 0:
                self._memory.pop(i, None)
            else:
                on_disk.append(i)
        if on_disk:
            self._delete(on_disk)

    def alias(self, uplink_id: int) -> int:
        """The id an uplink has now (an uplink moved from memory into the store got a store id)."""
        return self._moved.get(uplink_id, uplink_id)

    def __len__(self) -> int:
        """Uplinks queued: written (less those whose delete failed), being written, and in memory.

        A delete still on its way to the disk counts until it is written: never less than what is there.
        """
        stored = max(self._stored - len(self._unsent_deletes), 0) if self.store is not None else 0
        return stored + self._writing + len(self._memory)

    @property
    def writing(self) -> int:
        """Uplinks handed to the writer thread and not written yet (not durable: not offered by ``peek``)."""
        return self._writing

    @property
    def in_memory(self) -> int:
        """Uplinks waiting in memory (unprotected) because the store could not take them."""
        return len(self._memory)

    @property
    def dropped(self) -> int:
        return (self.store.dropped if self.store is not None else 0) + self.memory_dropped

    @property
    def lost(self) -> int:
        return int(getattr(self.store, "lost", 0)) + self.lost_at_close

    def snapshot(self) -> dict[str, object]:
        return {
            "ok": self.problem is None, "problem": self.problem, "queued": len(self), "in_memory": self.in_memory,
            "unprotected": self.unprotected, "store_errors": self.store_errors, "dropped": self.dropped,
            "lost": self.lost,
        }

    def close(self) -> None:
        """Write what was handed over, last try to put what waits in memory into the store (what cannot be is
        counted lost and logged), stop the writer thread (joined) and close the store."""
        self._writer.drain()
        self._retry_at = 0.0
        self._retry()
        if self._memory:
            self.lost_at_close += len(self._memory)
            log.error("%s: %d uplinks held in memory could not be stored and are lost at stop: %s",
                      self.server, len(self._memory), self.problem)
            self._memory.clear()
        self._writer.close()
        if self.store is not None:
            try:
                self.store.close()
            except Exception as exc:  # closing never stops the rest of the shutdown
                log.error("%s: closing the uplink store failed: %s", self.server, exc)

    # -- the writer's side (these run on the writer thread) --------------------

    def _write(self, store: QueueStore, group: list[_Batch], behind_memory: bool) -> _Written:
        """The batches submitted while the writer was busy, as one transaction (a busy loop hands the GIL over
        only every few milliseconds: one put per batch would fall behind a loop that makes batches faster)."""
        with self._lock:
            if self._next_put is group:
                self._next_put = None  # from now on, new batches start a group of their own
            batches = list(group)
        if self._halted or behind_memory:
            return _Written(batches, None, None, len(store))  # behind what waits in memory: into memory, in order
        try:
            ids = store.put_many([item for batch, _ in batches for item in batch])
        except Exception as exc:
            self._halted = True
            return _Written(batches, None, _store_error(exc, store), len(store))
        return _Written(batches, ids, None, len(store))

    @staticmethod
    def _remove(store: QueueStore, ids: list[int]) -> tuple[StoreError | None, int]:
        try:
            store.ack(ids)
        except Exception as exc:
            return _store_error(exc, store), len(store)
        return None, len(store)

    def _remove_next(self, store: QueueStore, batch: list[int]) -> tuple[list[int], tuple[StoreError | None, int]]:
        """The deletes gathered in ``batch`` (acknowledgements that came while the writer was busy)."""
        with self._lock:
            self._next_delete = None  # from now on, new deletes start a batch of their own
            ids = list(batch)
        return ids, self._remove(store, ids)

    def _recover(self, store: QueueStore, deletes: list[int], memory: list[StoredUplink]) -> _Recovered:
        """Write the deletes that failed, then move what waits in memory into the store, oldest first."""
        self._halted = True
        result = _Recovered()
        try:
            if deletes:
                result.error, _ = self._remove(store, deletes)
                if result.error is not None:
                    return result
                result.deleted = True
            for start in range(0, len(memory), MOVE_CHUNK):
                chunk = memory[start : start + MOVE_CHUNK]
                try:
                    ids = store.put_many([(u.payload, u.received_at) for u in chunk])
                except Exception as exc:
                    result.error = _store_error(exc, store)
                    return result
                result.moved.append((chunk, ids))
            has_room: Callable[[], bool] | None = getattr(store, "has_room", None)
            result.room = bool(memory) or has_room is None or has_room()
            self._halted = False
            return result
        finally:
            result.count = len(store)

    # -- back on the event loop ------------------------------------------------

    def _written(self, result: _Written) -> None:
        self._writing -= sum(len(batch) for batch, _ in result.batches)
        self._stored = result.count
        if result.ids is None and result.error is not None:
            self._failed(result.error)
        ids = result.ids
        # which of the group's uplinks got the ids: the first under drop-newest, the last under drop-oldest
        total = sum(len(batch) for batch, _ in result.batches)
        first = 0 if ids is None or self._store_policy == "drop-newest" else total - len(ids)
        offset = 0
        for batch, done in result.batches:
            if ids is None:
                accepted = self._to_memory(batch)
            else:
                start, end = max(first - offset, 0), min(first + len(ids) - offset, len(batch))
                accepted = [StoredUplink(ids[offset + k - first], bytes(batch[k][0]), batch[k][1])
                            for k in range(start, end)]
            offset += len(batch)
            if done is not None:
                done(accepted)

    def _removed(self, ids: list[int], outcome: tuple[StoreError | None, int]) -> None:
        error, self._stored = outcome
        self._deleting.difference_update(ids)
        if error is None:
            self._unsent_deletes.difference_update(ids)
        else:
            self._unsent_deletes.update(ids)
            self._failed(error)

    # -- degradation and recovery --------------------------------------------

    def _use(self, store: QueueStore) -> None:
        self.store = store
        self._stored = len(store)
        # a memory store has nothing to wait for; anything else writes (and syncs) on a thread of its own
        self._writer = InlineWriter() if isinstance(store, MemoryStore) else ThreadWriter(f"store-{self.server}")

    @property
    def _store_policy(self) -> str:
        return str(getattr(self.store, "policy", "drop-oldest"))

    def _kept(self, items: Sequence[_T], ids: Sequence[int]) -> Sequence[_T]:
        """Which of ``items`` got the ``ids``: the first under ``drop-newest``, the last under ``drop-oldest``."""
        if self._store_policy == "drop-newest":
            return items[: len(ids)]
        return items[len(items) - len(ids) :]

    def _to_memory(self, items: Sequence[tuple[bytes, float]]) -> list[StoredUplink]:
        added: list[StoredUplink] = []
        for payload, received_at in items:
            if len(self._memory) >= self.memory_max:
                self.memory_dropped += 1
                if self.policy == "drop-newest":
                    continue
                self._memory.popitem(last=False)
            item = StoredUplink(self._next_memory_id, bytes(payload), received_at)
            self._next_memory_id -= 1
            self._memory[item.id] = item
            added.append(item)
        # a batch larger than the memory's room under drop-oldest: only its newest are still there
        kept = [item for item in added if item.id in self._memory]
        self.unprotected += len(kept)
        return kept

    def _delete(self, ids: list[int]) -> None:
        if self.store is None:
            self._unsent_deletes.update(ids)
            return
        wanted = ids + sorted(self._unsent_deletes - self._deleting)  # those that failed ride along
        self._deleting.update(wanted)
        with self._lock:
            if self._next_delete is not None:  # a delete the writer has not started yet: one transaction for both
                self._next_delete.extend(wanted)
                return
            self._next_delete = batch = wanted
        store = self.store
        self._writer.submit(lambda: self._remove_next(store, batch), lambda outcome: self._removed(*outcome))

    def _failed(self, exc: StoreError) -> None:
        self.store_errors += 1
        if self.problem is None:
            log.warning("%s: %s; uplinks wait in memory (unprotected) until the store works again", self.server, exc)
        self.problem = f"{exc}; uplinks wait in memory (unprotected, lost on restart) until it works again"
        self._retry_at = self._clock() + self.retry_s

    def _open(self) -> None:
        assert self._opener is not None
        try:
            store = self._opener()
        except StoreError as exc:
            self._failed(exc)
        else:
            self._use(store)

    async def upkeep(self) -> None:
        """Run beside the forwarder: while degraded, try the store every ``retry_s`` even when no uplink comes."""
        while True:
            await asyncio.sleep(self.retry_s)
            self._retry()

    def _retry(self) -> None:
        """Every ``retry_s`` while degraded: reopen, write the deletes that failed, move memory into the store.

        In step with the writer thread (the loop waits for it): degraded, the disk is not keeping up anyway,
        and what waits in memory must not move while new batches queue behind it.
        """
        if self.problem is None or self._clock() < self._retry_at:
            return
        self._retry_at = self._clock() + self.retry_s
        if self.store is None:
            self._open()
            if self.store is None:
                return
        store = self.store
        self._writer.drain()  # what was handed over before is written, or back in memory
        deletes = sorted(self._unsent_deletes - self._deleting)
        memory = list(self._memory.values())
        result = self._writer.call(lambda: self._recover(store, deletes, memory))
        self._stored = result.count
        if result.deleted:
            self._unsent_deletes.difference_update(deletes)
        moved: dict[int, int] = {}
        for chunk, ids in result.moved:
            moved.update((u.id, i) for u, i in zip(self._kept(chunk, ids), ids, strict=True))
            for u in chunk:
                del self._memory[u.id]
        self._moved = moved
        if result.error is not None:
            self._failed(result.error)
            return
        if not result.room:
            return  # nothing was written to prove it works, and it would not take an uplink now
        if not self._memory and not self._unsent_deletes:
            log.info("%s: uplink store works again (%d uplinks moved into it from memory)", self.server, len(moved))
            self.problem = None


_Batch = tuple[list[tuple[bytes, float]], Callable[[list[StoredUplink]], None] | None]


@dataclass
class _Written:
    batches: list[_Batch]
    """What was submitted, in order, with its ``done``."""
    ids: list[int] | None
    """None: not written (into memory)."""
    error: StoreError | None
    count: int
    """The store's length after this write."""


@dataclass
class _Recovered:
    deleted: bool = False
    moved: list[tuple[list[StoredUplink], list[int]]] = field(default_factory=list)
    error: StoreError | None = None
    room: bool = True
    count: int = 0


def _store_error(exc: Exception, store: QueueStore) -> StoreError:
    """A failure on the writer thread as a ``StoreError`` (unexpected ones logged with their traceback)."""
    if isinstance(exc, StoreError):
        return exc
    log.error("uplink store %s: unexpected %s on the writer thread", getattr(store, "path", "in memory"),
              type(exc).__name__, exc_info=exc)
    return StoreError(f"write failed ({type(exc).__name__}: {exc})", path=Path(str(getattr(store, "path", "-"))))


class UplinkIntake:
    """A forwarder's way in: the gateway's merged uplinks as records in its queue, one store transaction per batch.

    ``encode`` turns an uplink into its server's record (payload, received_at), or None for one the server
    does not take. What the gateway emitted since the last look comes as one list and is written as one
    transaction; :meth:`submit` (tests, benches, a dispatcher of its own) gathers what one event-loop turn
    brings and writes it at the end of that turn. ``on_stored`` runs after each write: the forwarder's
    sender wakes and sends from the queue, so nothing leaves before it is durable.
    """

    def __init__(
        self,
        queue: UplinkQueue,
        encode: Callable[[ReceivedUplink], tuple[bytes, float] | None],
        on_stored: Callable[[], None],
    ) -> None:
        self.queue = queue
        self._encode = encode
        self._on_stored = on_stored
        self._pending: list[tuple[bytes, float]] = []
        self._ready = asyncio.Event()

    def submit(self, received: ReceivedUplink) -> None:
        """Queue one uplink; it is written to the store at the end of this loop turn."""
        record = self._encode(received)
        if record is not None:
            self._pending.append(record)
            if not self._ready.is_set():
                self._ready.set()

    @property
    def pending(self) -> int:
        """Uplinks taken but not written yet (this turn's)."""
        return len(self._pending)

    async def run(self, gateway: GatewayPort) -> None:
        """Take the gateway's uplinks until cancelled; what was taken is written before it returns."""
        batches = gateway.uplink_batches()
        encode, pending = self._encode, self._pending
        try:
            async with TaskGroup() as group:
                group.create_task(self._write_submitted(), name=f"{self.queue.server}-store")
                async for batch in batches:
                    for received in batch:
                        record = encode(received)
                        if record is not None:
                            pending.append(record)
                    self.flush()
        finally:
            self.flush()
            await _close(batches)

    async def _write_submitted(self) -> None:
        while True:
            await self._ready.wait()
            await asyncio.sleep(0)  # the rest of this turn's uplinks join the same transaction
            self._ready.clear()
            self.flush()

    def flush(self) -> None:
        """Hand what was taken to the store's writer (never raises: what the disk cannot take waits in memory);
        ``on_stored`` runs once it is durable."""
        if self._pending:
            items = self._pending[:]
            self._pending.clear()
            self.queue.submit(items, self._stored)

    def _stored(self, accepted: list[StoredUplink]) -> None:
        self._on_stored()


async def _close(iterator: AsyncIterator[object]) -> None:
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()
