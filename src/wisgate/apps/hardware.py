"""Turn an app's abstract hardware needs into this board's device nodes, groups and variables.

What is taken comes in as ``Holder``s (wisgate's own gateway from its configuration, installed apps from
their Docker labels); a need that would take a held slot or device is refused with a message naming the
holder. The board description (``wisgate check``'s model), when given, says what sits in each slot.
Device nodes are looked up under ``HostView.dev_dir`` (``/dev``): a node that does not exist is refused
here rather than by Docker, with a hint at the cause.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from wisgate.apps.errors import ConflictError, HardwareError
from wisgate.apps.manifest import CatalogApp, Need
from wisgate.board.description import BoardDescription
from wisgate.board.modules import find_module
from wisgate.board.slots import PCIE_SHARED_GROUP, SLOTS_BY_KEY
from wisgate.config import Config

ClaimKind = Literal["slot", "device", "port"]


@dataclass(frozen=True)
class Claim:
    kind: ClaimKind
    #: ``mpcie1``, a device's real path, or ``tcp/1883``.
    key: str
    label: str


@dataclass(frozen=True)
class Holder:
    who: str
    claim: Claim


@dataclass(frozen=True)
class SlotWiring:
    number: int
    slot: str
    spi_device: str
    reset_gpio: int

    @property
    def label(self) -> str:
        return f"{SLOTS_BY_KEY[self.slot].label} ({self.spi_device}, reset GPIO{self.reset_gpio})"


#: RAK's examples: mPCIe #1 on spidev0.0 reset by GPIO17, mPCIe #2 on spidev0.1 reset by GPIO6 (rak-software.md §3).
CONCENTRATOR_SLOTS: dict[int, SlotWiring] = {
    1: SlotWiring(1, "mpcie1", str(SLOTS_BY_KEY["mpcie1"].spi_device), 17),
    2: SlotWiring(2, "mpcie2", str(SLOTS_BY_KEY["mpcie2"].spi_device), 6),
}
#: The reset lines are CM4 GPIOs, i.e. lines of gpiochip0.
CM4_GPIOCHIP = "/dev/gpiochip0"
#: WisBlock IO slots' CH340 UARTs behind the USB hub (rak-software.md §5).
WISBLOCK_SERIAL: dict[int, str] = {1: "/dev/ttyUSB0", 2: "/dev/ttyUSB1"}
ACCELERATOR_NODES: dict[str, str] = {"Coral-TPU": "/dev/apex_0", "Hailo-8": "/dev/hailo0"}
TUN = "/dev/net/tun"


def slot_claim(slot: str, dev_dir: Path = Path("/dev")) -> Claim:
    """A concentrator slot, keyed by its SPI device node on the host (so two device trees, e.g. a test's, are
    two boards)."""
    wiring = next(w for w in CONCENTRATOR_SLOTS.values() if w.slot == slot)
    return Claim("slot", str(dev_dir / Path(wiring.spi_device).name), wiring.label)


def port_claim(protocol: str, port: int) -> Claim:
    return Claim("port", f"{protocol}/{port}", f"{protocol} port {port}")


@dataclass
class HostView:
    """What resolution knows about this machine: where device nodes live, the board, wisgate's config."""

    dev_dir: Path = Path("/dev")
    board: BoardDescription | None = None
    config: Config | None = None

    def host_path(self, device: str) -> Path:
        """``/dev/spidev0.0`` under ``dev_dir``."""
        return self.dev_dir / Path(device).relative_to("/dev")

    def device_key(self, device: str) -> str:
        """The node a path ends at (by-id links and their target are one device)."""
        return os.path.realpath(self.host_path(device))


def gateway_holders(config: Config | None, dev_dir: Path = Path("/dev")) -> list[Holder]:
    """The slots and ports wisgate's own daemon uses, from its configuration."""
    if config is None:
        return []
    holders: list[Holder] = []
    if config.lora.enabled:
        for module in config.lora.modules:
            slot = module.slot or {0: "mpcie1", 1: "mpcie2"}.get(module.board)
            if slot is not None:
                holders.append(Holder(f"wisgate's LoRa gateway ([[lora.modules]] board {module.board})",
                                      slot_claim(slot, dev_dir)))
        port = _tcp_port(config.lora.traffic_url)
        if port is not None:
            holders.append(Holder("wisgate's LoRa traffic feed ([lora] traffic_url)", port_claim("tcp", port)))
    if config.api.enabled:
        holders.append(Holder("wisgate's HTTP API ([api] port)", port_claim("tcp", config.api.port)))
    return holders


def _tcp_port(url: str) -> int | None:
    if not url.startswith("tcp://"):
        return None
    _host, _sep, port = url.removeprefix("tcp://").rpartition(":")
    return int(port) if port.isdigit() else None


@dataclass(frozen=True)
class DeviceMap:
    host: str
    container: str


