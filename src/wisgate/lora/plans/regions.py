"""Channel plans by name, as users type them: ``EU868``, ``EU868-16``, ``US915-FSB1+2``, ``ISM2400``..."""

from __future__ import annotations

import re
from collections.abc import Sequence

from wisgate.lora.errors import PlanError
from wisgate.lora.plans.allocation import SX1280, SX1302, Module, ModuleAllocation
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


def plan_for_modules(name: str, modules: int) -> ChannelPlan:
    """The plan ``name`` on ``modules`` sub-GHz modules: a region named alone fills them all.

    ``US915``/``AU915`` become FSB1..FSBn (one sub-band per SX1302), ``EU868`` becomes EU868-16 on two
    or more; a plan with a sub-band or size in its name is taken as written.
    """
    key = name.strip().upper().replace("_", "-")
    if key in ("US915", "AU915") and modules > 1:
        fsbs = tuple(range(1, min(modules, 8) + 1))
        return us915(*fsbs) if key == "US915" else au915(*fsbs)
    if key == "EU868" and modules > 1:
        return eu868(16)
    return plan_named(name)


def idle_modules(plan: ChannelPlan, allocations: Sequence[ModuleAllocation]) -> list[str]:
    """One sentence per set of modules the plan leaves without channels, saying why."""
    idle = [a for a in allocations if not a.if_channels and not a.channels_2g4]
    if not idle:
        return []
    used = len(allocations) - len(idle)
    boards = ", ".join(str(a.module.board) for a in idle)
    return [
        f"module(s) {boards} stay idle: {plan.name} has {len(plan.channels)} channels, which fit on {used} "
        f"module(s); {_larger(plan, len(allocations))}"
    ]


def _larger(plan: ChannelPlan, modules: int) -> str:
    if plan.region in ("US915", "AU915"):
        fsbs = "+".join(str(n) for n in range(1, min(modules, 8) + 1))
        return f"name {plan.region} alone or {plan.region}-FSB{fsbs} to use them"
    if plan.region == "EU868" and plan.name != "EU868-16":
        return "name EU868 alone or EU868-16 to use them"
    return f"{plan.region} has no larger plan"


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
