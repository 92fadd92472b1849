"""MQTT telemetry: the cost of a comparison round, CPU while publishing, and recovery after broker restarts.

A board state like the simulated board's (readings of every onboard sensor, fan, power, services, three LoRa
modules with eight channels each, two WisBlock slots, a ModBUS meter) is published to a Mosquitto started
here on a free loopback port, the CPU temperature moving every second and the LoRa counters counting
``--uplinks`` per second. Printed: configs and their bytes, the time of one round (discovery configs and
state payloads computed and compared), the process's CPU over ``--seconds``, messages sent; then the broker
is restarted without its data (time until every config and state is back on it) and with its data
(configs sent again: none expected).

Usage: ``python bench/mqtt_telemetry.py [--seconds 20] [--uplinks 100]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import aiomqtt

from wisgate.api.mqtt.discovery import discovery_configs
from wisgate.api.mqtt.payloads import state_payloads
from wisgate.api.mqtt.service import Telemetry
from wisgate.api.mqtt.settings import TelemetrySettings
from wisgate.clock import WallClock
from wisgate.lora.core.gateway import Gateway
from wisgate.services.readings import Reading, number, text
from wisgate.services.state import BoardState, FanState, PowerState, ServiceHealth

SERIAL = "0123A1B2C3D4E5F6EE"
CHANNELS = [867_100_000 + 200_000 * n for n in range(8)]


def readings(now: float, cpu_c: float) -> list[Reading]:
    out = [number("cpu.temperature", "CPU temperature", cpu_c, "°C", "cpu", now),
           number("pcb.temperature", "PCB temperature", 31.4, "°C", "temperature_sensor", now),
           number("pcb.humidity", "PCB humidity", 41.0, "%RH", "temperature_sensor", now),
           number("fan.duty", "fan duty", 35, "%", "fan", now, digits=0),
           number("fan.rpm", "fan speed", 2400, "RPM", "fan", now, digits=0),
           text("secure_element.serial", "serial number", SERIAL, "secure_element", now),
           text("rtc.time", "RTC time", "2026-12-05 14:00:00 UTC", "rtc", now),
           text("supply", "supply", "ok", "power", now)]
    out += [number(f"adc.ain{n}", f"AIN{n}", 0.1 * n, "V", "adc", now, digits=4) for n in range(4)]
    out += [text(f"expander{n}.port{p}", f"port {p} inputs", "00000000", f"expander{n}", now)
            for n in (1, 2) for p in (0, 1)]
    out += [number("wisblock.tank.current", "tank current", 12.0, "mA", "wisblock1", now, digits=3),
            number("wisblock.tank.value", "tank", 2.0, "m", "wisblock1", now),
            number("wisblock.line.voltage", "line voltage", 2.5, "V", "wisblock2", now)]
    out += [number(f"modbus.meter.{p}", p, 1.0, u, "modbus.meter", now)
            for p, u in (("voltage", "V"), ("current", "A"), ("power", "W"), ("energy", "kWh"))]
    return out


def board_state() -> BoardState:
    now = time.time()
    state = BoardState()
    state.put_readings(readings(now, 48.0))
    state.fan = FanState(48.0, 35.0, 2400, "curve", None, now)
    state.power = PowerState("ok", None, None, 0, 0, None, 30.0, None, None, 12.1, True, now)
    for name in ("monitor", "fan", "rtc", "lora", "power", "buzzer", "display", "industrial", "api", "telemetry"):
        state.services[name] = ServiceHealth(name, "running", 0, None, None, None, now)
    gateway = Gateway("0016c001ff1a7391", [], clock=WallClock())
    for board in (0, 1, 2):
        for frequency in CHANNELS:
            gateway.stats.module(board).channel(frequency)
    state.lora.gateway = gateway
    return state


class Mosquitto:
    def __init__(self, workdir: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.workdir = workdir
        self.config = workdir / "mosquitto.conf"
        self.config.write_text(f"persistence true\npersistence_location {workdir}/\nlistener {self.port} 127.0.0.1\n"
                               "allow_anonymous true\nuser root\n")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen([binary, "-c", str(self.config)], stderr=subprocess.DEVNULL)
        for _ in range(250):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.1):
                return
            time.sleep(0.02)
        raise SystemExit("mosquitto did not start")

    def stop(self, *, forget: bool = False) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait()
        if forget:
            for stored in self.workdir.glob("*.db"):
                stored.unlink()


async def retained(port: int, wanted: set[str], timeout: float = 30) -> float:
    """Seconds until every topic in ``wanted`` is retained on the broker (polled by fresh subscribers)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        seen: set[str] = set()
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
            async with aiomqtt.Client("127.0.0.1", port) as client:
                await client.subscribe([("homeassistant/#", 1), ("wisgate/#", 1)])
                async with asyncio.timeout(0.3):
                    async for message in client.messages:
                        if message.payload:
                            seen.add(str(message.topic))
        if wanted <= seen:
            return time.monotonic() - start
        await asyncio.sleep(0.05)
    return float("inf")


