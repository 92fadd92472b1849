"""A simulated LoRaWAN site: one simulated Concentratord per module and a population of devices around.

Module channels come from the gateway's own channel-plan split (the daemon's, handed over in the
:class:`~wisgate.sim.site_spec.SiteSpec`), so the simulated radios listen where the real ones would be
configured to. Devices are spread over a disc around the gateway with SFs that match their distance (the way
ADR would settle), sub-GHz ones on the sub-GHz plan and 2.4 GHz ones on the SX1280 module's channels.

The site runs in a process of its own (:mod:`wisgate.sim.lora_site_child`), beside the daemon as
Concentratord runs beside it on hardware; tests may run it in theirs.
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass, field

from wisgate.clock import Clock
from wisgate.lora.plans.channels import Channel, ChannelKind
from wisgate.sim.concentratord import SimConcentratord, SimModule
from wisgate.sim.radio import RadioEnvironment, Receiver, SimDevice
from wisgate.sim.site_spec import SiteSpec

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
    """The site of ``spec`` on ``clock``; its devices start sending from the clock's time now."""

    spec: SiteSpec
    clock: Clock
    modules: list[SiteModule] = field(default_factory=list)

    def __post_init__(self) -> None:
        spec = self.spec
        self.radio = RadioEnvironment(seed=spec.seed, start_s=self.clock.monotonic())
        self._random = random.Random(spec.seed)
        self._drift = random.Random(spec.seed + 2)  # its own stream: sites stay as seeded before
        for radio in spec.radios:
            board = radio.board
            events, commands = spec.event_url(board), spec.command_url(board)
            daemon = SimConcentratord(
                SimModule(
                    gateway_id=f"0016c001ff1{board:05x}",
                    board=board,
                    counter_offset_us=self._random.randrange(1 << 32),
                    # TCXO tolerance: each module's counter runs a few ppm fast or slow
                    drift_ppm=self._drift.uniform(-MAX_DRIFT_PPM, MAX_DRIFT_PPM),
                    tx_min_hz=radio.tx_min_hz,
                    tx_max_hz=radio.tx_max_hz,
                ),
                clock=self.clock, event_url=events, command_url=commands,
            )
            self.modules.append(SiteModule(board, daemon, events, commands))
            receiver = Receiver(daemon, list(radio.channels))
            daemon.on_configure = functools.partial(_retune, receiver)  # remote configuration
            self.radio.receivers.append(receiver)
        self._populate()

    def _populate(self) -> None:
        spec = self.spec
        sub_ghz = [c for r in spec.radios for c in r.channels if c.kind is ChannelKind.MULTI_SF]
        ghz24 = [c for r in spec.radios for c in r.channels if c.kind is ChannelKind.LORA_2G4]
        for n in range(spec.devices):
            use_24 = bool(ghz24) and (not sub_ghz or n % 5 == 4)
            channels: list[Channel] = ghz24 if use_24 else sub_ghz
            if not channels:
                continue
            distance = spec.radius_m * math.sqrt(self._random.random())
            angle = self._random.uniform(0, 2 * math.pi)
            sf = 7 + min(5, int(distance / (spec.radius_m / 6)))
            device = SimDevice(
                dev_addr=0x26010000 + n,
                channels=channels,
                spreading_factor=sf,
                position=(distance * math.cos(angle), distance * math.sin(angle)),
                mean_interval_s=spec.mean_interval_s,
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


def _retune(receiver: Receiver, channels: list[Channel]) -> None:
    receiver.channels = channels  # one assignment: the radio thread sees the old list or the new one
