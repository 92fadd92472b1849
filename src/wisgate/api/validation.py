"""Request validation answers: 422 naming the field, also when the input was NaN or Infinity.

Python's JSON parser accepts the non-standard literals ``NaN``, ``Infinity`` and ``-Infinity`` (and
turns ``1e999`` into infinity). The request models refuse them (``allow_inf_nan=False``), but FastAPI's
422 echoes the offending input, and a response body holding a non-finite float cannot be written as
JSON: the refusal itself became a 500. Here the echoed values are written the way the client sent them.
"""

from __future__ import annotations

import math

from fastapi import HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ConfigDict

#: for every request body model: unknown fields, non-finite numbers and numbers sent as strings are errors
STRICT_BODY = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


def json_safe(value: object) -> object:
    """``value`` with every non-finite float replaced by its JSON literal as a string ("NaN", "Infinity")."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


async def validation_failed(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own 422 shape (``detail``: a list of ``loc``, ``msg``, ``type``, ``input``), always writable."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(status_code=422, content={"detail": json_safe(jsonable_encoder(exc.errors()))})


def unprocessable(location: tuple[str, ...], message: str) -> HTTPException:
    """A 422 for a check a model cannot express, in the shape of FastAPI's own (so the OpenAPI schema holds)."""
    return HTTPException(422, [{"loc": list(location), "msg": message, "type": "value_error"}])