async def main(seconds: float, uplinks: int) -> None:
    state = board_state()
    sender = Telemetry(TelemetrySettings(reconnect_min_s=0.1, reconnect_max_s=0.5), state, WallClock(),
                       override_s=60, serial_wait_s=1)
    identity = await sender.resolve_identity()
    configs = discovery_configs(state, identity)
    states = state_payloads(state, identity, time.monotonic())
    rounds = 500
    start = time.perf_counter()
    unchanged = 0
    for _ in range(rounds):
        same = discovery_configs(state, identity) == configs
        unchanged += same and state_payloads(state, identity, time.monotonic()) == states
    assert unchanged == rounds
    round_ms = (time.perf_counter() - start) / rounds * 1000
    print(f"entities (discovery configs): {len(configs)}, {sum(map(len, configs.values())):,} bytes; "
          f"state topics: {len(states)}")
    print(f"one comparison round (configs + states computed and compared): {round_ms:.2f} ms")

    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp))
        broker.start()
        sender.settings = TelemetrySettings(port=broker.port, reconnect_min_s=0.1, reconnect_max_s=0.5)
        counted = {"messages": 0}

        async def count() -> None:
            async with aiomqtt.Client("127.0.0.1", broker.port) as client:
                await client.subscribe([("homeassistant/#", 1), ("wisgate/#", 1)])
                async for _ in client.messages:
                    counted["messages"] += 1

        async def load() -> None:
            rng = random.Random(1)
            cpu_c = 48.0
            while True:
                await asyncio.sleep(1.0 / uplinks)
                module = state.lora.gateway.stats.module(rng.randrange(3)) if state.lora.gateway else None
                if module is not None:
                    module.channel(rng.choice(CHANNELS)).received += 1
                if rng.random() < 1.0 / uplinks:
                    cpu_c += rng.uniform(-0.5, 0.5)
                    state.put_readings(readings(time.time(), cpu_c))

        task = asyncio.create_task(sender.run())
        counter = asyncio.create_task(count())
        await sender.connected.wait()
        await asyncio.sleep(1)
        loader = asyncio.create_task(load())
        cpu0, wall0, sent0 = time.process_time(), time.monotonic(), counted["messages"]
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        print(f"{seconds:g} s at {uplinks} uplinks/s, interval 1 s: process CPU {100 * cpu / wall:.2f} % of one core "
              f"(with the load generator and a counting subscriber), {(counted['messages'] - sent0) / wall:.1f} "
              "messages/s on the broker")
        counter.cancel()
        wanted = set(configs) | set(states)
        broker.stop(forget=True)
        await asyncio.sleep(0.5)
        broker.start()
        print(f"broker restarted without its data: every config and state retained again after "
              f"{await retained(broker.port, wanted):.2f} s")
        configs_sent, states_sent, connects = sender.configs_sent, sender.states_sent, sender.connects
        broker.stop()
        await asyncio.sleep(0.5)
        broker.start()
        while sender.connects == connects:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        print(f"broker restarted with its data: configs sent again {sender.configs_sent - configs_sent}, "
              f"states {sender.states_sent - states_sent}")
        loader.cancel()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        broker.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--uplinks", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.uplinks))
