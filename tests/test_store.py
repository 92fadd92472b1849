"""UplinkStore: FIFO order, ack, cap policies, persistence, power cut, corruption."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from small_fs import fill, free_bytes, small_filesystem

from wisgate.errors import ConfigError
from wisgate.lora.backhaul.store import (
    WAL_CHECKPOINT_PAGES,
    StoreCorruptError,
    StoredUplink,
    StoreError,
    StoreFullError,
    UplinkStore,
)


def _open(tmp_path: Path, **kw: object) -> UplinkStore:
    return UplinkStore(tmp_path / "srv.db", server="srv", **kw)  # type: ignore[arg-type]


def test_fifo_order_and_fields(tmp_path: Path) -> None:
    with _open(tmp_path) as store:
        ids = store.put_many([(b"a", 1.5), (b"b", 2.5)])
        ids.append(store.put(b"c", 3.5))
        assert ids == sorted(ids) and len(set(ids)) == 3
        assert len(store) == 3
        assert store.peek(2) == [StoredUplink(ids[0], b"a", 1.5), StoredUplink(ids[1], b"b", 2.5)]
        assert [u.payload for u in store.peek(10)] == [b"a", b"b", b"c"]
        assert store.peek(0) == []
        assert len(store) == 3  # peek does not consume


def test_ack_deletes_only_given_ids(tmp_path: Path) -> None:
    with _open(tmp_path) as store:
        ids = store.put_many([(bytes([i]), float(i)) for i in range(5)])
        store.ack([ids[1], ids[3], 9999])  # unknown id ignored
        assert [u.id for u in store.peek(10)] == [ids[0], ids[2], ids[4]]
        assert len(store) == 3
        store.ack([ids[1]])  # twice: no effect
        assert len(store) == 3
        store.ack([])
        store.ack(u.id for u in store.peek(10))
        assert len(store) == 0 and store.peek(5) == []


def test_cap_drop_oldest(tmp_path: Path) -> None:
    with _open(tmp_path, max_items=3) as store:
        store.put_many([(b"1", 0), (b"2", 0)])
        ids = store.put_many([(b"3", 0), (b"4", 0), (b"5", 0)])
        assert len(ids) == 3
        assert [u.payload for u in store.peek(10)] == [b"3", b"4", b"5"]
        assert store.dropped == 2
        # A batch larger than the cap keeps its newest items.
        store.put_many([(bytes([65 + i]), 0) for i in range(5)])
        assert [u.payload for u in store.peek(10)] == [b"C", b"D", b"E"]
        assert store.dropped == 2 + 3 + 2
        assert len(store) == 3


def test_cap_drop_newest(tmp_path: Path) -> None:
    with _open(tmp_path, max_items=3, policy="drop-newest") as store:
        assert len(store.put_many([(b"1", 0), (b"2", 0)])) == 2
        assert len(store.put_many([(b"3", 0), (b"4", 0), (b"5", 0)])) == 1
        assert store.put(b"6", 0) == -1
        assert [u.payload for u in store.peek(10)] == [b"1", b"2", b"3"]
        assert store.dropped == 3
        store.ack([store.peek(1)[0].id])
        assert store.put(b"7", 0) > 0
        assert [u.payload for u in store.peek(10)] == [b"2", b"3", b"7"]


def test_bad_options(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="policy"):
        _open(tmp_path, policy="drop-random")
    with pytest.raises(ConfigError, match="max_items"):
        _open(tmp_path, max_items=0)


def test_persists_across_reopen_and_ids_keep_growing(tmp_path: Path) -> None:
    store = _open(tmp_path, max_items=2)
    ids = store.put_many([(b"x", 1.0), (b"y", 2.0), (b"z", 3.0)])
    store.ack([ids[-1]])  # ack the newest: its id must not be reused
    store.close()
    store = _open(tmp_path, max_items=2)
    assert [u.payload for u in store.peek(10)] == [b"y"]
    assert store.dropped == 1 and len(store) == 1
    new = store.put(b"w", 4.0)
    assert new > ids[-1]
    assert [u.payload for u in store.peek(10)] == [b"y", b"w"]
    store.close()


def test_settings_are_durable(tmp_path: Path) -> None:
    with _open(tmp_path) as store:
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_the_wal_is_checkpointed_early_and_truncated_back(tmp_path: Path) -> None:
    """SQLite's default lets the WAL grow to 1,000 pages (4 MB) and never gives the space back."""
    with _open(tmp_path) as store:
        assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == WAL_CHECKPOINT_PAGES
        assert 0 < store._db.execute("PRAGMA journal_size_limit").fetchone()[0] <= store.wal_bytes
        for n in range(1500):  # one transaction each: two or three WAL pages
            store.put(b"x" * 300, float(n))
        assert (tmp_path / "srv.db-wal").stat().st_size <= store.wal_bytes


