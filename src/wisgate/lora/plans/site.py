"""Which modules a LoRa configuration describes: configured Concentratord modules, or the simulated site's."""

from __future__ import annotations

from wisgate.config import LoraModuleSection, LoraSection
from wisgate.lora.plans.allocation import SX1280, SX1301, SX1302, SX1303, Module, ModuleAllocation, allocate
from wisgate.lora.plans.channels import ism2400
from wisgate.lora.plans.regions import modules_for, plan_named

CHIPS = {"sx1301": SX1301, "sx1302": SX1302, "sx1303": SX1303, "sx1280": SX1280}


def configured_module(config: LoraSection, m: LoraModuleSection) -> Module:
    region = "ISM2400" if m.chip == "sx1280" else plan_named(config.region).region
    return Module.for_region(m.board, region, CHIPS[m.chip], tx=m.tx)


def sim_allocations(config: LoraSection) -> list[ModuleAllocation]:
    """The simulated site's modules: ``sub_ghz_modules`` SX1302 on the region, plus an SX1280."""
    plan = plan_named(config.region)
    modules = modules_for(plan, config.sim.sub_ghz_modules) if config.sim.sub_ghz_modules else []
    if config.sim.sx1280_module:
        modules.append(Module.for_region(len(modules), "ISM2400", SX1280))
        plan = plan + ism2400()
    return allocate(plan, modules)
