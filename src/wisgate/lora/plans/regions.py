"""Channel plans by name, as users type them: ``EU868``, ``EU868-16``, ``US915-FSB1+2``, ``ISM2400``..."""

from __future__ import annotations

import re

from wisgate.lora.errors import PlanError
from wisgate.lora.plans.allocation import SX1280, SX1302, Module
from wisgate.lora.plans.channels import ChannelPlan, as923, au915, eu868, in865, ism2400, kr920, us915

PLAN_NAMES = "EU868, EU868-16, US915[-FSB2], US915-FSB1+2, AU915[-FSB2], AS923, IN865, KR920, ISM2400"


def plan_named(name: str) -> ChannelPlan:
    key = name.strip().upper().replace("_", "-")
    if key in ("EU868", "EU868-8"):
        return eu868(8)
    if key == "EU868-16":
        return eu868(16)
    match = re.fullmatch(r"(US915|AU915)(?:-FSB([1-8](?:\+[1-8])*))?", key)
    if match:
        fsbs = tuple(int(f) for f in match.group(2).split("+")) if match.group(2) else (2,)
        return us915(*fsbs) if match.group(1) == "US915" else au915(*fsbs)
    simple = {"AS923": as923, "IN865": in865, "KR920": kr920, "ISM2400": ism2400}
    if key in simple:
        return simple[key]()
    raise PlanError(f"unknown channel plan {name!r}; known: {PLAN_NAMES}")


def modules_for(plan: ChannelPlan, count: int, *, first_board: int = 0) -> list[Module]:
    """``count`` modules of the kind the plan needs (SX1302 sub-GHz, SX1280 for ISM2400)."""
    if not 1 <= count <= 4:
        raise PlanError(f"the RAK7391 takes 1 to 4 concentrator modules, not {count}")
    spec = SX1280 if plan.region == "ISM2400" else SX1302
    return [Module.for_region(first_board + i, plan.region, spec) for i in range(count)]


def smallest_split(plan: ChannelPlan) -> int:
    """How many modules the plan needs at least (IF chains only; the split may still need more)."""
    from wisgate.lora.plans.channels import ChannelKind

    if plan.region == "ISM2400":
        return max(1, -(-len(plan.channels) // SX1280.channels_2g4))
    multi = len(plan.of_kind(ChannelKind.MULTI_SF))
    std = len(plan.of_kind(ChannelKind.LORA_STD))
    return max(1, -(-multi // SX1302.multi_sf), std)
