"""The LoRaWAN gateway service: modules (real Concentratord daemons or a simulated site) as one gateway.

Decoded uplinks are published as JSON on a local ZeroMQ socket (``lora.traffic_url``, only while someone
subscribes: services/traffic_feed.py), which ``wisgate lora traffic`` follows; the counters are logged at
debug level every ``stats_interval_s`` (they are readings, not changes: the live view, the API, the metrics
and systemd's status line show them).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from wisgate.aio import TaskGroup
from wisgate.config import LoraSection
from wisgate.lora.core.dutycycle import DutyCycleTracker
from wisgate.lora.core.filters import UplinkFilter
from wisgate.lora.core.gateway import Gateway, ModuleLink
from wisgate.lora.core.jit import JitQueue
from wisgate.lora.plans.allocation import Module
from wisgate.services.events import EventKind, Severity
from wisgate.services.supervisor import Context, ServiceFn

if TYPE_CHECKING:
    # each backhaul is imported where it is configured: aiomqtt, websockets and chirpstack_api's protobufs
    # cost the daemon megabytes it should not pay for a backhaul it does not run
    from wisgate.lora.backhaul.mqtt_forwarder import MqttForwarder
    from wisgate.lora.backhaul.station import StationForwarder
    from wisgate.lora.backhaul.udp_forwarder import UdpForwarder, UdpServerConfig
    from wisgate.lora.backhaul.uplink_queue import UplinkQueue
    from wisgate.target import ConcentratorSet

log = logging.getLogger("wisgate.lora")

POWER_LUT_DBM = (12, 14, 16, 20, 27)


def uplink_filter(config: LoraSection) -> UplinkFilter:
    return config.filters.build()


def udp_servers(config: LoraSection) -> list[UdpServerConfig]:
    """The configured servers as they run: each one's store file under ``store_dir`` unless it names one."""
    return [
        server if server.store_path is not None
        else server.model_copy(update={"store_path": config.store_dir / f"udp-{server.name}.sqlite"})
        for server in config.udp
    ]


def module_jit(module: Module, region: str) -> JitQueue:
    """A module's JIT queue; in EU868 it keeps the ETSI EN 300 220 duty cycle per sub-band (one tracker per
    module: each transmitter is a device of its own under the regulation)."""
    low, high = module.tx_freq_min_hz, module.tx_freq_max_hz
    if low is None or high is None:
        low = high = 0  # receive-only: no frequency is in range
    duty_cycle = DutyCycleTracker() if region.upper().startswith("EU868") else None
    return JitQueue(board=module.board, tx_freq_min_hz=low, tx_freq_max_hz=high, power_lut=POWER_LUT_DBM,
                    duty_cycle=duty_cycle)


async def _hold(forwarder: UdpForwarder) -> None:
    async with forwarder:
        await asyncio.Event().wait()  # until cancelled; closing flushes and closes the stores


async def _run_closing(forwarder: MqttForwarder | StationForwarder, store: UplinkQueue) -> None:
    try:
        await forwarder.run()
    finally:
        store.close()


def lora_service(config: LoraSection) -> ServiceFn:
    async def run(context: Context) -> None:
        concentrators = context.target.concentrators(config)
        if not concentrators.modules:
            log.warning("no LoRa modules configured ([[lora.modules]]): the gateway is not started")
            return
        try:
            if concentrators.runner is not None:
                # the target's own modules (the simulated site) bind their endpoints first: the gateway's first
                # question to each module is then answered, not a spurious "does not answer" at every start
                await concentrators.runner.start()
            await serve(context, config, concentrators)
        finally:
            concentrators.close()

    return run


