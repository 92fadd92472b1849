"""Checks of a board description against the RAK7391 datasheet; each finding names the fact and the fix.

Datasheet sections behind the checks: "PSU Input" and "PoE HAT" (inputs, voltages, limits, 12 V out),
"I2C", "ADC", "GPIO Expander" (address collisions and their resistor fixes), "mPCIe Interfaces", "M.2 Interface"
(slot compatibility), "Ethernet" and "USB 3.0 Hub" (the shared PCIe lane), "USB 2.0 Hub", "USB 3.0 Hub",
"Full-Sized HDMI 2.0 Connector" (current limits), "Jumpers". docs/board.md explains each check.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from wisgate.board.description import BoardDescription, I2CDevice
from wisgate.board.modules import POWER_SOURCE, Module, find_module, suggestions
from wisgate.board.power import (
    BOARD_OVERHEAD_WATTS,
    CM4_BUDGET_WATTS,
    DC_VOLTAGE_RANGE,
    ESTIMATE,
    FAN_WATTS,
    HDMI_LIMIT_MA,
    INPUT_LABELS,
    MARGIN_WARNING,
    POE_LIMIT_AMPS,
    POE_LIMIT_WATTS,
    POE_OUTPUT_VOLTS,
    POE_VOLTAGE_RANGE,
    TWELVE_VOLT_TOLERANCE,
    USB2_LIMIT_MA,
    USB3_LIMIT_MA,
    USB_VOLTS,
    PowerBudget,
    PowerInput,
    PowerItem,
    format_watts,
    is_poe,
)
from wisgate.board.rak7391 import (
    ADC_ADDRESS_RESISTORS,
    EXPANDER_BASE_ADDRESS,
    EXPANDER_STRAPS,
    EXTERNAL_BUS_MOVE,
    ONBOARD_BY_NAME,
    expander_resistors,
)
from wisgate.board.slots import ETHERNET_2G5_TYPICAL, SLOTS_BY_KEY, slot_labels

Level = Literal["error", "warning"]

#: Datasheet "Description": a LoRaWAN gateway "supporting up to four (4) separate modules".
MAX_CONCENTRATORS = 4


@dataclass(frozen=True)
class Finding:
    level: Level
    code: str
    message: str
    fix: str = ""


def _error(code: str, message: str, fix: str = "") -> Finding:
    return Finding("error", code, message, fix)


def _warning(code: str, message: str, fix: str = "") -> Finding:
    return Finding("warning", code, message, fix)


def _hex(address: int) -> str:
    return f"0x{address:02X}"


# --- placed modules ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placed:
    slot: str
    name: str
    module: Module | None
    #: The description's override, else the catalogue's estimate, else None (unknown).
    watts: float | None

    @property
    def label(self) -> str:
        return f"{SLOTS_BY_KEY[self.slot].label} {self.name}"


def placed_modules(desc: BoardDescription) -> list[Placed]:
    placed: list[Placed] = []
    for slot, entry in desc.slots.filled():
        module = find_module(entry.module)
        watts = entry.watts if entry.watts is not None else (module.watts if module else None)
        placed.append(Placed(slot, module.name if module else entry.module, module, watts))
    return placed


def _usb_module(name: str | None) -> Module | None:
    return find_module(name) if name else None


# --- power --------------------------------------------------------------------------------------------------------


def _usb_ma(desc: BoardDescription) -> list[tuple[str, str, int]]:
    """(port, device, mA) per USB device; a catalogue module without ``ma`` draws its estimate at 5 V."""
    rows: list[tuple[str, str, int]] = []
    for device in desc.usb:
        ma = device.ma
        module = _usb_module(device.module)
        if ma is None:
            ma = round(module.watts / USB_VOLTS * 1000) if module else 0
        rows.append((device.port, device.name, ma))
    return rows


def power_budget(desc: BoardDescription) -> PowerBudget:
    """Itemised estimate of what the board draws, and the first input's limit."""
    items: list[PowerItem] = []
    board = desc.board
    if board.cm4:
        items.append(PowerItem("CM4", CM4_BUDGET_WATTS, "datasheet: budget 25 W for the CM4"))
    items.append(PowerItem("carrier board", BOARD_OVERHEAD_WATTS, ESTIMATE))
    for placed in placed_modules(desc):
        if placed.watts is not None:
            items.append(PowerItem(placed.label, placed.watts, POWER_SOURCE))
    if board.fan != "none":
        watts = board.fan_watts if board.fan_watts is not None else FAN_WATTS[board.fan]
        items.append(PowerItem(f"fan ({board.fan})", watts, ESTIMATE if board.fan_watts is None else "description"))
    for port, name, ma in _usb_ma(desc):
        items.append(PowerItem(f"{port} {name}", ma * USB_VOLTS / 1000, f"{ma} mA at 5 V"))
    if board.hdmi_ma:
        items.append(PowerItem("HDMI", board.hdmi_ma * USB_VOLTS / 1000, f"{board.hdmi_ma} mA at 5 V"))
    for load in desc.loads:
        items.append(PowerItem(load.name, load.watts, "description"))
    source = desc.power.inputs[0]
    if is_poe(source):
        amps = POE_LIMIT_AMPS[source]
        return PowerBudget(tuple(items), POE_LIMIT_WATTS[source], f"{INPUT_LABELS[source]}, 12 V {amps:g} A")
    if desc.power.supply_watts is not None:
        return PowerBudget(tuple(items), desc.power.supply_watts, f"{INPUT_LABELS[source]}, supply rating")
    return PowerBudget(tuple(items), None, f"{INPUT_LABELS[source]}, no supply rating given")


