"""The whole daemon (every service ``wisgate run`` starts) in this process on a real-time simulated
board, its event loop in a thread, serving HTTP on a free loopback port; and a server-sent events reader."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from lora_rig import free_port

from wisgate.config import Config, parse_config
from wisgate.services.daemon import build_supervisor
from wisgate.services.history import History
from wisgate.sim.target import SimTarget
from wisgate.target import open_target

T = TypeVar("T")


class LiveDaemon:
    def __init__(self, folder: Path, *, token: str | None = None, devices: int = 20, interval_s: float = 2.0,
                 port: int | None = None, **sections: dict[str, Any]) -> None:
        self.port = port or free_port()
        raw: dict[str, Any] = {
            "monitor": {"interval_s": 0.5}, "fan": {"interval_s": 0.5}, "display": {"interval_s": 0.2},
            "power": {"shutdown_after_s": 0},
            "lora": {"traffic_url": f"tcp://127.0.0.1:{free_port()}", "store_dir": str(folder / "store"),
                     "sim": {"devices": devices, "mean_interval_s": interval_s}},
            "api": {"port": self.port, **({"token": token} if token else {})},
            "history": {"path": str(folder / "history.sqlite")},
        }
        for name, values in sections.items():
            raw[name] = {**raw.get(name, {}), **values}
        self.config: Config = parse_config(raw)
        target = open_target("sim", realtime=True)
        assert isinstance(target, SimTarget)
        self.target = target
        self.history = History(folder / "history.sqlite")
        self.supervisor = build_supervisor(target, self.config, self.history)
        self.loop = asyncio.new_event_loop()
        self.stopping = asyncio.Event()
        self.thread = threading.Thread(target=self.loop.run_until_complete,
                                       args=(self.supervisor.run(self.stopping),), daemon=True)
        self.thread.start()
        self._wait_until_up()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the API never listened")

    def on_board(self, func: Callable[[], T]) -> T:
        """Run ``func`` where the simulation runs (the bus worker), as a physical change would happen."""
        return asyncio.run_coroutine_threadsafe(self.target.worker.run(func), self.loop).result(5)

    def on_loop(self, func: Callable[[], T]) -> T:
        async def call() -> T:
            return func()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(5)

    def cut_supply(self) -> None:
        self.on_board(self.target.board.env.supply.cut)

    def restore_supply(self) -> None:
        self.on_board(self.target.board.env.supply.restore)

    def request(self, method: str, path: str, body: Any = None, *, token: str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        sent = {**(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        if token:
            sent["Authorization"] = f"Bearer {token}"
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            raw = response.read()
            kind = response.getheader("content-type") or ""
            return response.status, json.loads(raw) if "json" in kind else raw
        finally:
            connection.close()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(15)
        self.loop.close()
        self.target.close()


@dataclass
class SseEvent:
    event: str
    data: Any
    id: str | None


class SseReader:
    """A server-sent events client over one real connection."""

    def __init__(self, port: int, path: str, *, headers: dict[str, str] | None = None, timeout: float = 10) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.connection.request("GET", path, headers={"Accept": "text/event-stream", **(headers or {})})
        self.response = self.connection.getresponse()
        assert self.response.status == 200, self.response.status
        assert self.response.getheader("content-type", "").startswith("text/event-stream")

    def events(self) -> Iterator[SseEvent]:
        fields: dict[str, str] = {}
        while True:
            line = self.response.readline()
            if not line:
                return
            text = line.decode().rstrip("\n")
            if text == "":
                if "data" in fields:
                    yield SseEvent(fields.get("event", "message"), json.loads(fields["data"]), fields.get("id"))
                fields = {}
            elif not text.startswith(":"):
                key, _, value = text.partition(": ")
                fields[key] = value

    def until(self, predicate: Callable[[SseEvent], bool], timeout: float = 10) -> SseEvent:
        deadline = time.monotonic() + timeout
        for event in self.events():
            if predicate(event):
                return event
            if time.monotonic() > deadline:
                break
        raise AssertionError("the stream never sent the event looked for")

    def close(self) -> None:
        self.connection.close()
