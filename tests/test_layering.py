"""The layers hold: services and drivers never reach for a backend, and the hardware path never loads the simulator.

Imports are read from the source (every ``import``, also those inside functions and under TYPE_CHECKING),
so a lazy import cannot slip past.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "wisgate"

#: what each layer may not import (a module or anything under it)
FORBIDDEN = {
    "services": ("wisgate.sim", "gpiod", "evdev", "smbus2"),
    # the kernel expander driver reads lines through libgpiod on purpose; the simulator and raw I2C are off limits
    "chips": ("wisgate.sim", "smbus2"),
    # the simulator models chips at the register level; the drivers over its bus come from the base Target
    "sim": ("wisgate.chips",),
}


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path = PACKAGE.parent) -> set[str]:
    """Every module ``path`` (a file under source root ``root``) imports, relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            found.add(stem)
            # ``from wisgate import sim`` imports a module too
            found.update(f"{stem}.{alias.name}" for alias in node.names)
    return found


def breaks(module: str, forbidden: tuple[str, ...]) -> bool:
    return any(module == f or module.startswith(f + ".") for f in forbidden)


def layer_files(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


def test_the_import_reader_sees_lazy_relative_and_from_imports(tmp_path: Path) -> None:
    probe = tmp_path / "wisgate" / "services" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ..sim.board import SimBoard\n"
        "def f() -> None:\n    import smbus2\n    from wisgate import sim\n"
        "from . import events\n"
    )
    found = imported_modules(probe, tmp_path)
    assert {"wisgate.sim.board", "smbus2", "wisgate.sim", "wisgate.services.events"} <= found
    assert breaks("wisgate.sim.board", FORBIDDEN["services"]) and not breaks("wisgate.simple", FORBIDDEN["services"])
    # the simulator's own chip models are not the drivers
    assert breaks("wisgate.chips.pcf85063a", FORBIDDEN["sim"])
    assert not breaks("wisgate.sim.chips.ssd1306", FORBIDDEN["sim"])


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_no_backend(layer: str) -> None:
    files = layer_files(layer)
    assert len(files) > 3, f"no modules found under {PACKAGE / layer}"
    offences = [
        f"{path.relative_to(PACKAGE.parent)} imports {module}"
        for path in files
        for module in sorted(imported_modules(path))
        if breaks(module, FORBIDDEN[layer])
    ]
    assert offences == []


def test_importing_the_hardware_path_leaves_the_simulator_unloaded() -> None:
    code = (
        "import sys\n"
        "import wisgate.hardware, wisgate.target, wisgate.services.daemon, wisgate.commands.run\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m == 'wisgate.sim' or m.startswith('wisgate.sim.'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == []
