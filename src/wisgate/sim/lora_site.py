"""A simulated LoRaWAN site: one simulated Concentratord per module and a population of devices around.

Module channels come from the gateway's own channel-plan split, so the simulated radios listen where
the real ones would be configured to. Devices are spread over a disc around the gateway with SFs
that match their distance (the way ADR would settle), sub-GHz ones on the sub-GHz plan and 2.4 GHz
ones on the SX1280 module's channels.
"""

from __future__ import annotations

import functools
import math
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from wisgate.clock import Clock
from wisgate.lora.plans.allocation import ModuleAllocation
from wisgate.lora.plans.channels import Channel, ChannelKind
from wisgate.sim.concentratord import SimConcentratord, SimModule
from wisgate.sim.radio import RadioEnvironment, Receiver, SimDevice

#: Module crystals: counters drift up to this far from host time (and from each other).
MAX_DRIFT_PPM = 10.0


@dataclass
class SiteModule:
    board: int
    daemon: SimConcentratord
    event_url: str
    command_url: str


@dataclass
class SimLoraSite:
    allocations: list[ModuleAllocation]
    clock: Clock
    devices: int = 50
    radius_m: float = 3000.0
    mean_interval_s: float = 60.0
    seed: int = 7
    directory: Path | None = None
    modules: list[SiteModule] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if self.directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="wisgate-lora-")
            self.directory = Path(self._tmp.name)
        self.radio = RadioEnvironment(seed=self.seed)
        self._random = random.Random(self.seed)
        self._drift = random.Random(self.seed + 2)  # its own stream: sites stay as seeded before
        for allocation in self.allocations:
            module = allocation.module
            board = module.board
            events, commands = f"ipc://{self.directory}/event-{board}", f"ipc://{self.directory}/command-{board}"
            daemon = SimConcentratord(
                SimModule(
                    gateway_id=f"0016c001ff1{board:05x}",
                    board=board,
                    counter_offset_us=self._random.randrange(1 << 32),
                    # TCXO tolerance: each module's counter runs a few ppm fast or slow
                    drift_ppm=self._drift.uniform(-MAX_DRIFT_PPM, MAX_DRIFT_PPM),
                    tx_min_hz=module.tx_freq_min_hz or 0,
                    tx_max_hz=module.tx_freq_max_hz or 0,
                ),
                clock=self.clock, event_url=events, command_url=commands,
            )
            self.modules.append(SiteModule(board, daemon, events, commands))
            receiver = Receiver(daemon, allocation.channels)
            daemon.on_configure = functools.partial(_retune, receiver)  # remote configuration
            self.radio.receivers.append(receiver)
        self._populate()

    def _populate(self) -> None:
        sub_ghz = [c for a in self.allocations for c in a.channels if c.kind is ChannelKind.MULTI_SF]
        ghz24 = [c for a in self.allocations for c in a.channels_2g4]
        for n in range(self.devices):
            use_24 = bool(ghz24) and (not sub_ghz or n % 5 == 4)
            channels: list[Channel] = ghz24 if use_24 else sub_ghz
            if not channels:
                continue
            distance = self.radius_m * math.sqrt(self._random.random())
            angle = self._random.uniform(0, 2 * math.pi)
            sf = 7 + min(5, int(distance / (self.radius_m / 6)))
            device = SimDevice(
                dev_addr=0x26010000 + n,
                channels=channels,
                spreading_factor=sf,
                position=(distance * math.cos(angle), distance * math.sin(angle)),
                mean_interval_s=self.mean_interval_s,
                nwk_skey=self._random.randbytes(16),
                app_skey=self._random.randbytes(16),
                dev_eui=0x70B3D57ED0050000 + n if n % 10 == 0 else None,
            )
            self.radio.add_device(device)

    def start(self) -> SimLoraSite:
        for module in self.modules:
            module.daemon.start()
        return self

    def step(self) -> int:
        """Deliver everything the radio produced up to now."""
        return self.radio.run_until(self.clock.monotonic())

    def stop(self) -> None:
        for module in self.modules:
            module.daemon.stop()
        if self._tmp is not None:
            self._tmp.cleanup()


def _retune(receiver: Receiver, channels: list[Channel]) -> None:
    receiver.channels = channels  # one assignment: the radio thread sees the old list or the new one