def _check_inputs(desc: BoardDescription) -> Iterator[Finding]:
    inputs = desc.power.inputs
    if len(set(inputs)) > 1:
        names = ", ".join(INPUT_LABELS[i] for i in inputs)
        yield _error(
            "power-inputs",
            f"several power inputs wired ({names}): the datasheet allows only one supply input at a time",
            "keep one input connected",
        )
    voltage = desc.power.voltage
    if voltage is None:
        return
    source = inputs[0]
    low, high = POE_VOLTAGE_RANGE if is_poe(source) else DC_VOLTAGE_RANGE
    if not low <= voltage <= high:
        yield _error(
            "power-voltage",
            f"{voltage:g} V on the {INPUT_LABELS[source]} is outside its {low:g}-{high:g} V range (datasheet)",
            f"use a {low:g}-{high:g} V supply",
        )


def _check_budget(desc: BoardDescription) -> Iterator[Finding]:
    budget = power_budget(desc)
    unknown = [p.label for p in placed_modules(desc) if p.watts is None]
    not_counted = f" (not counted, draw unknown: {', '.join(unknown)})" if unknown else ""
    if budget.limit is None:
        yield _warning(
            "power-unrated",
            f"estimated draw {budget.itemised()}{not_counted}; the supply's rating is unknown",
            "give power.supply_watts (the adapter's rating) to have the budget checked",
        )
        return
    source = desc.power.inputs[0]
    limit = format_watts(budget.limit)
    if budget.total > budget.limit:
        alternatives = (
            "use a PoE 802.3bt module (72 W) or a DC/Phoenix supply"
            if source is PowerInput.POE_AT
            else "use a larger supply"
        )
        yield _error(
            "power-budget",
            f"estimated draw exceeds the {limit} limit ({budget.limit_source}): {budget.itemised()}{not_counted}",
            f"{alternatives}, or remove loads",
        )
    elif budget.total >= MARGIN_WARNING * budget.limit:
        yield _warning(
            "power-margin",
            f"estimated draw is within {100 - 100 * MARGIN_WARNING:g} % of the {limit} limit "
            f"({budget.limit_source}): {budget.itemised()}{not_counted}",
            "leave headroom: module draws are estimates",
        )


