"""Polling real pymodbus servers over TCP on 127.0.0.1: blocks, types, scaling, writes, failures, health."""

from __future__ import annotations

import asyncio
import struct
import time
from typing import Any

import pytest
from modbus_rig import FieldDevice, tcp_server

from wisgate.industrial.config import BusSection
from wisgate.industrial.modbus.codec import CodecError
from wisgate.industrial.modbus.poller import BusPoller
from wisgate.services.events import EventKind
from wisgate.services.state import BoardState


def words(fmt: str, value: float | int) -> list[int]:
    data = struct.pack(">" + fmt, value)
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]


def bus(port: int, devices: list[dict[str, Any]]) -> BusSection:
    return BusSection.model_validate({"name": "plc", "host": "127.0.0.1", "tcp_port": port, "devices": devices})


def regs(values: dict[int, list[int]]) -> dict[int, int]:
    return {a + i: w for a, ws in values.items() for i, w in enumerate(ws)}


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_types_orders_scaling_in_blocks() -> None:
    f32_cdab = words("f", 230.5)[::-1]
    f64 = words("d", -1234.5678)
    i32_badc = [((w & 0xFF) << 8) | (w >> 8) for w in words("i", -70000)]
    holding = regs({0: words("H", 2315), 1: words("h", -40), 2: f32_cdab, 4: i32_badc, 6: words("Q", 2**40 + 5),
                    10: f64, 20: [0x4142, 0x4344, 0x4500], 30: [0b1010_0000_0000_0001]})
    device = FieldDevice(7, holding=holding, inputs={3: 777}, coils={2: True})
    points = [
        {"name": "u16", "address": 0, "scale": 0.1, "unit": "V"},
        {"name": "i16", "address": 1, "type": "i16", "scale": 0.5, "offset": 10},
        {"name": "f32", "address": 2, "type": "f32", "word_order": "little"},
        {"name": "i32", "address": 4, "type": "i32", "byte_order": "little"},
        {"name": "u64", "address": 6, "type": "u64"},
        {"name": "f64", "address": 10, "type": "f64"},
        {"name": "text", "address": 20, "type": "string", "count": 3},
        {"name": "pattern", "address": 30, "type": "bits"},
        {"name": "input", "table": "input", "address": 3},
        {"name": "coil", "table": "coil", "address": 2},
    ]

    async def main() -> tuple[dict[str, Any], int]:
        async with tcp_server([device]) as port:
            state = BoardState()
            poller = BusPoller(bus(port, [{"name": "dev", "device_id": 7, "points": points, "max_gap": 2}]), state)
            await poller.poll(poller.devices[0])
            poller.link.close()
            return {k.split(".")[-1]: r.value for k, r in state.readings.items()}, device.requests

    values, requests = run(main())
    assert values["u16"] == pytest.approx(231.5)
    assert values["i16"] == pytest.approx(-10.0)
    assert values["f32"] == pytest.approx(230.5)
    assert values["i32"] == -70000
    assert values["u64"] == 2**40 + 5
    assert values["f64"] == pytest.approx(-1234.5678)
    assert values["text"] == "ABCDE"
    assert values["pattern"] == 0b1010_0000_0000_0001
    assert values["input"] == 777
    assert values["coil"] == 1
    # holding 0-13 in one block (the gap 8-9 is within max_gap), then 20-22, 30; one each for input and coil
    assert requests == 5


def test_write_with_read_back_and_range_check() -> None:
    device = FieldDevice(1, holding={5: 100})
    points = [{"name": "setpoint", "address": 5, "scale": 0.1, "writable": True, "min": 0, "max": 50},
              {"name": "limit", "address": 8, "type": "f32", "writable": True},
              {"name": "run", "table": "coil", "address": 1, "writable": True},
              {"name": "status", "address": 9, "type": "u16"}]

    async def main() -> tuple[list[Any], BoardState]:
        async with tcp_server([device]) as port:
            state = BoardState()
            poller = BusPoller(bus(port, [{"name": "pump", "points": points}]), state)
            pump = poller.devices[0]
            out = [(await poller.write(pump, pump.config.points[0], 42.3)).value,
                   (await poller.write(pump, pump.config.points[1], -2.5)).value,
                   (await poller.write(pump, pump.config.points[2], 1)).value]
            for point, value in ((points[0], 51), (points[3], 1)):
                p = pump.point(str(point["name"]))
                assert p is not None
                with pytest.raises(CodecError) as caught:
                    await poller.write(pump, p, value)
                out.append(str(caught.value))
            await poller.poll(pump)
            poller.link.close()
            return out, state

    out, state = run(main())
    assert out[:3] == [pytest.approx(42.3), -2.5, 1]
    assert out[3] == "51 is above setpoint's maximum 50"
    assert out[4] == "point 'status' is read-only"
    assert state.value("modbus.pump.setpoint") == pytest.approx(42.3)
    assert state.value("modbus.pump.limit") == -2.5


