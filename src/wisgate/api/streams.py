"""Live streams over server-sent events: the board's events, its status, and the LoRa packets.

Each stream is a plain ``text/event-stream`` response whose frames are written here, so a packet is
serialised once (by the traffic log) however many clients follow it, and a burst of packets leaves
in one write. A quiet stream sends a comment every ``KEEPALIVE_S`` so proxies keep it open, and tells
the browser to come back after ``RETRY_MS`` when the daemon restarts.

Event ids are ``<run>.<seq>``: a client resuming with ``Last-Event-ID`` gets the events it missed
from this run's recent buffer; one that followed a previous run (the daemon restarted) gets every
recent event of this run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from starlette.responses import StreamingResponse

from wisgate.api.state import event_dict
from wisgate.lora.core.traffic import Packet
from wisgate.services.events import Event, EventBus
from wisgate.services.state import BoardState

KEEPALIVE_S = 15.0
#: a stream looks this often whether the daemon is stopping (it then ends cleanly, before uvicorn's
#: graceful-shutdown time runs out and it would cut the connection mid-stream)
WAKE_S = 0.5
RETRY_MS = 2000
#: the status stream's period when nothing happens (an event sends it at once)
STATUS_PERIOD_S = 1.0
#: packets written in one go when a client is behind
BATCH = 200

_SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {"description": "a stream of server-sent events", "content": {"text/event-stream": {"schema": {
        "type": "string", "description": "`event:`, `id:` and `data:` (one JSON object) lines per event"}}}},
    # written out: a model here would be shown as text/event-stream, the stream's own media type
    503: {"description": "too many connections at once (Retry-After: 1)",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorDetail"}}}},
}


class EventSourceResponse(StreamingResponse):
    """``text/event-stream`` from frames written here (FastAPI's own class would serialise each item)."""

    media_type = "text/event-stream"

    def __init__(self, frames: AsyncIterator[bytes], status_code: int = 200) -> None:
        # no-cache: a proxy must not hold the stream back; X-Accel-Buffering: nginx passes it on at once
        super().__init__(frames, status_code, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


class StreamGate:
    """Closed when the server stops: every open stream then ends its response properly."""

    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def sse(data: str, event: str, event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n".encode()


def event_frame(bus: EventBus, event: Event) -> bytes:
    return sse(json.dumps(event_dict(event), separators=(",", ":")), "event", f"{bus.run_id}.{event.seq}")


def missed(bus: EventBus, last_event_id: str | None) -> list[Event]:
    """The recent events a client resuming from ``last_event_id`` has not seen (none for a new client)."""
    if not last_event_id:
        return []
    run, _, seq = last_event_id.strip().partition(".")
    if run != bus.run_id or not seq.isdigit():
        return list(bus.recent)
    return [e for e in bus.recent if e.seq > int(seq)]


def streams_router(state: BoardState, status: Callable[[], dict[str, Any]], gate: StreamGate) -> APIRouter:
    router = APIRouter(tags=["live"])
    bus = state.events

    @router.get("/api/events/stream", response_class=EventSourceResponse, responses=_SSE_DOC,
                summary="Events as they happen (server-sent events; resumes from Last-Event-ID)")
    async def event_stream(
        last_event_id: Annotated[str | None, Header(max_length=64, description="the last id this client saw")] = None,
        recent: Annotated[bool, Query(description="a new client: start with this run's recent events")] = False,
    ) -> EventSourceResponse:
        subscription = bus.subscribe()
        replay = missed(bus, last_event_id) if last_event_id or not recent else list(bus.recent)

        async def frames() -> AsyncIterator[bytes]:
            try:
                yield f"retry: {RETRY_MS}\n\n".encode()
                seen = 0
                for event in replay:
                    seen = event.seq
                    yield event_frame(bus, event)
                quiet = 0.0
                while not gate.closed:
                    live = await subscription.get(WAKE_S)
                    if live is None:
                        quiet += WAKE_S
                        if quiet >= KEEPALIVE_S:
                            quiet = 0.0
                            yield b": keepalive\n\n"
                    elif live.seq > seen:
                        quiet = 0.0
                        yield event_frame(bus, live)
            finally:
                subscription.close()

        return EventSourceResponse(frames())

    @router.get("/api/status/stream", response_class=EventSourceResponse, responses=_SSE_DOC,
                summary="The status (as /api/status) every second, and at once when an event happens")
    async def status_stream() -> EventSourceResponse:
        wake = bus.subscribe(maxsize=16)

        async def frames() -> AsyncIterator[bytes]:
            try:
                yield f"retry: {RETRY_MS}\n\n".encode()
                next_status, woken = 0.0, True
                loop = asyncio.get_running_loop()
                while not gate.closed:
                    if loop.time() >= next_status or woken:
                        yield sse(json.dumps(status(), separators=(",", ":")), "status")
                        next_status = loop.time() + STATUS_PERIOD_S
                    woken = await wake.get(min(WAKE_S, max(0.0, next_status - loop.time()))) is not None
            finally:
                wake.close()

        return EventSourceResponse(frames())

    @router.get("/api/lora/stream", response_class=EventSourceResponse, responses=_SSE_DOC,
                summary="Every merged LoRa uplink of every module as it leaves the gateway, and every "
                "downlink with its outcome, decoded (events uplink and downlink)")
    async def packet_stream() -> EventSourceResponse:
        listener = state.lora.traffic.listen()

        async def frames() -> AsyncIterator[bytes]:
            try:
                yield f"retry: {RETRY_MS}\n\n".encode()
                queue = listener.queue
                quiet = 0.0
                while not gate.closed:
                    try:
                        kind, text = await _get(queue, WAKE_S)
                    except TimeoutError:
                        quiet += WAKE_S
                        if quiet >= KEEPALIVE_S:
                            quiet = 0.0
                            yield b": keepalive\n\n"
                        continue
                    quiet = 0.0
                    batch = [sse(text, kind)]
                    while not queue.empty() and len(batch) < BATCH:
                        kind, text = queue.get_nowait()
                        batch.append(sse(text, kind))
                    yield b"".join(batch)
            finally:
                listener.close()

        return EventSourceResponse(frames())

    return router


async def _get(queue: asyncio.Queue[Packet], timeout: float) -> Packet:
    async with asyncio.timeout(timeout):
        return await queue.get()