def _check_currents(desc: BoardDescription) -> Iterator[Finding]:
    per_port: dict[str, int] = defaultdict(int)
    for port, _name, ma in _usb_ma(desc):
        per_port[port] += ma
    for port, ma in sorted(per_port.items()):
        limit = USB2_LIMIT_MA if port == "usb2" else USB3_LIMIT_MA
        if ma > limit:
            yield _error(
                "usb-current",
                f"{port} draws {ma} mA; its VBUS current-limit switch is set to about {limit} mA (datasheet)",
                "use a powered USB hub or a self-powered device",
            )
    if desc.board.hdmi_ma > HDMI_LIMIT_MA:
        yield _error(
            "hdmi-current",
            f"HDMI draws {desc.board.hdmi_ma} mA; the datasheet limits it to {HDMI_LIMIT_MA} mA",
            "power the display separately",
        )


def _check_twelve_volt(desc: BoardDescription) -> Iterator[Finding]:
    users = ["12 V fan"] if desc.board.fan == "12v" else []
    users += [f"load '{load.name}'" for load in desc.loads if load.rail == "12v"]
    source = desc.power.inputs[0]
    if not users or is_poe(source):
        return
    who = ", ".join(users)
    voltage = desc.power.voltage
    fact = (
        "the datasheet: 12 V out needs PoE; the 12 V pins are tied to the supply input, so only a 12 V "
        "adapter gives 12 V"
    )
    fix = "power the board by PoE, or use a 12 V adapter, or a 5 V fan (fan jumper on 5 V)"
    if voltage is not None and abs(voltage - POE_OUTPUT_VOLTS) > TWELVE_VOLT_TOLERANCE:
        yield _error(
            "twelve-volt",
            f"{who} on the 12 V pins would get the {voltage:g} V of the {INPUT_LABELS[source]} ({fact})",
            fix,
        )
    else:
        given = f"a {voltage:g} V" if voltage is not None else "an unstated"
        yield _warning("twelve-volt", f"{who} runs from {given} {INPUT_LABELS[source]} ({fact})", fix)


# --- slots and modules ---------------------------------------------------------------------------------------------


def _check_slots(desc: BoardDescription) -> Iterator[Finding]:
    for placed in placed_modules(desc):
        slot = SLOTS_BY_KEY[placed.slot]
        module = placed.module
        if module is None:
            if placed.watts is None:
                hint = suggestions(placed.name)
                fix = f"did you mean {' or '.join(hint)}? " if hint else ""
                yield _warning(
                    "module-unknown",
                    f"{slot.label}: '{placed.name}' is not in the catalogue; its compatibility and draw are unknown",
                    f"{fix}give watts = ... in the slot entry to count it in the budget",
                )
            continue
        if placed.slot not in module.slots:
            where = slot_labels(module.slots)
            extra = "; mPCIe #3 and M.2 carry no LoRa concentrator" if module.lora_concentrator else ""
            yield _error(
                "slot-incompatible",
                f"{slot.label} cannot take {module.name}, a {module.description}: it fits {where} "
                f"({module.source}{extra})",
                f"move it to {where.replace(', ', ' or ')}",
            )


def _check_usb_modules(desc: BoardDescription) -> Iterator[Finding]:
    for device in desc.usb:
        if device.module and _usb_module(device.module) is None:
            hint = suggestions(device.module)
            yield _warning(
                "module-unknown",
                f"{device.port} {device.name}: module '{device.module}' is not in the catalogue",
                f"did you mean {' or '.join(hint)}?" if hint else "give its current as ma = ...",
            )


def _check_concentrators(desc: BoardDescription) -> Iterator[Finding]:
    names = [p.label for p in placed_modules(desc) if p.module and p.module.lora_concentrator]
    for device in desc.usb:
        module = _usb_module(device.module)
        if module and module.lora_concentrator:
            names.append(f"{device.port} {module.name}")
    if len(names) > MAX_CONCENTRATORS:
        yield _error(
            "lora-count",
            f"{len(names)} LoRa concentrators ({', '.join(names)}); the datasheet supports up to "
            f"{MAX_CONCENTRATORS} separate modules",
            f"keep at most {MAX_CONCENTRATORS}",
        )