def test_max_bytes_bounds_the_files_wal_included(tmp_path: Path) -> None:
    with _open(tmp_path, max_bytes=700_000) as store:
        for n in range(3000):
            store.put(b"%06d" % n + b"x" * 300, float(n))
            assert store.disk_bytes() <= 700_000
        assert store.dropped > 1000  # drop-oldest made room: the newest are kept, in order
        assert [u.payload[:6] for u in store.peek(len(store))][-3:] == [b"002997", b"002998", b"002999"]
    with pytest.raises(ConfigError, match="max_bytes"):
        _open(tmp_path, max_bytes=100_000)


@pytest.mark.parametrize("policy", ["drop-oldest", "drop-newest"])
def test_a_1_mb_filesystem_never_fills(tmp_path: Path, policy: str) -> None:
    """A slow server acknowledges one uplink in four: the store stops short of the filesystem's end.

    Today's store failed after 110 uplinks with "database or disk is full" (its WAL took the whole
    filesystem), and from then on could not even delete.
    """
    with small_filesystem(tmp_path / "fs", 1 << 20) as fs:
        store = UplinkStore(fs / "s.db", server="s", policy=policy)
        refused, lowest = 0, free_bytes(fs)
        try:
            for n in range(5000):
                try:
                    store.put(b"%06d" % n + b"x" * 300, float(n))
                except StoreFullError:
                    refused += 1
                lowest = min(lowest, free_bytes(fs))
                if n % 4 == 0:
                    store.ack([store.peek(1)[0].id])
            assert lowest >= store.wal_bytes // 2  # the WAL always had room: deletes never failed
            assert len(store) > 1000
            kept = [int(u.payload[:6]) for u in store.peek(len(store))]
            assert kept == sorted(kept)
            if policy == "drop-oldest":
                assert refused == 0 and store.dropped > 1000 and kept[-1] == 4999
            else:  # refused whole, before anything was written: neither stored nor counted as dropped
                assert refused > 1000 and store.dropped == 0 and len(store) + refused + 1250 == 5000
            store.ack(u.id for u in store.peek(len(store)))
            assert len(store) == 0
        finally:
            store.close()


def test_space_taken_by_another_process_refuses_before_writing_then_recovers(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "fs", 1 << 20) as fs:
        store = UplinkStore(fs / "s.db", server="s", policy="drop-newest")
        try:
            store.put_many([(b"a" * 300, 0.0)] * 10)
            filler = fill(fs)
            with pytest.raises(StoreFullError, match=r"s\.db: full: .*reserve"):
                store.put(b"b", 1.0)
            assert len(store) == 10
            filler.unlink()  # space returns: no reopen needed
            store.put(b"c", 2.0)
            assert [u.payload for u in store.peek(20)][-1] == b"c" and len(store) == 11
        finally:
            store.close()


