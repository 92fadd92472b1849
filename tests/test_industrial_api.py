"""The industrial API on a running daemon (supervisor, industrial and API services on the simulated board)
against a real pymodbus server: listing with health, writes by point name (token, range, read-back), a
dead device's 504, WisBlock relay and analog readings."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from modbus_rig import FieldDevice, free_port, tcp_server
from pydantic import SecretStr

from wisgate.api.service import api_service
from wisgate.config import ApiSection
from wisgate.industrial.config import IndustrialSection
from wisgate.industrial.service import industrial_service
from wisgate.services.supervisor import Supervisor
from wisgate.sim.target import SimTarget

TOKEN = "correct horse battery staple"


def industrial(port: int) -> IndustrialSection:
    return IndustrialSection.model_validate({
        "modbus": {"buses": [{"name": "plc", "host": "127.0.0.1", "tcp_port": port, "devices": [
            {"name": "boiler", "device_id": 1, "interval_s": 0.2, "points": [
                {"name": "setpoint", "address": 5, "scale": 0.1, "unit": "°C", "writable": True, "min": 20,
                 "max": 80},
                {"name": "flow_temp", "table": "input", "address": 0, "type": "i16", "scale": 0.1, "unit": "°C"}]},
            {"name": "gone", "device_id": 2, "timeout_s": 0.2, "max_failures": 1,
             "points": [{"name": "x", "address": 0, "writable": True}]}]}]},
        "wisblock": [{"name": "tank", "slot": 1, "module": "RAK5801", "range": [0, 4], "unit": "m",
                      "interval_s": 0.2},
                     {"name": "pump", "slot": 2, "module": "RAK13001"}],
    })


def test_industrial_endpoints() -> None:
    target = SimTarget.open()
    target.board.env.analog.set_current_loop(1, 8.0)
    boiler = FieldDevice(1, holding={5: 550}, inputs={0: 612})
    api_port = free_port()

    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with tcp_server([boiler], dead={2}) as port:
            supervisor = Supervisor(target)
            supervisor.add("industrial", industrial_service(industrial(port)))
            supervisor.add("api", api_service(ApiSection(port=api_port, token=SecretStr(TOKEN))))
            stop = asyncio.Event()
            daemon = asyncio.create_task(supervisor.run(stop))
            base = f"http://127.0.0.1:{api_port}/api"
            auth = {"Authorization": f"Bearer {TOKEN}"}
            async with httpx.AsyncClient(base_url=base, timeout=10) as http:
                for _ in range(100):
                    await asyncio.sleep(0.1)
                    try:
                        listing = (await http.get("/industrial")).json()
                    except httpx.TransportError:
                        continue
                    if all(d["status"] != "unknown" for d in listing.get("devices", [])) and listing["wisblock"][0][
                            "readings"]:
                        break
                out["listing"] = listing
                out["no_token"] = (await http.post("/industrial/devices/boiler/points/setpoint",
                                                   json={"value": 60})).status_code
                write = await http.post("/industrial/devices/boiler/points/setpoint", json={"value": 61.5},
                                        headers=auth)
                out["write"] = (write.status_code, write.json())
                high = await http.post("/industrial/devices/boiler/points/setpoint", json={"value": 81},
                                       headers=auth)
                out["high"] = (high.status_code, high.json())
                dead = await http.post("/industrial/devices/gone/points/x", json={"value": 1}, headers=auth)
                out["dead"] = (dead.status_code, dead.json())
                out["unknown"] = (await http.post("/industrial/devices/boiler/points/nope", json={"value": 1},
                                                  headers=auth)).status_code
                relay = await http.post("/industrial/wisblock/pump/relay", json={"on": True}, headers=auth)
                out["relay"] = (relay.status_code, relay.json())
                out["status"] = {r["name"]: r for r in (await http.get("/status")).json()["readings"]}
                out["events"] = [e["kind"] for e in (await http.get("/events")).json()["events"]]
                out["metrics"] = (await http.get(f"http://127.0.0.1:{api_port}/metrics")).text
            stop.set()
            await daemon
        return out

    try:
        out = asyncio.run(asyncio.wait_for(main(), 60))
    finally:
        target.close()
    devices = {d["name"]: d for d in out["listing"]["devices"]}
    assert devices["boiler"]["status"] == "ok"
    points = {p["name"]: p for p in devices["boiler"]["points"]}
    assert points["flow_temp"]["reading"]["number"] == 61.2
    assert points["flow_temp"]["latest"] == pytest.approx(61.2)
    assert points["setpoint"]["writable"] and points["setpoint"]["max"] == 80
    assert devices["gone"]["status"] == "disabled"
    assert devices["gone"]["reason"] == "timeout (no reply in 0.2 s) reading holding 0-0"
    tank = out["listing"]["wisblock"][0]
    tank_values = {r["name"]: r.get("number") for r in tank["readings"]}
    assert tank_values["wisblock.tank.value"] == pytest.approx(1.0, abs=0.005)
    assert tank["adc_channel"] == 1 and tank["enable_line"] == 1
    assert out["no_token"] == 401
    assert out["write"][0] == 200 and out["write"][1]["read_back"]["number"] == 61.5
    assert out["high"] == (422, {"detail": [{"loc": ["body", "value"], "msg": "81 is above setpoint's maximum 80",
                                             "type": "value_error"}]})
    assert out["dead"] == (504, {"detail": "gone: timeout (no reply in 0.2 s)"})
    assert out["unknown"] == 404
    assert out["relay"] == (200, {"module": "pump", "on": True})
    assert out["status"]["modbus.boiler.setpoint"]["number"] == 61.5
    assert out["status"]["wisblock.pump.relay"]["number"] == 1.0
    assert "modbus.device_down" in out["events"] and "modbus.write" in out["events"]
    metrics = out["metrics"].splitlines()
    assert 'wisgate_modbus_device_ok{bus="plc",device="boiler"} 1.0' in metrics
    assert 'wisgate_modbus_device_disabled{bus="plc",device="gone"} 1.0' in metrics
    assert any(line.startswith("wisgate_reading{") and 'name="modbus.boiler.setpoint"' in line for line in metrics)
