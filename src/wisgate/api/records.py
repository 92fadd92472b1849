"""The API over what the daemon kept: readings' history and events, paged.

Both come from the SQLite history when the daemon keeps one; without it, events come from the
stream's recent buffer (this run only) and there is no reading history (404 saying so).
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status

from wisgate.api.errors import errors
from wisgate.api.models import EventsPageOut, HistoryNamesOut, SamplesOut
from wisgate.api.state import event_dict
from wisgate.api.validation import unprocessable
from wisgate.services.history import TIERS
from wisgate.services.state import BoardState

STEPS = tuple(step for step, _ in TIERS)
#: the longest range a history request may cover (the coarsest tier's retention)
MAX_RANGE_S = TIERS[-1][1]
#: a ``since`` beyond this (2100-01-01) is not a time
LATEST_EPOCH_S = 4_102_444_800


def records_router(state: BoardState) -> APIRouter:
    router = APIRouter(tags=["history"])

    def history_or_404() -> Any:
        if state.history is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "this daemon keeps no history ([history] enabled = false "
                                "or its file could not be opened)")
        return state.history

    @router.get("/api/history", summary="The readings the history holds", response_model=HistoryNamesOut,
                responses=errors(404, e404="this daemon keeps no history"))
    async def names() -> dict[str, Any]:
        history = history_or_404()
        return {"names": await asyncio.to_thread(history.names), "steps_s": list(STEPS)}

    @router.get("/api/history/{name}", summary="A reading's mean, min and max over time (columns, oldest first)",
                response_model=SamplesOut, responses=errors(404, e404="no history, or none for this reading"))
    async def samples(
        name: Annotated[str, Path(max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")],
        since: Annotated[float | None, Query(description="epoch seconds (default: an hour ago); a negative "
                                              "number means that many seconds back", ge=-MAX_RANGE_S,
                                              le=LATEST_EPOCH_S, allow_inf_nan=False)] = None,
        step: Annotated[int | None, Query(description="bucket seconds: 10 (kept a day) or 60 (kept a month); "
                                          "default: the finest that covers the range",
                                          json_schema_extra={"enum": list(STEPS)})] = None,
    ) -> dict[str, Any]:
        history = history_or_404()
        if step is not None and step not in STEPS:
            raise unprocessable(("query", "step"), f"step: {step} is not one of {list(STEPS)}")
        now = time.time()
        start = now - 3600 if since is None else (now + since if since < 0 else since)
        start = min(max(start, now - MAX_RANGE_S), now)
        rows = await asyncio.to_thread(lambda: history.samples(name, since=start, step=step))
        # a reading the daemon has but has not stored yet (its first bucket is open) has an empty history
        if not rows and name not in state.readings and name not in await asyncio.to_thread(history.names):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no history for reading {name!r}")
        used = step or next((s for s, kept in TIERS if now - start <= kept), TIERS[-1][0])
        return {
            "name": name, "step_s": used, "since": start, "unit": rows[0].unit if rows else "",
            "t": [r.t for r in rows], "mean": [r.mean for r in rows], "min": [r.min for r in rows],
            "max": [r.max for r in rows],
        }

    @router.get("/api/events", summary="Events, oldest first, a page at a time (from the history when kept)",
                response_model=EventsPageOut)
    async def events(after: Annotated[int, Query(ge=0, le=2**62, description="only events after this seq")] = 0,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
        history = state.history
        if history is not None:
            stored = await asyncio.to_thread(lambda: history.events(after_seq=after, limit=limit))
            page = [event_dict(e) for e in stored]
            source = "history"
        else:
            page = [event_dict(e) for e in state.events.recent if e.seq > after][:limit]
            source = "memory"
        return {"events": page, "source": source, "next": page[-1]["seq"] if page else after,
                "more": len(page) == limit}

    return router
