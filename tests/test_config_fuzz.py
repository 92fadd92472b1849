"""Config fuzz (bench/config_fuzz.py): known-bad files refused naming their key; no traceback, nothing broken run."""

from __future__ import annotations

import random
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import config_fuzz  # noqa: E402


def test_every_known_bad_file_is_refused_naming_its_key(tmp_path: Path) -> None:
    cases = config_fuzz.known_bad_cases(tmp_path)
    assert len(cases) >= 100
    outcomes = {name: config_fuzz.judge(path, key, run_s=1.0) for name, path, key in cases}
    wrong = {name: (o.kind, o.detail) for name, o in outcomes.items() if o.kind != "refused-naming-key"}
    assert wrong == {}
    for outcome in outcomes.values():
        assert "Traceback" not in outcome.detail and "pydantic" not in outcome.detail


def test_random_mutations_never_crash_nor_run_broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a mutated store_dir such as 5 is a relative path: keep it out of the checkout
    base = config_fuzz.base_config(tmp_path)
    rng = random.Random(1218)
    kinds: Counter[str] = Counter()
    for n in range(40):
        text, key = config_fuzz.random_mutation(base, rng)
        path = tmp_path / f"m{n}.toml"
        path.write_text(text, encoding="utf-8")
        outcome = config_fuzz.judge(path, key, run_s=1.0)
        assert outcome.kind in ("refused-naming-key", "accepted-runs"), (key, outcome)
        kinds[outcome.kind] += 1
    assert kinds["refused-naming-key"] >= 30