def test_exception_code_is_the_reason() -> None:
    device = FieldDevice(1, size=10)

    async def main() -> Any:
        async with tcp_server([device]) as port:
            state = BoardState()
            poller = BusPoller(bus(port, [{"name": "d", "points": [{"name": "ok", "address": 0},
                                                                    {"name": "far", "address": 300}]}]), state)
            await poller.poll(poller.devices[0])
            poller.link.close()
            return poller.devices[0].health(time.monotonic()), state

    health, state = run(main())
    assert health.status == "ok"  # it answered
    assert health.reason == "exception 2 (illegal data address) reading holding 300-300"
    assert health.error_rate == 0.5
    assert state.reading("modbus.d.far").error == health.reason  # type: ignore[union-attr]
    assert state.value("modbus.d.ok") == 0


def test_dead_device_is_disabled_retried_and_never_stalls_the_others() -> None:
    live = [FieldDevice(i, inputs={0: 100 + i}) for i in range(1, 6)]
    devices = [{"name": f"d{i}", "device_id": i, "interval_s": 0.1, "timeout_s": 0.3, "max_failures": 2,
                "retry_s": 1.0, "points": [{"name": "v", "table": "input", "address": 0}]} for i in range(1, 7)]

    async def main() -> tuple[BusPoller, BoardState, list[int]]:
        async with tcp_server(live, dead={6}) as port:
            state = BoardState()
            events = state.events.subscribe()
            poller = BusPoller(bus(port, devices), state)
            task = asyncio.create_task(poller.run())
            await asyncio.sleep(2.6)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            kinds = []
            while (event := await events.get(0)) is not None:
                kinds.append(event.kind)
            return poller, state, [d.requests for d in live]

    poller, state, requests = run(main())
    dead = poller.devices[5]
    health = dead.health(time.monotonic())
    assert health.status == "disabled"
    assert health.reason == "timeout (no reply in 0.3 s) reading input 0-0"
    # 2.6 s: two failures (backoff 0.2 s), disabled, retried at ~1.5 s and ~2.5 s: 3-4 tries, each 0.3 s
    assert 3 <= dead.requests <= 4
    # the live devices kept about their 0.1 s pace, less only the dead one's few timeouts
    assert min(requests) >= 10
    assert all(state.value(f"modbus.d{i}.v") == 100 + i for i in range(1, 6))
    assert poller.max_round_s < 0.3 + 0.2


def test_device_back_after_being_down_is_an_event() -> None:
    device = FieldDevice(1, inputs={0: 5})
    dead: set[int] = {1}

    async def main() -> list[EventKind]:
        async with tcp_server([device], dead=dead) as port:
            state = BoardState()
            events = state.events.subscribe()
            poller = BusPoller(bus(port, [{"name": "m", "timeout_s": 0.2, "max_failures": 1, "retry_s": 0.3,
                                           "interval_s": 0.1, "points": [{"name": "v", "table": "input",
                                                                          "address": 0}]}]), state)
            task = asyncio.create_task(poller.run())
            await asyncio.sleep(0.5)
            dead.clear()
            await asyncio.sleep(0.6)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert state.value("modbus.m.v") == 5
            kinds = []
            while (event := await events.get(0)) is not None:
                kinds.append(event.kind)
            return kinds

    assert run(main()) == [EventKind.MODBUS_DEVICE_DOWN, EventKind.MODBUS_DEVICE_DISABLED,
                           EventKind.MODBUS_DEVICE_UP]


def test_no_server_is_a_connection_failure() -> None:
    from modbus_rig import free_port

    async def main() -> Any:
        poller = BusPoller(bus(free_port(), [{"name": "x", "timeout_s": 0.3, "points": [{"name": "v",
                                                                                          "address": 0}]}]),
                           BoardState())
        await poller.poll(poller.devices[0])
        poller.link.close()
        return poller.devices[0].health(time.monotonic())

    health = run(main())
    assert health.status == "failing"
    assert health.reason is not None and health.reason.startswith("cannot connect to 127.0.0.1:")