def _check_spi(desc: BoardDescription) -> Iterator[Finding]:
    by_device: dict[str, list[str]] = defaultdict(list)
    for placed in placed_modules(desc):
        device = SLOTS_BY_KEY[placed.slot].spi_device
        if placed.module and placed.module.uses_spi and device:
            by_device[device].append(placed.label)
    for device, users in sorted(by_device.items()):
        if len(users) > 1:
            yield _warning(
                "spi-shared",
                f"{' and '.join(users)} would both use {device} (inferred from RAK's examples, not the datasheet)",
                "use a USB variant of one module, or the other slot",
            )


def _check_pcie(desc: BoardDescription) -> Iterator[Finding]:
    users: list[str] = []
    if desc.board.ethernet_2g5:
        users.append("2.5 GbE")
    usb3 = sorted({d.port for d in desc.usb if d.port.startswith("usb3")})
    if usb3:
        users.append(f"USB3 ports ({', '.join(usb3)})")
    users += [p.label for p in placed_modules(desc) if SLOTS_BY_KEY[p.slot].pcie_shared]
    if len(users) > 1:
        yield _warning(
            "pcie-shared",
            f"{', '.join(users)} share the CM4's single PCIe lane (datasheet: 2.5 GbE, USB3 hub, mPCIe #3 and M.2 "
            f"are on one PCIe bus; 2.5 GbE reaches about {ETHERNET_2G5_TYPICAL} untuned)",
            "expect shared throughput; move bulk traffic to the 1 GbE port or the USB2 port where it fits",
        )


# --- I2C -------------------------------------------------------------------------------------------------------------


def onboard_addresses(desc: BoardDescription) -> dict[str, int]:
    """Each onboard device's address with the description's resistor options applied."""
    addresses = {name: device.address for name, device in ONBOARD_BY_NAME.items()}
    addresses["adc"] = desc.board.adc_address
    addresses["expander1"] = desc.board.expander1_address
    addresses["expander2"] = desc.board.expander2_address
    return addresses


def _nearest_free(candidates: Iterable[int], current: int, used: set[int], default: int | None = None) -> int | None:
    """The free candidate nearest ``current`` (lower wins a tie), the part's ``default`` first if it is free."""
    free = [a for a in candidates if a not in used]
    return min(free, key=lambda a: (a != default, abs(a - current), a)) if free else None


def _restrap_onboard(name: str, current: int, used: set[int]) -> str | None:
    """The resistor change that moves onboard device ``name`` to the nearest free address, if it can move."""
    default = ONBOARD_BY_NAME[name].address
    if name == "adc":
        free = _nearest_free(ADC_ADDRESS_RESISTORS, current, used, default)
        if free is None:
            return None
        return (
            f"move the ADC's address resistor from {ADC_ADDRESS_RESISTORS[current]} to "
            f"{ADC_ADDRESS_RESISTORS[free]} (ADC at {_hex(free)}) and give software the new address"
        )
    if name in EXPANDER_STRAPS:
        free = _nearest_free(range(EXPANDER_BASE_ADDRESS, EXPANDER_BASE_ADDRESS + 8), current, used, default)
        if free is None:
            return None
        role = ONBOARD_BY_NAME[name].role
        return (
            f"re-strap {role} to {_hex(free)} with {expander_resistors(name, free)}, and set {_hex(free)} in "
            f"the device-tree overlay (pca953x addr= or rak7391.dtbo)"
        )
    return None


def _restrap_external(device: I2CDevice, used: set[int]) -> str | None:
    free = _nearest_free(device.alternatives, device.address, used)
    return f"strap {device.name} to {_hex(free)}" if free is not None else None


