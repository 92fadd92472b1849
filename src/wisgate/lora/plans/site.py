"""Which modules a LoRa configuration describes: configured Concentratord modules, or the simulated site's."""

from __future__ import annotations

import logging

from wisgate.config import LoraModuleSection, LoraSection
from wisgate.lora.plans.allocation import SX1280, SX1301, SX1302, SX1303, Module, ModuleAllocation, allocate
from wisgate.lora.plans.channels import ism2400
from wisgate.lora.plans.regions import idle_modules, modules_for, plan_for_modules, plan_named

log = logging.getLogger("wisgate.lora")

CHIPS = {"sx1301": SX1301, "sx1302": SX1302, "sx1303": SX1303, "sx1280": SX1280}


def configured_module(config: LoraSection, m: LoraModuleSection) -> Module:
    region = "ISM2400" if m.chip == "sx1280" else plan_named(config.region).region
    return Module.for_region(m.board, region, CHIPS[m.chip], tx=m.tx)


def sim_allocations(config: LoraSection) -> list[ModuleAllocation]:
    """The simulated site's modules: ``sub_ghz_modules`` SX1302 on the region, plus an SX1280.

    A region named alone fills every sub-GHz module (US915 on two is FSB1+2); a module the plan still
    leaves without channels is a warning in the log, naming why.
    """
    count = config.sim.sub_ghz_modules
    plan = plan_for_modules(config.region, count) if count else plan_named(config.region)
    modules = modules_for(plan, count) if count else []
    for warning in idle_modules(plan, allocate(plan, modules)) if modules else []:
        log.warning("simulated site: %s", warning)
    if config.sim.sx1280_module:
        modules.append(Module.for_region(len(modules), "ISM2400", SX1280))
        plan = plan + ism2400()
    return allocate(plan, modules)
