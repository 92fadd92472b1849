"""The base of every response model: exactly the declared fields.

A key the code starts sending without the model (and so the OpenAPI document) declaring it is a
validation error, a 500 the tests find, rather than a silent difference between code and document.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