def collision_fix(name: str, device: I2CDevice, onboard: dict[str, int], external: list[I2CDevice]) -> str:
    """Every way out of a collision between onboard ``name`` and external ``device``, joined by "; or "."""
    used = set(onboard.values()) | {d.address for d in external}
    options = [
        option
        for option in (_restrap_onboard(name, onboard[name], used), _restrap_external(device, used))
        if option is not None
    ]
    options.append(EXTERNAL_BUS_MOVE)
    return "; or ".join(options)


def _check_i2c(desc: BoardDescription) -> Iterator[Finding]:
    onboard = onboard_addresses(desc)
    if onboard["expander1"] == onboard["expander2"]:
        moved = "expander2" if onboard["expander2"] != ONBOARD_BY_NAME["expander2"].address else "expander1"
        used = set(onboard.values())
        fix = _restrap_onboard(moved, onboard[moved], used) or ""
        yield _error(
            "i2c-onboard-collision",
            f"both GPIO expanders are strapped to {_hex(onboard['expander1'])}",
            fix,
        )
    external = desc.i2c
    bus = desc.board.external_i2c
    if bus == "i2c1":
        by_address = {address: name for name, address in onboard.items()}
        for device in external:
            name = by_address.get(device.address)
            if name is None:
                continue
            part = ONBOARD_BY_NAME[name]
            yield _error(
                "i2c-collision",
                f"{device.name} ({SLOTS_BY_KEY[device.slot].label}) at {_hex(device.address)} collides with the "
                f"onboard {part.role} ({part.part}) on i2c1",
                collision_fix(name, device, onboard, external),
            )
    groups: dict[int, list[I2CDevice]] = defaultdict(list)
    for device in external:
        groups[device.address].append(device)
    used = {d.address for d in external} | (set(onboard.values()) if bus == "i2c1" else set())
    for address, devices in sorted(groups.items()):
        if len(devices) < 2:
            continue
        who = " and ".join(f"{d.name} ({SLOTS_BY_KEY[d.slot].label})" for d in devices)
        options = [o for o in (_restrap_external(d, used) for d in devices) if o]
        fix = "; or ".join(options) if options else "give one of them another address with its own straps"
        yield _error(
            "i2c-external-collision",
            f"{who} both use {_hex(address)} on the external bus ({bus}); every external connector shares it, "
            "so moving the bus to i2c3 does not separate them",
            fix,
        )
    filled = {slot for slot, _ in desc.slots.filled()}
    for device in external:
        if device.slot != "hat" and device.slot not in filled:
            yield _warning(
                "i2c-slot-empty",
                f"{device.name} sits on {SLOTS_BY_KEY[device.slot].label}, which holds no module in this description",
                f"add the module to [slots] {device.slot}, or correct the device's slot",
            )


# --- board ---------------------------------------------------------------------------------------------------------


def _check_board(desc: BoardDescription) -> Iterator[Finding]:
    if not desc.board.cm4:
        yield _warning(
            "cm4-missing",
            "no CM4 fitted: nothing runs the board (and its 25 W budget is left out)",
            "fit a CM4",
        )
    if "emmc-flash" in desc.board.jumpers:
        yield _warning(
            "jumper-emmc-flash",
            "J39 1-2 (eMMC Flash) is fitted: the CM4 boots as a USB device for flashing, not from its eMMC",
            "remove the jumper after flashing",
        )


CHECKS: tuple[Callable[[BoardDescription], Iterable[Finding]], ...] = (
    _check_inputs,
    _check_budget,
    _check_currents,
    _check_twelve_volt,
    _check_slots,
    _check_usb_modules,
    _check_concentrators,
    _check_spi,
    _check_pcie,
    _check_i2c,
    _check_board,
)


def check_board(desc: BoardDescription) -> list[Finding]:
    """All findings, errors first, in the order of ``CHECKS``."""
    findings = [finding for check in CHECKS for finding in check(desc)]
    return sorted(findings, key=lambda f: f.level != "error")
