"""The configuration of the daemon running in this process (one per process), for the apps HTTP API.

``wisgate run`` records it when it builds its services; the API's app endpoints read it so an install
keeps off the slots and ports the daemon's gateway and API use. Outside a daemon it is None.
"""

from __future__ import annotations

from wisgate.config import Config

_running: list[Config] = []


def set_running_config(config: Config | None) -> None:
    _running[:] = [config] if config is not None else []


def running_config() -> Config | None:
    return _running[0] if _running else None
