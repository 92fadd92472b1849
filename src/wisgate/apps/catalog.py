"""Where catalog entries come from: the folder shipped in the package, then the user's catalog folders.

A catalog folder holds one folder per app. User folders come from ``--catalog DIR`` (CLI), the
``WISGATE_APPS_CATALOG`` environment variable (``:``-separated) and ``~/.config/wisgate/apps`` if it exists;
an app in a later folder replaces one with the same id from an earlier folder (so a user can pin another
version of a shipped app). A broken entry is reported and skipped; the others stay usable.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from wisgate.apps.errors import CatalogError
from wisgate.apps.manifest import MANIFEST, CatalogApp, load_app

SHIPPED_DIR = Path(__file__).resolve().parent / "catalog"
CATALOG_ENV = "WISGATE_APPS_CATALOG"
USER_DIR = Path("~/.config/wisgate/apps")


@dataclass
class Catalog:
    apps: dict[str, CatalogApp] = field(default_factory=dict)
    #: One line per entry that could not be loaded.
    errors: list[str] = field(default_factory=list)
    #: Shipped apps replaced by a user folder's entry: id -> that folder.
    overridden: dict[str, str] = field(default_factory=dict)

    def get(self, app_id: str) -> CatalogApp:
        app = self.apps.get(app_id)
        if app is not None:
            return app
        close = difflib.get_close_matches(app_id, list(self.apps), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; `wisgate apps list` shows the catalog"
        raise CatalogError(f"no app {app_id!r} in the catalog{hint}")

    def sorted(self) -> list[CatalogApp]:
        return [self.apps[k] for k in sorted(self.apps)]


def app_folders(catalog_dir: Path) -> list[Path]:
    if not catalog_dir.is_dir():
        raise CatalogError(f"{catalog_dir}: not a catalog folder (a folder of app folders)")
    return sorted(p for p in catalog_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def user_dirs(extra: Sequence[Path] = (), environ: dict[str, str] | None = None) -> list[Path]:
    env = os.environ if environ is None else environ
    dirs: list[Path] = []
    default = USER_DIR.expanduser()
    if default.is_dir():
        dirs.append(default)
    dirs += [Path(p).expanduser() for p in env.get(CATALOG_ENV, "").split(os.pathsep) if p]
    dirs += [Path(p).expanduser() for p in extra]
    return dirs


def load_catalog(extra: Sequence[Path] = (), *, shipped: bool = True, environ: dict[str, str] | None = None) -> Catalog:
    catalog = Catalog()
    sources: list[tuple[Path, str]] = [(SHIPPED_DIR, "shipped")] if shipped else []
    sources += [(d, str(d)) for d in user_dirs(extra, environ)]
    for directory, origin in sources:
        try:
            folders: Iterable[Path] = app_folders(directory)
        except CatalogError as exc:
            catalog.errors.append(str(exc))
            continue
        for folder in folders:
            if not (folder / MANIFEST).exists():
                continue
            try:
                app = load_app(folder, origin)
            except CatalogError as exc:
                catalog.errors.append(str(exc))
                continue
            previous = catalog.apps.get(app.id)
            if previous is not None:
                catalog.overridden[app.id] = origin
            catalog.apps[app.id] = app
    return catalog