def test_a_restarted_server_is_polled_again() -> None:
    device = FieldDevice(1, inputs={0: 9})

    async def main() -> tuple[list[str | None], float | None]:
        state = BoardState()
        async with tcp_server([device]) as port:
            poller = BusPoller(bus(port, [{"name": "m", "timeout_s": 0.3, "interval_s": 0.1, "max_failures": 100,
                                           "points": [{"name": "v", "table": "input", "address": 0}]}]), state)
            task = asyncio.create_task(poller.run())
            await asyncio.sleep(0.3)
        await asyncio.sleep(0.5)  # the server is gone
        reasons = [poller.devices[0].reason]
        device.set_input(0, 10)
        async with tcp_server([device], port=port):
            await asyncio.sleep(1.5)
            reasons.append(poller.devices[0].reason)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        return reasons, state.value("modbus.m.v")

    reasons, value = run(main())
    assert reasons[0] is not None and reasons[0] != ""
    assert reasons[1] is None
    assert value == 10


def test_deadband_holds_the_published_value_and_keeps_the_latest_read() -> None:
    device = FieldDevice(1, inputs={0: 1000, 1: 500})
    points = [{"name": "level", "table": "input", "address": 0, "scale": 0.1, "deadband": 0.5},
              {"name": "plain", "table": "input", "address": 1},
              {"name": "setpoint", "address": 5, "scale": 0.1, "deadband": 5, "writable": True}]

    async def main() -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        async with tcp_server([device]) as port:
            state = BoardState()
            poller = BusPoller(bus(port, [{"name": "tank", "points": points}]), state)
            tank = poller.devices[0]

            async def poll(level: int, plain: int) -> None:
                device.set_input(0, level)
                device.set_input(1, plain)
                await poller.poll(tank)
                out.append((state.value("modbus.tank.level"), tank.latest["level"], state.value("modbus.tank.plain")))

            await poll(1000, 500)   # first read: published
            await poll(1004, 501)   # +0.4: within the deadband, held; the plain point follows
            await poll(1005, 502)   # +0.5 from the published 100.0: still within (moved not more than it)
            await poll(1006, 503)   # +0.6: published, and the new reference
            await poll(1002, 504)   # -0.4 from 100.6: held
            await poll(996, 505)    # -1.0: published
            setpoint = tank.point("setpoint")
            assert setpoint is not None
            written = await poller.write(tank, setpoint, 42.0)
            out.append((written.value, state.value("modbus.tank.setpoint")))
            written = await poller.write(tank, setpoint, 43.0)  # within 5 of 42, but a write is always published
            out.append((written.value, state.value("modbus.tank.setpoint")))
            await poller.poll(tank)
            out.append((state.value("modbus.tank.setpoint"), tank.latest["setpoint"]))
            poller.link.close()
        return out

    out = run(main())
    assert out[:6] == [
        (pytest.approx(100.0), pytest.approx(100.0), 500), (pytest.approx(100.0), pytest.approx(100.4), 501),
        (pytest.approx(100.0), pytest.approx(100.5), 502), (pytest.approx(100.6), pytest.approx(100.6), 503),
        (pytest.approx(100.6), pytest.approx(100.2), 504), (pytest.approx(99.6), pytest.approx(99.6), 505)]
    assert out[6] == (pytest.approx(42.0), pytest.approx(42.0))
    assert out[7] == (pytest.approx(43.0), pytest.approx(43.0))
    assert out[8] == (pytest.approx(43.0), pytest.approx(43.0))


def test_a_failed_read_forgets_the_held_value() -> None:
    device = FieldDevice(1, inputs={0: 1000})
    points = [{"name": "level", "table": "input", "address": 0, "scale": 0.1, "deadband": 1}]

    async def main() -> list[Any]:
        out: list[Any] = []
        state = BoardState()
        async with tcp_server([device]) as port:
            poller = BusPoller(bus(port, [{"name": "tank", "timeout_s": 0.2, "points": points}]), state)
            tank = poller.devices[0]
            await poller.poll(tank)
            out.append(state.value("modbus.tank.level"))
            poller.link.close()
        # the server is gone: the read fails, the reading says so and nothing is held
        await poller.poll(tank)
        out.append((state.value("modbus.tank.level"), tank.latest["level"], dict(tank.held)))
        poller.link.close()
        return out

    out = run(main())
    assert out[0] == pytest.approx(100.0)
    assert out[1] == (None, None, {})
