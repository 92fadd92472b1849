"""The configuration examples in the README and docs load as they are written."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from wisgate.config import parse_config

ROOT = Path(__file__).resolve().parent.parent


def toml_blocks(path: Path) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize("name", ["README.md", "docs/backhaul.md", "docs/services.md", "docs/hardware.md",
                                  "docs/industrial.md", "docs/mqtt.md"])
def test_config_examples_load(name: str) -> None:
    blocks = toml_blocks(ROOT / name)
    assert blocks, f"{name} has no TOML example"
    for block in blocks:
        parse_config(tomllib.loads(block), source=name)
