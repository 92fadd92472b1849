"""The dashboard in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``, driven by
Selenium) against the whole daemon on a real-time simulated board: it loads with no console errors,
its live values follow the board (a supply cut shows within a second), and its controls take effect. A
network server (tests/join_server.py) answers the simulated site's join requests, so the modules transmit
and the duty-cycle load has something to show.

``WISGATE_DASHBOARD_PNG=docs/dashboard.png`` keeps the browser's screenshot (the README's picture).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_rig import LiveDaemon
from join_server import JoinServer
from modbus_rig import FieldDevice, tcp_server
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

TOKEN = "browser-token-42"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


class FieldLine:
    """A real pymodbus server on loopback with ``devices``, in a thread of its own (the daemon has its loop)."""

    def __init__(self, devices: list[FieldDevice], dead: set[int]) -> None:
        self.devices = devices
        self.dead = dead
        self.port = 0
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.stopping = asyncio.Event()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._serve(),), daemon=True)
        self.thread.start()
        assert self.ready.wait(10), "the ModBUS server did not start"

    async def _serve(self) -> None:
        async with tcp_server(self.devices, dead=self.dead) as port:
            self.port = port
            self.ready.set()
            await self.stopping.wait()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(10)


@pytest.fixture(scope="module")
def join_server() -> Iterator[JoinServer]:
    server = JoinServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def field() -> Iterator[FieldLine]:
    line = FieldLine([FieldDevice(1, holding={5: 550}, inputs={0: 612}, coils={0: False})], dead={9})
    yield line
    line.stop()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, join_server: JoinServer,
           field: FieldLine) -> Iterator[LiveDaemon]:
    industrial = {
        "modbus": {"buses": [{"name": "plc", "host": "127.0.0.1", "tcp_port": field.port, "devices": [
            {"name": "boiler", "device_id": 1, "interval_s": 0.5, "points": [
                {"name": "setpoint", "address": 5, "scale": 0.1, "unit": "°C", "writable": True, "min": 20,
                 "max": 80},
                {"name": "flow_temp", "table": "input", "address": 0, "type": "i16", "scale": 0.1, "unit": "°C"}]},
            {"name": "gone", "device_id": 9, "timeout_s": 0.2, "max_failures": 1,
             "points": [{"name": "x", "address": 0}]}]}]},
        "wisblock": [{"name": "pump", "slot": 2, "module": "RAK13007"}],
    }
    live = LiveDaemon(tmp_path_factory.mktemp("dashboard"), token=TOKEN, devices=40, interval_s=1.0,
                      lora=join_server.lora_section(), industrial=industrial)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is missing: install Debian's {package} (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1400,2400", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


def wait(driver: WebDriver, check: Any, timeout: float = 15, poll: float = 0.05) -> Any:
    # the page redraws as data arrives: an element found a moment ago may have been replaced
    return WebDriverWait(driver, timeout, poll_frequency=poll,
                         ignored_exceptions=(StaleElementReferenceException,)).until(lambda d: check(d) or None)


def text(driver: WebDriver, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def severe(driver: WebDriver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


@pytest.fixture(scope="module")
def page(browser: WebDriver, daemon: LiveDaemon) -> WebDriver:
    browser.get(daemon.base + "/")
    wait(browser, lambda d: d.find_element(By.ID, "supply").get_attribute("data-state") == "ok")
    wait(browser, lambda d: text(d, "link") == "live")
    return browser


def test_the_page_loads_live_with_no_console_errors(page: WebDriver, daemon: LiveDaemon) -> None:
    assert len(page.find_elements(By.CSS_SELECTOR, ".uplot")) >= 5  # 3 board charts, traffic, airtime
    wait(page, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#packets tbody tr")) >= 2, timeout=20)
    wait(page, lambda d: "PCF85063A" not in text(d, "rtc") and text(d, "rtc").endswith("UTC"))
    serial = daemon.supervisor.state.readings["secure_element.serial"].value
    assert text(page, "serial") == serial
    assert "°C" in text(page, "cpu") and "RPM" in text(page, "fan")
    devices = ("cpu", "fan", "rtc", "adc", "secure_element", "temperature_sensor", "power", "lora-0")

    def states(d: WebDriver) -> dict[str, str]:
        return {g.get_attribute("id"): g.get_attribute("class") for g in d.find_elements(By.CSS_SELECTOR, "g.dev")}

    # the states follow the status stream: a module counted after the first packets showed (the second
    # module heard first, or a loaded machine) turns ok at the next status, not before the packets
    with contextlib.suppress(TimeoutException):
        wait(page, lambda d: all(states(d).get(f"dev-{x}") == "dev ok" for x in devices), timeout=20)
    now = states(page)
    for device in devices:
        assert now[f"dev-{device}"] == "dev ok", (device, now)
    oled = page.find_element(By.ID, "oled")
    wait(page, lambda d: d.execute_script("return arguments[0].naturalWidth", oled) == 128)
    # the packet log's rows are the packets the daemon decoded (uplinks: a join-accept names no device)
    # read in one script: the log re-renders every 250 ms, and an element found first may be gone
    first_device = page.execute_script(
        "return document.querySelector('#packets tbody tr:not(.down) td:nth-child(3)').textContent")
    assert first_device in {r.get("dev_addr") or r.get("dev_eui") for r in _recent(daemon)}
    assert severe(page) == []


def _recent(daemon: LiveDaemon) -> list[dict[str, Any]]:
    return list(daemon.request("GET", "/api/lora/packets?limit=500")[1])


def test_a_supply_cut_shows_within_a_second(page: WebDriver, daemon: LiveDaemon) -> None:
    supply = page.find_element(By.ID, "supply")
    assert supply.get_attribute("data-state") == "ok"
    cut = time.monotonic()
    daemon.cut_supply()
    try:
        wait(page, lambda d: supply.get_attribute("data-state") == "lost", timeout=5, poll=0.02)
        shown_after = time.monotonic() - cut
        assert shown_after < 1.0, f"the cut showed after {shown_after:.2f} s"
        assert "LOST" in supply.text
        assert page.find_element(By.ID, "dev-power").get_attribute("class") == "dev err"
        wait(page, lambda d: any("supply lost" in e.text for e in d.find_elements(By.CSS_SELECTOR, "#events li")))
    finally:
        daemon.restore_supply()
    wait(page, lambda d: supply.get_attribute("data-state") == "ok", timeout=5)
    assert severe(page) == []


def test_controls_take_effect(page: WebDriver, daemon: LiveDaemon) -> None:
    page.find_element(By.ID, "token").send_keys(TOKEN)
    duty = page.find_element(By.ID, "fan-duty")
    duty.clear()
    duty.send_keys("77")
    page.find_element(By.ID, "fan-set").click()
    wait(page, lambda d: d.find_element(By.ID, "control-result").get_attribute("data-ok") == "true", timeout=5)
    wait(page, lambda d: text(d, "fan").startswith("77 %") and "manual" in text(d, "fan"), timeout=5)
    fan = daemon.supervisor.state.fan
    assert fan is not None and fan.duty_percent == 77 and fan.mode == "manual"
    before = page.execute_script("return document.getElementById('oled').src")
    box = page.find_element(By.ID, "oled-text")
    box.send_keys("HELLO BROWSER")
    page.find_element(By.ID, "oled-send").click()
    wait(page, lambda d: daemon.supervisor.state.overrides.oled is not None, timeout=5)
    assert daemon.supervisor.state.overrides.oled is not None
    assert daemon.supervisor.state.overrides.oled.lines == ("HELLO BROWSER",)
    wait(page, lambda d: d.execute_script("return document.getElementById('oled').src") != before, timeout=5)
    page.find_element(By.ID, "fan-auto").click()
    wait(page, lambda d: "manual" not in text(d, "fan"), timeout=5)  # the fan's own control again
    assert severe(page) == []
    keep = os.environ.get("WISGATE_DASHBOARD_PNG")
    shot = Path(page.capabilities.get("chrome", {}).get("userDataDir", "/tmp")) / "dashboard.png"
    assert page.save_screenshot(str(shot))
    if keep:
        shutil.copy(shot, keep)


def test_the_duty_cycle_load_shows_the_modules_transmissions(page: WebDriver, daemon: LiveDaemon,
                                                             join_server: JoinServer) -> None:
    """The join-accepts the modules transmit load their EU868 sub-band; the chart and the table show each
    module's load against the band's limit (the page reloads the LoRa figures every 10 s)."""
    wait(page, lambda d: join_server.accepts_sent >= 1, timeout=30)

    def loaded() -> list[dict[str, Any]]:
        duty = daemon.request("GET", "/api/lora/traffic")[1]["duty_cycle"]
        return [b for b in duty["bands"] if b["load"] > 0]

    bands = wait(page, lambda d: loaded(), timeout=20)
    assert all(b["band"] in "KLMNPQ" and b["limit"] in (0.001, 0.01, 0.1) for b in bands), bands
    expected = {(str(b["board"]), b["band"]) for b in bands}

    def shown(driver: WebDriver) -> bool:
        rows = driver.execute_script(
            "return [...document.querySelectorAll('#duty td.load')].map((td) => [td.parentElement.dataset.board,"
            " td.parentElement.dataset.band, Number(td.dataset.load)]).filter((row) => row[2] > 0)")
        return expected <= {(board, band) for board, band, _ in rows}

    wait(page, shown, timeout=25)
    legend = page.find_element(By.CSS_SELECTOR, "#chart-duty .u-legend").text
    assert "limit" in legend and all(f"module {b['board']} · {b['band']}" in legend for b in bands), legend
    assert "ETSI EN 300 220" in text(page, "duty-regulation")
    assert severe(page) == []


def industrial_write_ok(page: WebDriver) -> bool:
    return page.find_element(By.ID, "industrial-result").get_attribute("data-ok") == "true"


def test_industrial_points_health_and_writes(page: WebDriver, daemon: LiveDaemon) -> None:
    def cell(d: WebDriver, reading: str) -> str:
        return str(d.execute_script(
            "const c = document.querySelector(`td[data-reading='${arguments[0]}']`); return c ? c.textContent : null",
            reading))

    wait(page, lambda d: d.find_element(By.ID, "industrial-card").is_displayed())
    wait(page, lambda d: cell(d, "modbus.boiler.flow_temp") == "61.2" and cell(d, "modbus.boiler.setpoint") == "55.0")
    wait(page, lambda d: cell(d, "wisblock.pump.relay") == "off")
    # health with the reason: the device that never answers
    wait(page, lambda d: d.execute_script(
        "const r = document.querySelector('#industrial-devices tr[data-device=gone]'); return r && r.dataset.status")
        == "disabled")
    reason = page.find_element(By.CSS_SELECTOR, "#industrial-devices tr[data-device=gone] td:nth-child(4)").text
    assert reason == "timeout (no reply in 0.2 s) reading holding 0-0"
    token = page.find_element(By.ID, "token")
    token.clear()
    token.send_keys(TOKEN)
    box = page.find_element(By.CSS_SELECTOR, "input[data-input='modbus.boiler.setpoint']")
    box.send_keys("61.5")
    page.find_element(By.CSS_SELECTOR, "button[data-write='modbus.boiler.setpoint']").click()
    wait(page, lambda d: cell(d, "modbus.boiler.setpoint") == "61.5", timeout=5)
    assert industrial_write_ok(page)
    assert daemon.supervisor.state.value("modbus.boiler.setpoint") == pytest.approx(61.5)  # read back from the device
    box.clear()
    box.send_keys("95")
    page.find_element(By.CSS_SELECTOR, "button[data-write='modbus.boiler.setpoint']").click()
    wait(page, lambda d: text(d, "industrial-result").startswith("422"), timeout=5)
    assert "95 is above setpoint's maximum 80" in text(page, "industrial-result")
    assert daemon.supervisor.state.value("modbus.boiler.setpoint") == pytest.approx(61.5)
    page.find_element(By.CSS_SELECTOR, "button[data-write='wisblock.pump.relay'][data-value=on]").click()
    wait(page, lambda d: cell(d, "wisblock.pump.relay") == "on", timeout=5)
    gateway = daemon.supervisor.state.industrial
    assert gateway is not None and gateway.relays["pump"] is True
    expander = daemon.target.expander("expander2")
    assert daemon.on_board(lambda: expander.read_pin(12)) is True  # the relay line (slot 2) is driven
    # the refused write is the only thing the browser reports
    assert all("422" in message for message in severe(page))


def test_a_wrong_token_is_refused_and_said_so(page: WebDriver, daemon: LiveDaemon) -> None:
    token = page.find_element(By.ID, "token")
    token.clear()
    token.send_keys("not-the-token")
    page.find_element(By.ID, "fan-set").click()
    wait(page, lambda d: text(d, "control-result").startswith("401"), timeout=5)
    assert daemon.supervisor.state.overrides.fan is None
    # the browser reports the refused request itself; nothing else went wrong
    assert all("401" in message for message in severe(page))


def test_the_page_reconnects_after_a_daemon_restart(browser: WebDriver, tmp_path: Path) -> None:
    first = LiveDaemon(tmp_path / "first", token=TOKEN, devices=5)
    try:
        browser.get(first.base + "/")
        wait(browser, lambda d: text(d, "link") == "live")
    finally:
        first.stop()
    wait(browser, lambda d: text(d, "link") != "live", timeout=10)
    second = LiveDaemon(tmp_path / "second", token=TOKEN, devices=5, port=first.port)
    try:
        wait(browser, lambda d: text(d, "link") == "live", timeout=15)
        # the page follows the new run without a reload
        second.cut_supply()
        wait(browser, lambda d: d.find_element(By.ID, "supply").get_attribute("data-state") == "lost", timeout=5)
        second.restore_supply()
    finally:
        second.stop()
    # while the daemon was away the browser's reconnection attempts were refused; nothing else went wrong
    errors = severe(browser)
    odd = [m for m in errors if "ERR_CONNECTION_REFUSED" not in m and "ERR_EMPTY_RESPONSE" not in m]
    assert not odd, odd