async def serve(context: Context, config: LoraSection, concentrators: ConcentratorSet) -> None:
    """The gateway on ``concentrators`` with its traffic feed and backhauls, until cancelled."""
    from wisgate.services.traffic_feed import TrafficFeed  # ZeroMQ only where LoRa runs

    links = [
        ModuleLink(module.board, backend, module_jit(module, config.region), module)
        for module, backend in concentrators.modules
    ]
    gateway = Gateway(config.gateway_id, links, clock=context.target.clock, uplink_filter=uplink_filter(config))
    context.state.lora.set_gateway(gateway)

    def module_state(board: int, up: bool, detail: str) -> None:
        if up:
            context.publish(EventKind.LORA_MODULE_UP, f"lora.board{board}",
                            f"LoRa module on board {board}: {detail}", board=board)
        else:
            context.publish(EventKind.LORA_MODULE_DOWN, f"lora.board{board}",
                            f"LoRa module on board {board}: {detail}; no uplinks from it", Severity.WARNING,
                            board=board, error=detail)

    gateway.on_module_state(module_state)
    feed = TrafficFeed(config.traffic_url)
    log.info("LoRa gateway %s on %d module(s); traffic on %s", config.gateway_id, len(links), config.traffic_url)

    async def radio() -> None:
        if concentrators.runner is not None:
            await concentrators.runner.run(gateway.module_silent)

    async def report() -> None:
        while True:
            await asyncio.sleep(config.stats_interval_s)
            for board, module in sorted(gateway.stats.modules.items()):
                total = module.total()
                log.debug("board %d: received %d (CRC ok %d, bad %d), forwarded %d, duplicates %d, dropped %s",
                         board, total.received, total.crc_ok, total.crc_bad, total.forwarded, total.duplicates,
                         dict(total.dropped) or 0)

    async def backhaul() -> None:
        """Semtech UDP servers and the MQTT broker, each with its own store-and-forward queue."""
        if not config.udp and not config.mqtt.enabled and not config.station.enabled:
            log.info("no network server configured ([[lora.udp]], [lora.mqtt] or [lora.station]): "
                     "uplinks go to traffic only")
            return
        from wisgate.lora.backhaul.store import UplinkStore
        from wisgate.lora.backhaul.udp_forwarder import MEMORY_MAX_ITEMS
        from wisgate.lora.backhaul.uplink_queue import UplinkQueue

        try:
            config.store_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # each store retries it; uplinks wait in memory meanwhile
            log.warning("uplink store directory %s cannot be created: %s", config.store_dir, exc)
        async with TaskGroup() as group:
            if config.udp:
                from wisgate.lora.backhaul.udp_forwarder import UdpForwarder

                pcb_c = context.state.value
                udp = UdpForwarder(gateway, udp_servers(config), temperature=lambda: pcb_c("pcb.temperature"))
                context.state.lora.udp = udp
                group.create_task(_hold(udp), name="lora-udp")
            if config.mqtt.enabled:
                from wisgate.lora.backhaul.mqtt_forwarder import MqttForwarder

                path, m = config.store_dir / "mqtt.sqlite", config.mqtt
                # a store that cannot be opened or written degrades this backhaul (uplinks wait in
                # memory, the queue retries it), never the gateway
                store = UplinkQueue(opener=lambda: UplinkStore.recover(
                    path, server="mqtt", max_items=m.store_max, policy=m.store_policy,
                ), server="mqtt", policy=m.store_policy, memory_max=min(m.store_max, MEMORY_MAX_ITEMS))
                mqtt = MqttForwarder(gateway, config.mqtt, store)
                context.state.lora.mqtt = mqtt
                group.create_task(_run_closing(mqtt, store), name="lora-mqtt")
            if config.station.enabled:
                from wisgate.lora.backhaul.station import StationForwarder

                s, station_path = config.station, config.store_dir / "station.sqlite"
                station_store = UplinkQueue(opener=lambda: UplinkStore.recover(
                    station_path, server="station", max_items=s.store_max, policy=s.store_policy,
                ), server="station", policy=s.store_policy, memory_max=min(s.store_max, MEMORY_MAX_ITEMS))
                station = StationForwarder(gateway, s, station_store)
                context.state.lora.station = station
                group.create_task(_run_closing(station, station_store), name="lora-station")

    try:
        async with TaskGroup() as group:
            group.create_task(gateway.run(), name="lora-gateway")
            group.create_task(feed.run(gateway), name="lora-traffic")
            group.create_task(radio(), name="lora-radio")
            group.create_task(report(), name="lora-stats")
            group.create_task(backhaul(), name="lora-backhaul")
    finally:
        feed.close()
        context.state.lora.set_gateway(None)