@dataclass
class Resolution:
    devices: dict[str, list[DeviceMap]] = field(default_factory=dict)
    groups: dict[str, list[int]] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    claims: list[Claim] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add_device(self, service: str, host: str, container: str) -> None:
        maps = self.devices.setdefault(service, [])
        if all(m.container != container for m in maps):
            maps.append(DeviceMap(host, container))


class _Resolver:
    def __init__(self, app: CatalogApp, values: dict[str, str], host: HostView, held: Sequence[Holder],
                 check_nodes: bool) -> None:
        self.app = app
        self.values = values
        self.host = host
        self.held = {(h.claim.kind, h.claim.key): h for h in held}
        self.check_nodes = check_nodes
        self.out = Resolution()

    def holder(self, claim: Claim) -> Holder | None:
        return self.held.get((claim.kind, claim.key))

    def node(self, service: str, device: str, need: Need, hint: str = "", container: str | None = None) -> None:
        """Map ``device`` into ``service`` (at ``container``, default the same path); refuse a node this
        machine lacks."""
        path = self.host.host_path(device)
        if self.check_nodes and not path.exists():
            raise HardwareError(f"{self.app.id}: {need.kind} needs {device}, which does not exist on this machine"
                                f"{'; ' + hint if hint else ''}")
        self.out.add_device(service, str(path), container or device)
        if path.exists():
            gid = path.stat().st_gid
            groups = self.out.groups.setdefault(service, [])
            if gid != 0 and gid not in groups:
                groups.append(gid)

    def claim(self, claim: Claim) -> None:
        holder = self.holder(claim)
        if holder is not None:
            raise ConflictError(f"{self.app.id}: {claim.label} is already used by {holder.who}")
        self.out.claims.append(claim)

    def run(self) -> Resolution:
        for need in self.app.manifest.hardware:
            getattr(self, "need_" + need.kind.value.replace("-", "_"))(need)
        for groups in self.out.groups.values():
            groups.sort()
        return self.out

    # --- one method per kind ----------------------------------------------------------------------------

    def need_concentrator_spi(self, need: Need) -> None:
        choice = self.values.get("SLOT", "auto").strip().lower().removeprefix("mpcie")
        if choice not in ("auto", "1", "2"):
            raise HardwareError(f"{self.app.id}: SLOT={choice!r}: use 1, 2 or auto")
        candidates = list(CONCENTRATOR_SLOTS.values()) if choice == "auto" else [CONCENTRATOR_SLOTS[int(choice)]]
        reasons: list[str] = []
        chosen: SlotWiring | None = None
        for wiring in candidates:
            reason = self.slot_unusable(wiring)
            if reason is None:
                chosen = wiring
                break
            reasons.append(reason)
        if chosen is None:
            message = f"{self.app.id}: no free SPI concentrator slot: " + "; ".join(reasons)
            if choice != "auto":
                message = f"{self.app.id}: {reasons[0]}"
                other = CONCENTRATOR_SLOTS[3 - int(choice)]
                if self.slot_unusable(other) is None:
                    message += f"; mPCIe #{other.number} is free: --set SLOT={other.number}"
            held = any("already used" in r for r in reasons)
            raise (ConflictError if held else HardwareError)(message)
        self.claim(slot_claim(chosen.slot, self.host.dev_dir))
        hint = "SPI is off (dtparam=spi=on) or this is not a RAK7391"
        self.node(need.service, chosen.spi_device, need, hint)
        self.node(need.service, CM4_GPIOCHIP, need, "the reset line needs the CM4's gpiochip0")
        self.out.variables.update(SPI_DEVICE=chosen.spi_device, RESET_GPIO=str(chosen.reset_gpio),
                                  GPIO_CHIP=CM4_GPIOCHIP, SLOT=str(chosen.number))
        self.spi_shared_warning(chosen)

    def slot_unusable(self, wiring: SlotWiring) -> str | None:
        claim = slot_claim(wiring.slot, self.host.dev_dir)
        holder = self.holder(claim)
        if holder is not None:
            return f"{claim.label} is already used by {holder.who}"
        board = self.host.board
        if board is not None:
            entry = getattr(board.slots, wiring.slot)
            if entry is None:
                return f"the board description has no module in {SLOTS_BY_KEY[wiring.slot].label}"
            module = find_module(entry.module)
            if module is None or not (module.lora_concentrator and module.uses_spi):
                return f"{SLOTS_BY_KEY[wiring.slot].label} holds {entry.module}, not an SPI concentrator"
        return None

    def spi_shared_warning(self, wiring: SlotWiring) -> None:
        board = self.host.board
        if board is None:
            return
        wisblock = "wisblock1" if wiring.number == 1 else "wisblock2"
        entry = getattr(board.slots, wisblock)
        module = find_module(entry.module) if entry is not None else None
        if module is not None and module.uses_spi:
            self.out.warnings.append(f"{wiring.spi_device} is shared with {module.name} in "
                                     f"{SLOTS_BY_KEY[wisblock].label} (inferred from RAK's examples)")

    def need_i2c(self, need: Need) -> None:
        buses = ["/dev/i2c-1"]
        if self.host.board is not None and self.host.board.board.external_i2c == "i2c3":
            buses.append("/dev/i2c-3")
        configured = self.host.config.board.bus if self.host.config is not None else "auto"
        if configured.startswith("/dev/i2c-") and configured not in buses:
            buses.insert(0, configured)
        for bus in buses:
            self.node(need.service, bus, need, "I2C is off (dtparam=i2c_arm=on) or this is not a RAK7391")
        self.out.variables["I2C_DEVICE"] = buses[0]

    def need_gpio(self, need: Need) -> None:
        chips = sorted(p.name for p in self.host.dev_dir.glob("gpiochip*"))
        if not chips:
            if self.check_nodes:
                raise HardwareError(f"{self.app.id}: gpio needs /dev/gpiochip*, and this machine has none")
            chips = ["gpiochip0"]
        for chip in chips:
            self.node(need.service, f"/dev/{chip}", need)
        self.out.variables["GPIO_CHIPS"] = ",".join(f"/dev/{c}" for c in chips)

    def need_wisblock_serial(self, need: Need) -> None:
        text = self.values.get("SERIAL_SLOTS", "auto").replace(" ", "")
        if text == "auto":
            free = [n for n in WISBLOCK_SERIAL if self.holder(self.serial_claim(n)) is None]
            if len(free) < need.count:
                held = [f"{WISBLOCK_SERIAL[n]} ({self.holder(self.serial_claim(n)).who})"  # type: ignore[union-attr]
                        for n in WISBLOCK_SERIAL if n not in free]
                raise ConflictError(f"{self.app.id}: needs {need.count} WisBlock serial port(s); taken: "
                                    + ", ".join(held))
            slots = free[:need.count]
        else:
            try:
                slots = [int(s) for s in text.split(",")]
            except ValueError:
                slots = []
            if not slots or any(s not in WISBLOCK_SERIAL for s in slots) or len(set(slots)) != len(slots):
                raise HardwareError(f"{self.app.id}: SERIAL_SLOTS={text!r}: use 1, 2, 1,2 or auto")
        for number in slots:
            self.claim(self.serial_claim(number))
            self.node(need.service, WISBLOCK_SERIAL[number], need,
                      "no CH340 UART for that WisBlock slot (is the USB hub up?)")
        self.out.variables["SERIAL_DEVICE"] = WISBLOCK_SERIAL[slots[0]]
        self.out.variables["SERIAL_DEVICES"] = ",".join(WISBLOCK_SERIAL[n] for n in slots)

    def serial_claim(self, number: int) -> Claim:
        device = WISBLOCK_SERIAL[number]
        return Claim("device", self.host.device_key(device), f"WisBlock slot {number} serial port {device}")

    def need_usb_serial(self, need: Need) -> None:
        device = self.values.get("USB_SERIAL", "/dev/ttyACM0").strip()
        if not device.startswith("/dev/"):
            raise HardwareError(f"{self.app.id}: USB_SERIAL={device!r}: give a device path under /dev")
        self.claim(Claim("device", self.host.device_key(device), f"serial device {device}"))
        # inside the container the adapter has its kernel name, whatever link the host path is
        inside = "/dev/" + Path(os.path.realpath(self.host.host_path(device))).name
        self.node(need.service, device, need, "plug the adapter in, or give its /dev/serial/by-id path", inside)
        self.out.variables["USB_SERIAL_DEVICE"] = inside

    def need_accelerator(self, need: Need) -> None:
        board = self.host.board
        entry = board.slots.mpcie3 if board is not None else None
        if entry is None:
            raise HardwareError(f"{self.app.id}: an accelerator need resolves from the board description: give "
                                "--board FILE with mpcie3 = \"Coral-TPU\" or \"Hailo-8\"")
        module = find_module(entry.module)
        node = ACCELERATOR_NODES.get(module.name) if module is not None else None
        if node is None:
            raise HardwareError(f"{self.app.id}: mPCIe #3 holds {entry.module}; known accelerators: "
                                + ", ".join(ACCELERATOR_NODES))
        self.claim(Claim("device", self.host.device_key(node), f"the {entry.module} accelerator {node}"))
        self.node(need.service, node, need, "its kernel driver is not loaded")
        self.out.variables["ACCELERATOR_DEVICE"] = node
        self.out.warnings.append("mPCIe #3 shares the CM4's single PCIe lane with " + ", ".join(
            g for g in PCIE_SHARED_GROUP if g != "mPCIe #3") + ": heavy accelerator traffic slows them")

    def need_tun(self, need: Need) -> None:
        self.node(need.service, TUN, need, "load the tun kernel module")


def resolve(app: CatalogApp, values: dict[str, str], host: HostView, held: Sequence[Holder] = (),
            *, check_nodes: bool = True) -> Resolution:
    """The devices, groups, variables and claims of ``app``'s needs on this host. Raises ConflictError for a
    slot or device someone holds, HardwareError for one this machine lacks. ``check_nodes=False`` resolves
    as the board is wired without looking at /dev (for export)."""
    return _Resolver(app, values, host, held, check_nodes).run()

