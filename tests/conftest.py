from __future__ import annotations

import pytest

from wisgate.sim.board import SimBoard


@pytest.fixture
def board() -> SimBoard:
    return SimBoard()