def test_a_failed_write_on_a_full_disk_leaves_the_store_usable(tmp_path: Path) -> None:
    """With no reserve the filesystem really fills: SQLite's write fails; once space returns, all works."""
    with small_filesystem(tmp_path / "fs", 1 << 20) as fs:
        store = UplinkStore(fs / "s.db", server="s", reserve_bytes=0)
        try:
            ids = store.put_many([(b"a" * 300, 0.0)] * 10)
            filler = fill(fs)
            failed = 0
            for _ in range(200):  # the WAL is reused after a checkpoint, so some writes may still fit
                try:
                    store.put(b"b" * 300, 1.0)
                except StoreError:
                    failed += 1
            assert failed > 0
            count = len(store)
            assert [u.id for u in store.peek(count)] == [u.id for u in store.peek(count + 5)]  # count is exact
            filler.unlink()
            store.ack(ids)
            store.put(b"c", 2.0)
            assert len(store) == count - 10 + 1
        finally:
            store.close()


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from wisgate.lora.backhaul.store import UplinkStore
    store = UplinkStore(Path(sys.argv[1]), server="srv")
    n = 0
    while True:
        batch = [(f"{n + i}".encode(), float(n + i)) for i in range(1 + n % 7)]
        ids = store.put_many(batch)
        n += len(batch)
        # Reported only after put_many returned: these must survive the kill.
        sys.stdout.write(" ".join(map(str, ids)) + "\\n")
        sys.stdout.flush()
    """
)


def test_power_cut_keeps_every_returned_put(tmp_path: Path) -> None:
    path = tmp_path / "cut.db"
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True, env={**os.environ}
    )
    assert child.stdout is not None
    returned: list[int] = []
    try:
        while len(returned) < 200:
            line = child.stdout.readline()
            assert line, "writer died early"
            returned.extend(int(x) for x in line.split())
    finally:
        child.send_signal(signal.SIGKILL)  # no close, no checkpoint, mid-transaction
        child.wait()
    with UplinkStore(path, server="srv") as store:
        stored = store.peek(1_000_000)
    by_id = {u.id: u.payload for u in stored}
    assert all(i in by_id for i in returned)
    # The ids count payloads in write order: id k holds payload "k-1".
    assert all(by_id[i] == str(i - 1).encode() for i in returned)
    assert [u.id for u in stored] == sorted(by_id)


def test_corrupt_file_names_the_file_and_recovers(tmp_path: Path) -> None:
    path = tmp_path / "bad.db"
    path.write_bytes(b"this is not sqlite" * 500)
    with pytest.raises(StoreCorruptError, match=r"bad\.db.*not a readable uplink database"):
        UplinkStore(path, server="srv")
    store = UplinkStore.recover(path, server="srv")
    assert len(store) == 0 and store.lost == 1
    store.put(b"new", 1.0)
    store.close()
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("bad.db.corrupt-")]
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not sqlite")
    with UplinkStore(path, server="srv") as again:
        assert again.lost == 1 and [u.payload for u in again.peek(5)] == [b"new"]


def test_damaged_pages_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "pages.db"
    with UplinkStore(path, server="srv") as store:
        store.put_many([(os.urandom(200), 0.0) for _ in range(300)])
    data = bytearray(path.read_bytes())
    assert len(data) > 8192
    data[4096:8192] = b"\xff" * 4096  # wipe a b-tree page
    path.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptError, match=r"pages\.db"):
        UplinkStore(path, server="srv")


def test_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreError, match=r"dir\.db") as info:
        UplinkStore(tmp_path / "dir.db", server="srv")
    assert not isinstance(info.value, StoreCorruptError)


def test_schema_version_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    UplinkStore(path, server="srv").close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value=99 WHERE key='schema'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="schema version 99"):
        UplinkStore(path, server="srv")


_ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.lists(st.binary(max_size=8), min_size=0, max_size=6)),
        st.tuples(st.just("peek"), st.integers(0, 8)),
        st.tuples(st.just("ack"), st.lists(st.integers(0, 10), max_size=4)),
        st.tuples(st.just("reopen"), st.none()),
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(ops=_ops, cap=st.integers(1, 8), policy=st.sampled_from(["drop-oldest", "drop-newest"]))
def test_matches_a_deque_model(ops: list[tuple[str, object]], cap: int, policy: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.db"
        store = UplinkStore(path, server="m", max_items=cap, policy=policy)
        model: deque[tuple[int, bytes]] = deque()
        dropped = 0
        try:
            for op, arg in ops:
                if op == "put":
                    payloads: list[bytes] = arg  # type: ignore[assignment]
                    ids = store.put_many([(p, 0.0) for p in payloads])
                    accepted = payloads if policy == "drop-oldest" else payloads[: max(cap - len(model), 0)]
                    if policy == "drop-oldest":
                        accepted = payloads[-cap:] if payloads else []
                    assert len(ids) == len(accepted)
                    model.extend(zip(ids, accepted, strict=True))
                    dropped += len(payloads) - len(accepted)
                    while len(model) > cap:
                        model.popleft()
                        dropped += 1
                elif op == "peek":
                    n: int = arg  # type: ignore[assignment]
                    assert [(u.id, u.payload) for u in store.peek(n)] == list(model)[:n]
                elif op == "ack":
                    # Indices into the current queue (out of range: an unknown id).
                    picks: list[int] = arg  # type: ignore[assignment]
                    chosen = {model[i][0] if i < len(model) else 10_000 + i for i in picks}
                    store.ack(chosen)
                    model = deque(item for item in model if item[0] not in chosen)
                else:
                    store.close()
                    store = UplinkStore(path, server="m", max_items=cap, policy=policy)
                assert len(store) == len(model)
                assert store.dropped == dropped
            assert [(u.id, u.payload) for u in store.peek(100)] == list(model)
            ids_sorted = [i for i, _ in model]
            assert ids_sorted == sorted(ids_sorted)
        finally:
            store.close()


def test_puts_are_synced_and_acks_ride_on_the_next_sync(tmp_path: Path) -> None:
    """A put commits with synchronous=FULL (on disk when it returns); an ack does not sync on its own."""
    with _open(tmp_path) as store:
        modes: list[tuple[str, int]] = []
        real = store._transaction

        @contextlib.contextmanager
        def spy(*, durable: bool = True) -> Iterator[sqlite3.Connection]:
            with real(durable=durable) as db:
                modes.append(("durable" if durable else "ack", db.execute("PRAGMA synchronous").fetchone()[0]))
                yield db

        store._transaction = spy  # type: ignore[method-assign]
        ids = store.put_many([(b"a", 0.0), (b"b", 0.0), (b"c", 0.0)])
        store.ack(ids[:2])
        store.put(b"d", 0.0)
        assert modes == [("durable", 2), ("ack", 1), ("durable", 2)]  # 2 = FULL, 1 = NORMAL
        assert [u.payload for u in store.peek(5)] == [b"c", b"d"]


def test_acks_of_scattered_ids_delete_exactly_those(tmp_path: Path) -> None:
    with _open(tmp_path) as store:
        ids = store.put_many([(n.to_bytes(2, "big"), 0.0) for n in range(300)])
        assert ids == list(range(ids[0], ids[0] + 300))  # one batch: consecutive ids
        gone = ids[5:9] + ids[10:11] + ids[100:240] + ids[299:] + [10_000]
        store.ack(reversed(gone))
        assert [u.id for u in store.peek(400)] == [i for i in ids if i not in set(gone)]
        assert len(store) == 300 - len(gone) + 1
