from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

from wisgate.sim.board import SimBoard
from wisgate.sim.target import SimTarget

# HYPOTHESIS_PROFILE=long for a bug hunt: many more cases for every property without its own count
settings.register_profile("long", max_examples=20_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# daemons of module-scoped fixtures start before any test's own folder is set: their sockets stay out of
# /run/wisgate and of other checkouts' test runs too
os.environ.setdefault("WISGATE_RUNTIME_DIR", tempfile.mkdtemp(prefix="wisgate-run-"))


@pytest.fixture(autouse=True)
def state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Daemons started by a test keep their history in a folder of the test's own."""
    path = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("WISGATE_STATE_DIR", str(path))
    return path


@pytest.fixture(autouse=True)
def runtime_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's daemons lock the board in a folder of their own (tests run in parallel across checkouts)."""
    path = tmp_path_factory.mktemp("run")
    monkeypatch.setenv("WISGATE_RUNTIME_DIR", str(path))
    return path


@pytest.fixture
def board() -> SimBoard:
    return SimBoard()


class HardwareLikeTarget(SimTarget):
    """A simulated board seen the way a real one is: no picture of the panel, no keys made up, shutdown run.

    For tests of the paths commands take on hardware, with the simulated chips behind the bus."""

    @property
    def creates_missing_keys(self) -> bool:
        return False

    def save_display(self, path: Path) -> bool:
        return False

    @property
    def runs_shutdown(self) -> bool:
        return True
