"""Which services the daemon runs, from the configuration."""

from __future__ import annotations

from wisgate.api.service import api_service
from wisgate.apps.running import set_running_config
from wisgate.config import Config
from wisgate.services.buzzer import buzzer_service
from wisgate.services.display import display_service
from wisgate.services.environment import environment_service, limits
from wisgate.services.fan import fan_service
from wisgate.services.fan_control import FanCurve, FanPolicy, PiController
from wisgate.services.history import History
from wisgate.services.leds import leds_service
from wisgate.services.monitor import monitor_service
from wisgate.services.power import power_service
from wisgate.services.rtc import rtc_service
from wisgate.services.state import BoardState
from wisgate.services.supervisor import Supervisor
from wisgate.target import Target


def fan_policy(config: Config) -> FanPolicy:
    fan = config.fan
    if fan.mode == "curve":
        return FanCurve(fan.curve)
    return PiController(target_c=fan.target_c, critical_c=fan.critical_c, min_duty=fan.min_duty_percent)


def build_supervisor(target: Target, config: Config, history: History | None = None) -> Supervisor:
    state = BoardState(history=history, gateway_label=config.lora.gateway_id)
    if history is not None:
        state.events.add_sink(history.add_event)
    supervisor = Supervisor(target, state)
    # the power service reports the supply itself: it owns the power-fail line
    skip = ("power",) if config.power.enabled else ()
    supervisor.add("monitor", monitor_service(config.monitor.interval_s, skip=skip))
    if config.fan.enabled:
        supervisor.add("fan", fan_service(fan_policy(config), config.fan.interval_s))
    if config.environment.enabled:
        env = config.environment
        checks = limits(env.pcb_high_c, env.humidity_high_rh, env.cpu_high_c, env.hysteresis)
        supervisor.add("environment", environment_service(checks, config.monitor.interval_s))
    if config.leds.enabled:
        supervisor.add("leds", leds_service(config.leds.roles))
    if config.rtc.enabled:
        supervisor.add("rtc", rtc_service(config.rtc.watchdog_s))
    if config.lora.enabled:
        from wisgate.services.lora import lora_service  # ZeroMQ and the gateway only where LoRa runs
        from wisgate.services.traffic import traffic_service

        supervisor.add("lora", lora_service(config.lora))
        supervisor.add("lora-traffic", traffic_service(config.lora.region))
    if config.power.enabled:
        supervisor.add("power", power_service(config.power))
    if config.buzzer.enabled:
        buzzer = config.buzzer
        supervisor.add("buzzer", buzzer_service(
            frequency_hz=buzzer.frequency_hz, startup_beep=buzzer.startup_beep, line=buzzer.line,
        ))
    if config.display.enabled:
        png = config.display.png or target.display_path()
        supervisor.add("display", display_service(
            config.display.interval_s, page_s=config.display.page_s, png=png,
            blank_after_s=config.display.blank_after_s))
    industrial = config.industrial
    if industrial.enabled and (industrial.configured or (industrial.sim_field_devices
                                                         and target.field_devices() is not None)):
        from wisgate.industrial.service import industrial_service  # pymodbus only where ModBUS is used

        supervisor.add("industrial", industrial_service(config.industrial))
    if config.mqtt.enabled:
        from wisgate.api.mqtt.service import telemetry_service  # aiomqtt only where telemetry is used

        supervisor.add("telemetry", telemetry_service(config.mqtt, override_s=config.api.override_s,
                                                      gateway_id=config.lora.gateway_id))
    if config.api.enabled:
        set_running_config(config)  # the apps endpoints keep installs off the gateway's slots and ports
        supervisor.add("api", api_service(config.api, stale_after_s=3 * config.monitor.interval_s))
    return supervisor
