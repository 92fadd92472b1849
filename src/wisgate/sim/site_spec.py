"""What the simulated LoRa site is made of, as the daemon hands it to the site's own process (JSON on its command line).

The daemon places the channel plan on the modules (:func:`wisgate.lora.plans.site.sim_allocations`) and keeps
the modules' descriptions for its JIT queues; the site needs only each module's board, channels and TX range,
the device population's settings, where to bind its Concentratord endpoints and where the board's time is
published. Nothing here is secret (no network server, no key): a command line is fine.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wisgate.lora.plans.channels import Channel, ChannelKind

if TYPE_CHECKING:
    from wisgate.config import LoraSimSection
    from wisgate.lora.plans.allocation import ModuleAllocation

#: a Unix socket's path (sun_path) holds 107 bytes; ipc:// endpoints longer than this cannot be bound
IPC_PATH_MAX = 100


@dataclass(frozen=True)
class RadioSpec:
    """One simulated concentrator module: its board number, the channels it listens on, its TX range (0: none)."""

    board: int
    channels: tuple[Channel, ...]
    tx_min_hz: int = 0
    tx_max_hz: int = 0


@dataclass(frozen=True)
class SiteSpec:
    radios: tuple[RadioSpec, ...]
    #: where the Concentratord endpoints are bound (``event-N`` and ``command-N``)
    directory: Path
    #: where the daemon publishes the board's time (:mod:`wisgate.sim.shared_time`)
    time_file: Path
    devices: int = 50
    radius_m: float = 3000.0
    mean_interval_s: float = 60.0
    seed: int = 7

    @classmethod
    def build(cls, allocations: Sequence[ModuleAllocation], sim: LoraSimSection, directory: Path,
              time_file: Path) -> SiteSpec:
        radios = tuple(
            RadioSpec(a.module.board, tuple(a.channels), a.module.tx_freq_min_hz or 0, a.module.tx_freq_max_hz or 0)
            for a in allocations
        )
        return cls(radios, directory, time_file, devices=sim.devices, radius_m=sim.radius_m,
                   mean_interval_s=sim.mean_interval_s, seed=sim.seed)

    def event_url(self, board: int) -> str:
        return f"ipc://{self.directory}/event-{board}"

    def command_url(self, board: int) -> str:
        return f"ipc://{self.directory}/command-{board}"

    def to_json(self) -> str:
        return json.dumps({
            "radios": [{"board": r.board, "tx_min_hz": r.tx_min_hz, "tx_max_hz": r.tx_max_hz,
                        "channels": [[c.frequency_hz, c.kind.value, c.bandwidth_hz, c.spreading_factor,
                                      c.datarate_bps] for c in r.channels]} for r in self.radios],
            "directory": str(self.directory), "time_file": str(self.time_file), "devices": self.devices,
            "radius_m": self.radius_m, "mean_interval_s": self.mean_interval_s, "seed": self.seed,
        })

    @classmethod
    def from_json(cls, text: str) -> SiteSpec:
        raw: dict[str, Any] = json.loads(text)
        radios = tuple(
            RadioSpec(int(r["board"]), tuple(
                Channel(int(f), ChannelKind(kind), int(bw), None if sf is None else int(sf),
                        None if dr is None else int(dr))
                for f, kind, bw, sf, dr in r["channels"]
            ), int(r["tx_min_hz"]), int(r["tx_max_hz"]))
            for r in raw["radios"]
        )
        return cls(radios, Path(raw["directory"]), Path(raw["time_file"]), devices=int(raw["devices"]),
                   radius_m=float(raw["radius_m"]), mean_interval_s=float(raw["mean_interval_s"]),
                   seed=int(raw["seed"]))


def site_directory(runtime: Path) -> Path:
    """A private folder for one site's endpoints and time file in the runtime directory ``runtime`` (or, where
    that path is too long for a Unix socket, in the temporary directory), named after this daemon's PID; the
    folders of daemons that no longer run (killed before they could remove theirs) are removed first."""
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    remove_stale(runtime)
    prefix = f"lora-site-{os.getpid()}-"
    directory = Path(tempfile.mkdtemp(prefix=prefix, dir=runtime))
    if len(f"{directory}/command-00") <= IPC_PATH_MAX:
        return directory
    os.rmdir(directory)
    remove_stale(Path(tempfile.gettempdir()), prefix="wisgate-lora-site-")
    return Path(tempfile.mkdtemp(prefix=f"wisgate-{prefix}"))


def remove_stale(folder: Path, *, prefix: str = "lora-site-") -> None:
    for path in folder.glob(f"{prefix}*-*"):
        pid = path.name.removeprefix(prefix).split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
