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
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from itertools import islice
from typing import Protocol

from wisgate.aio import TaskGroup
from wisgate.lora.backhaul.store import StoredUplink, StoreError
from wisgate.lora.core.types import GatewayPort, ReceivedUplink

log = logging.getLogger("wisgate.lora.store")

#: Uplinks moved from memory into the store per transaction when it works again.
MOVE_CHUNK = 256


class QueueStore(Protocol):
    """What the queue needs of a store (:class:`~wisgate.lora.backhaul.store.UplinkStore` or :class:`MemoryStore`)."""

    def put_many(self, items: Sequence[tuple[bytes, float]]) -> list[int]: ...
    def peek(self, limit: int) -> list[StoredUplink]: ...
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

    def peek(self, limit: int) -> list[StoredUplink]:
        return list(islice(self._items.values(), max(limit, 0)))

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
    """A server's queue: the store, with memory as the fallback; no method raises for a disk problem but ``peek``."""

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
        self.store = store
        self._memory: OrderedDict[int, StoredUplink] = OrderedDict()
        self._next_memory_id = -1  # memory ids are negative: never confused with the store's
        self._unsent_deletes: set[int] = set()
        self._moved: dict[int, int] = {}  # memory id -> store id, for acks of what was in flight when moved
        self._retry_at = 0.0
        self.problem: str | None = None
        self.store_errors = 0
        self.unprotected = 0
        self.memory_dropped = 0
        self.lost_at_close = 0
        if self.store is None:
            self._open()

    # -- the queue -----------------------------------------------------------

    def put(self, items: Sequence[tuple[bytes, float]]) -> list[StoredUplink]:
        """Queue uplinks (payload, received_at); returns those accepted, in order, with their ids.

        An uplink left out was dropped by the cap policy (counted in ``dropped``).
        """
        if not items:
            return []
        self._retry()
        if self.store is not None and not self._memory:
            try:
                ids = self.store.put_many(items)
            except StoreError as exc:
                self._failed(exc)
            else:
                kept = items[: len(ids)] if self._store_policy == "drop-newest" else items[len(items) - len(ids) :]
                return [StoredUplink(i, bytes(p), t) for i, (p, t) in zip(ids, kept, strict=True)]
        return self._to_memory(items)

    def peek(self, limit: int) -> list[StoredUplink]:
        """The oldest ``limit`` uplinks, the store's first; ``StoreError`` if the store cannot be read."""
        self._retry()
        out: list[StoredUplink] = []
        if self.store is not None and len(self.store) > len(self._unsent_deletes):
            skip = self._unsent_deletes
            try:
                rows = self.store.peek(limit + len(skip))
            except StoreError as exc:
                self._failed(exc)
                raise
            out = [row for row in rows if row.id not in skip][:limit]
        if len(out) < limit and self._memory:
            out.extend(islice(self._memory.values(), limit - len(out)))
        return out

    def ack(self, ids: Iterable[int]) -> None:
        """Delivered: forget these uplinks (a delete the store cannot write now is retried later)."""
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
        stored = len(self.store) - len(self._unsent_deletes) if self.store is not None else 0
        return stored + len(self._memory)

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
        """Last try to put what waits in memory into the store; what cannot be is counted lost and logged."""
        self._retry_at = 0.0
        self._retry()
        if self._memory:
            self.lost_at_close += len(self._memory)
            log.error("%s: %d uplinks held in memory could not be stored and are lost at stop: %s",
                      self.server, len(self._memory), self.problem)
            self._memory.clear()
        if self.store is not None:
            try:
                self.store.close()
            except Exception as exc:  # closing never stops the rest of the shutdown
                log.error("%s: closing the uplink store failed: %s", self.server, exc)

    # -- degradation and recovery --------------------------------------------

    @property
    def _store_policy(self) -> str:
        return str(getattr(self.store, "policy", "drop-oldest"))

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
        wanted = ids + sorted(self._unsent_deletes)
        try:
            self.store.ack(wanted)
        except StoreError as exc:
            self._unsent_deletes.update(ids)
            self._failed(exc)
        else:
            self._unsent_deletes.clear()

    def _failed(self, exc: StoreError) -> None:
        self.store_errors += 1
        if self.problem is None:
            log.warning("%s: %s; uplinks wait in memory (unprotected) until the store works again", self.server, exc)
        self.problem = f"{exc}; uplinks wait in memory (unprotected, lost on restart) until it works again"
        self._retry_at = self._clock() + self.retry_s

    def _open(self) -> None:
        assert self._opener is not None
        try:
            self.store = self._opener()
        except StoreError as exc:
            self._failed(exc)

    async def upkeep(self) -> None:
        """Run beside the forwarder: while degraded, try the store every ``retry_s`` even when no uplink comes."""
        while True:
            await asyncio.sleep(self.retry_s)
            self._retry()

    def _retry(self) -> None:
        """Every ``retry_s`` while degraded: reopen, write the deletes that failed, move memory into the store."""
        if self.problem is None or self._clock() < self._retry_at:
            return
        self._retry_at = self._clock() + self.retry_s
        if self.store is None:
            self._open()
            if self.store is None:
                return
        if self._unsent_deletes:
            self._delete([])
            if self._unsent_deletes:
                return
        moved: dict[int, int] = {}
        while self._memory:
            chunk = list(islice(self._memory.values(), MOVE_CHUNK))
            try:
                ids = self.store.put_many([(u.payload, u.received_at) for u in chunk])
            except StoreError as exc:
                self._failed(exc)
                break
            kept = chunk[: len(ids)] if self._store_policy == "drop-newest" else chunk[len(chunk) - len(ids) :]
            moved.update((u.id, i) for u, i in zip(kept, ids, strict=True))
            for u in chunk:
                del self._memory[u.id]
        self._moved = moved
        has_room: Callable[[], bool] | None = getattr(self.store, "has_room", None)
        if not moved and has_room is not None and not has_room():
            return  # nothing was written to prove it works, and it would not take an uplink now
        if not self._memory and not self._unsent_deletes:
            log.info("%s: uplink store works again (%d uplinks moved into it from memory)", self.server, len(moved))
            self.problem = None


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
        """Write what was taken (never raises: what the disk cannot take waits in memory)."""
        if self._pending:
            items = self._pending[:]
            self._pending.clear()
            self.queue.put(items)
            self._on_stored()


async def _close(iterator: AsyncIterator[object]) -> None:
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()
