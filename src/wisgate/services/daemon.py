"""Which services the daemon runs, from the configuration."""

from __future__ import annotations

from wisgate.config import Config
from wisgate.runtime import Target
from wisgate.services.display import display_service
from wisgate.services.fan import FanCurve, fan_service
from wisgate.services.lora import lora_service
from wisgate.services.monitor import monitor_service
from wisgate.services.rtc import rtc_service
from wisgate.services.supervisor import Supervisor


def build_supervisor(target: Target, config: Config) -> Supervisor:
    supervisor = Supervisor(target)
    supervisor.add("monitor", monitor_service(config.monitor.interval_s))
    if config.fan.enabled:
        supervisor.add("fan", fan_service(FanCurve(config.fan.curve), config.fan.interval_s))
    if config.rtc.enabled:
        supervisor.add("rtc", rtc_service(config.rtc.watchdog_s))
    if config.lora.enabled:
        supervisor.add("lora", lora_service(config.lora))
    if config.display.enabled:
        supervisor.add("display", display_service(config.display.interval_s, png=config.display.png))
    return supervisor
