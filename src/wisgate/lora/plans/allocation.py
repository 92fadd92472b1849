"""Placing a channel plan on the installed concentrator modules (reference §1.7, §1.8, §6.1-6.3, §9.1).

An SX1301/SX1302/SX1303 has two radios (1 MHz RX bandwidth each), 8 multi-SF IF chains, one
standard LoRa chain and one FSK chain; every channel is an IF offset from its radio's centre.
Limits on |IF|: 400 kHz for 125 kHz channels (Basic Station's rule), 375 kHz at 250 kHz (channel
edge at the 500 kHz radio edge) and 300 kHz at 500 kHz (the sx1302_hal US915 reference layout puts
the 500 kHz channel at +300 kHz). The SX1280 2.4 GHz board has three fixed-SF channels.

The split walks the multi-SF channels in frequency order and gives each radio a run of neighbours
that fits its window, longest run first, backtracking when the standard or FSK channel of a module
then has no radio to sit on. It is exhaustive for realistic plans (≤ 4 modules) and bounded; a plan
that cannot be placed raises :class:`PlanError` naming the channel that does not fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wisgate.lora.errors import PlanError
from wisgate.lora.plans.channels import Channel, ChannelKind, ChannelPlan

IF_LIMIT_HZ = {125_000: 400_000, 250_000: 375_000, 500_000: 300_000}
CENTRE_GRID_HZ = 100_000
SEARCH_BUDGET = 200_000


@dataclass(frozen=True, slots=True)
class ModuleSpec:
    chip: str
    radios: int = 2
    multi_sf: int = 8
    lora_std: int = 1
    fsk: int = 1
    channels_2g4: int = 0

    @property
    def is_2g4(self) -> bool:
        return self.channels_2g4 > 0


SX1301 = ModuleSpec("sx1301")
SX1302 = ModuleSpec("sx1302")
SX1303 = ModuleSpec("sx1303")
SX1280 = ModuleSpec("sx1280", radios=0, multi_sf=0, lora_std=0, fsk=0, channels_2g4=3)

REGION_BANDS_HZ = {
    "EU868": (863_000_000, 870_000_000),
    "US915": (902_000_000, 928_000_000),
    "AU915": (915_000_000, 928_000_000),
    "AS923": (915_000_000, 928_000_000),
    "IN865": (865_000_000, 867_000_000),
    "KR920": (920_900_000, 923_300_000),
    "ISM2400": (2_400_000_000, 2_483_500_000),
}


@dataclass(frozen=True, slots=True)
class Module:
    """One installed concentrator: its chip, the band its front end receives, and its TX range."""

    board: int
    spec: ModuleSpec = SX1302
    band_min_hz: int = 863_000_000
    band_max_hz: int = 870_000_000
    tx_freq_min_hz: int | None = None
    tx_freq_max_hz: int | None = None
    #: Empty: the slot's own (see ``module_conf.wiring``).
    com_path: str = ""
    model: str = ""

    @classmethod
    def for_region(cls, board: int, region: str, spec: ModuleSpec = SX1302, *, tx: bool = True, **kw: str) -> Module:
        if region not in REGION_BANDS_HZ:
            raise PlanError(f"unknown region {region!r}; known: {', '.join(REGION_BANDS_HZ)}")
        low, high = REGION_BANDS_HZ[region]
        return cls(board, spec, low, high, low if tx else None, high if tx else None, **kw)

    @property
    def tx_enabled(self) -> bool:
        return self.tx_freq_min_hz is not None and self.tx_freq_max_hz is not None

    def receives(self, channel: Channel) -> bool:
        return self.band_min_hz <= channel.frequency_hz <= self.band_max_hz


@dataclass(frozen=True, slots=True)
class IfChannel:
    channel: Channel
    radio: int
    if_hz: int


@dataclass(frozen=True, slots=True)
class ModuleAllocation:
    module: Module
    radio_centres_hz: tuple[int | None, ...]
    multi_sf: tuple[IfChannel, ...] = ()
    lora_std: IfChannel | None = None
    fsk: IfChannel | None = None
    channels_2g4: tuple[Channel, ...] = ()

    @property
    def if_channels(self) -> list[IfChannel]:
        extra = [c for c in (self.lora_std, self.fsk) if c is not None]
        return [*self.multi_sf, *extra]

    @property
    def channels(self) -> list[Channel]:
        return [c.channel for c in self.if_channels] + list(self.channels_2g4)


def if_limit(channel: Channel) -> int:
    try:
        return IF_LIMIT_HZ[channel.bandwidth_hz]
    except KeyError:
        raise PlanError(f"channel {channel}: no SX130x IF chain has a {channel.bandwidth_hz} Hz bandwidth") from None


Interval = tuple[int, int]


def _by_frequency(channel: Channel) -> tuple[int, str]:
    return channel.frequency_hz, channel.kind.value


def _window(channels: Sequence[Channel], start: Interval | None = None) -> Interval | None:
    """Radio centres that keep every channel inside its IF limit (None: no such centre)."""
    low, high = start if start is not None else (-(10**12), 10**12)
    for ch in channels:
        limit = if_limit(ch)
        low, high = max(low, ch.frequency_hz - limit), min(high, ch.frequency_hz + limit)
        if low > high:
            return None
    return low, high


def _centre(window: Interval, channels: Sequence[Channel]) -> int:
    """Middle of the channels, moved into the window, on a 100 kHz grid when the window allows."""
    freqs = [c.frequency_hz for c in channels]
    low, high = window
    target = min(max((min(freqs) + max(freqs)) // 2, low), high)
    rounded = (target + CENTRE_GRID_HZ // 2) // CENTRE_GRID_HZ * CENTRE_GRID_HZ
    return rounded if low <= rounded <= high else target


@dataclass
class _Failure:
    progress: int = -1
    channel: Channel | None = None
    reason: str = ""

    def note(self, progress: int, channel: Channel, reason: str) -> None:
        if progress > self.progress:
            self.progress, self.channel, self.reason = progress, channel, reason


class _SubGhzSplit:
    """Backtracking split of multi-SF channels into radio runs, then std/FSK placement."""

    def __init__(self, modules: Sequence[Module], multi: list[Channel], extras: list[Channel]) -> None:
        self.modules = modules
        self.multi = multi
        self.extras = extras
        self.slots = [(m, r) for m in range(len(modules)) for r in range(modules[m].spec.radios)]
        self.runs: list[list[Channel]] = [[] for _ in self.slots]
        self.extra_slot: dict[Channel, int] = {}
        self.failure = _Failure()
        self.budget = SEARCH_BUDGET

    def solve(self) -> bool:
        return self._place_runs(0, 0, 0)

    def _capacity_from(self, slot: int, used_in_module: int) -> int:
        if slot >= len(self.slots):
            return 0
        first = self.slots[slot][0]
        cap = self.modules[first].spec.multi_sf - used_in_module
        return cap + sum(m.spec.multi_sf for m in self.modules[first + 1 :])

    def _place_runs(self, slot: int, index: int, used_in_module: int) -> bool:
        self.budget -= 1
        if self.budget < 0:
            return False
        multi = self.multi
        if index == len(multi):
            return self._place_extras(0, len(multi))
        if slot == len(self.slots):
            self.failure.note(index, multi[index], "no radio left whose window can reach it")
            return False
        if len(multi) - index > self._capacity_from(slot, used_in_module):
            self.failure.note(index, multi[index], "more multi-SF channels than IF chains")
            return False
        module_index, radio = self.slots[slot]
        module = self.modules[module_index]
        longest = index
        while (
            longest < len(multi)
            and used_in_module + (longest - index) < module.spec.multi_sf
            and module.receives(multi[longest])
            and _window(multi[index : longest + 1]) is not None
        ):
            longest += 1
        if longest == index and index < len(multi):
            reason = "outside the module's band" if not module.receives(multi[index]) else "radio window"
            self.failure.note(index, multi[index], reason)
        last_of_module = radio == module.spec.radios - 1
        for end in range(longest, index - 1, -1):
            self.runs[slot] = multi[index:end]
            used = 0 if last_of_module else used_in_module + (end - index)
            if self._place_runs(slot + 1, end, used):
                return True
        self.runs[slot] = []
        return False

    def _place_extras(self, k: int, progress: int) -> bool:
        if k == len(self.extras):
            return True
        channel = self.extras[k]
        for slot, (module_index, _) in enumerate(self.slots):
            module = self.modules[module_index]
            if not module.receives(channel) or self._kind_taken(module_index, channel.kind):
                continue
            members = self.runs[slot] + [c for c, s in self.extra_slot.items() if s == slot] + [channel]
            if _window(members) is None:
                continue
            self.extra_slot[channel] = slot
            if self._place_extras(k + 1, progress + 1):
                return True
            del self.extra_slot[channel]
        self.failure.note(progress + k, channel, f"no radio with a free {channel.kind.value} chain can reach it")
        return False

    def _kind_taken(self, module_index: int, kind: ChannelKind) -> bool:
        spec = self.modules[module_index].spec
        limit = spec.lora_std if kind is ChannelKind.LORA_STD else spec.fsk
        used = sum(1 for c, s in self.extra_slot.items() if c.kind is kind and self.slots[s][0] == module_index)
        return used >= limit

    def allocations(self) -> list[ModuleAllocation]:
        result = []
        for module_index, module in enumerate(self.modules):
            slots = [s for s, (m, _) in enumerate(self.slots) if m == module_index]
            centres: list[int | None] = []
            members_by_radio: list[list[Channel]] = []
            for slot in slots:
                members = self.runs[slot] + [c for c, s in self.extra_slot.items() if s == slot]
                members_by_radio.append(members)
                window = _window(members)
                centres.append(_centre(window, members) if members and window else None)
            multi: list[IfChannel] = []
            std = fsk = None
            for radio, members in enumerate(members_by_radio):
                centre = centres[radio]
                for ch in sorted(members, key=_by_frequency):
                    assert centre is not None
                    placed = IfChannel(ch, radio, ch.frequency_hz - centre)
                    if ch.kind is ChannelKind.LORA_STD:
                        std = placed
                    elif ch.kind is ChannelKind.FSK:
                        fsk = placed
                    else:
                        multi.append(placed)
            result.append(ModuleAllocation(module, tuple(centres), tuple(multi), std, fsk))
        return result


def allocate(plan: ChannelPlan, modules: Sequence[Module]) -> list[ModuleAllocation]:
    """Split ``plan`` over ``modules``; one allocation per module, in the order given."""
    boards = [m.board for m in modules]
    if len(set(boards)) != len(boards):
        raise PlanError(f"two modules share a board id: {boards}")
    sub_ghz = [m for m in modules if not m.spec.is_2g4]
    radios_2g4 = [m for m in modules if m.spec.is_2g4]
    multi = plan.of_kind(ChannelKind.MULTI_SF)
    extras = plan.of_kind(ChannelKind.LORA_STD) + plan.of_kind(ChannelKind.FSK)
    by_board: dict[int, ModuleAllocation] = {}
    if multi or extras:
        if not sub_ghz:
            raise PlanError(f"{plan.name}: channel {(multi + extras)[0]} does not fit: no SX130x module installed")
        _check_capacity(plan, sub_ghz, multi, extras)
        split = _SubGhzSplit(sub_ghz, multi, extras)
        if not split.solve():
            failure = split.failure
            if split.budget < 0:
                raise PlanError(f"{plan.name}: channel search gave up after {SEARCH_BUDGET} steps")
            raise PlanError(f"{plan.name}: channel {failure.channel} does not fit: {failure.reason}")
        by_board.update((a.module.board, a) for a in split.allocations())
    by_board.update((a.module.board, a) for a in _allocate_2g4(plan, radios_2g4))
    for module in modules:
        by_board.setdefault(module.board, ModuleAllocation(module, (None,) * module.spec.radios))
    return [by_board[m.board] for m in modules]


def _check_capacity(plan: ChannelPlan, modules: Sequence[Module], multi: list[Channel], extras: list[Channel]) -> None:
    chains = {
        ChannelKind.MULTI_SF: sum(m.spec.multi_sf for m in modules),
        ChannelKind.LORA_STD: sum(m.spec.lora_std for m in modules),
        ChannelKind.FSK: sum(m.spec.fsk for m in modules),
    }
    for kind, chain_count in chains.items():
        of_kind = [c for c in multi + extras if c.kind is kind]
        if len(of_kind) > chain_count:
            raise PlanError(
                f"{plan.name}: channel {of_kind[chain_count]} does not fit: {len(of_kind)} {kind.value} channels, "
                f"{chain_count} {kind.value} IF chains on {len(modules)} module(s)"
            )


def _allocate_2g4(plan: ChannelPlan, modules: Sequence[Module]) -> list[ModuleAllocation]:
    channels = plan.of_kind(ChannelKind.LORA_2G4)
    placed: dict[int, list[Channel]] = {m.board: [] for m in modules}
    for channel in channels:
        home = next((m for m in modules if m.receives(channel) and len(placed[m.board]) < m.spec.channels_2g4), None)
        if home is None:
            raise PlanError(f"{plan.name}: channel {channel} does not fit: no SX1280 module with a free channel")
        placed[home.board].append(channel)
    return [ModuleAllocation(m, (), channels_2g4=tuple(placed[m.board])) for m in modules]
