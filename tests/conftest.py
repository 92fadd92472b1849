from __future__ import annotations

import os

import pytest
from hypothesis import settings

from wisgate.sim.board import SimBoard

# HYPOTHESIS_PROFILE=long for a bug hunt: many more cases for every property without its own count
settings.register_profile("long", max_examples=20_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def board() -> SimBoard:
    return SimBoard()
