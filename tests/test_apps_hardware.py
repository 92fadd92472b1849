"""Hardware needs resolved against the board description, wisgate's configuration and what apps hold (no Docker)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from docker_rig import CATALOG, make_dev_dir

from wisgate.apps.catalog import load_catalog
from wisgate.apps.errors import ConflictError, HardwareError, SettingError
from wisgate.apps.hardware import Holder, HostView, gateway_holders, port_claim, resolve, slot_claim
from wisgate.apps.lint import lint_folders
from wisgate.apps.values import parse_assignments, settle
from wisgate.board.description import parse_description
from wisgate.config import parse_config

CATALOG_APPS = load_catalog([CATALOG], environ={})


def board(slots: str, extra: str = "") -> HostView:
    text = f'[power]\ninput = "dc"\n{extra}\n[slots]\n{slots}\n'
    return HostView(board=parse_description(text))


def test_gateway_modules_hold_their_slots_and_the_daemon_its_ports() -> None:
    config = parse_config({"lora": {"modules": [
        {"board": 0, "event_url": "ipc:///a", "command_url": "ipc:///b"},
        {"board": 2, "slot": "mpcie2", "event_url": "ipc:///c", "command_url": "ipc:///d"},
        {"board": 3, "event_url": "ipc:///e", "command_url": "ipc:///f"}]}, "api": {"port": 9000}})
    held = {(h.claim.kind, h.claim.key): h.who for h in gateway_holders(config)}
    assert held == {
        ("slot", "/dev/spidev0.0"): "wisgate's LoRa gateway ([[lora.modules]] board 0)",
        ("slot", "/dev/spidev0.1"): "wisgate's LoRa gateway ([[lora.modules]] board 2)",
        ("port", "tcp/5591"): "wisgate's LoRa traffic feed ([lora] traffic_url)",
        ("port", "tcp/9000"): "wisgate's HTTP API ([api] port)",
    }
    assert gateway_holders(parse_config({"lora": {"enabled": False}, "api": {"enabled": False}})) == []


def test_the_board_description_says_which_slot_holds_an_spi_concentrator(tmp_path: Path) -> None:
    app = CATALOG_APPS.get("radio")
    host = board('mpcie1 = "RAK5146-USB"\nmpcie2 = "RAK5146-SPI"')
    host.dev_dir = make_dev_dir(tmp_path)
    resolved = resolve(app, {"SLOT": "auto"}, host)
    assert resolved.variables["SPI_DEVICE"] == "/dev/spidev0.1" and resolved.variables["RESET_GPIO"] == "6"
    with pytest.raises(HardwareError, match="mPCIe #1 holds RAK5146-USB, not an SPI concentrator"):
        resolve(app, {"SLOT": "1"}, host)
    empty = board("")
    with pytest.raises(HardwareError, match="no free SPI concentrator slot: the board description has no module in "
                                            "mPCIe #1; the board description has no module in mPCIe #2"):
        resolve(app, {"SLOT": "auto"}, empty)


def test_a_wisblock_spi_module_on_the_same_spidev_is_a_warning(tmp_path: Path) -> None:
    host = board('mpcie1 = "RAK5146-SPI"\nwisblock1 = "RAK13300"')
    host.dev_dir = make_dev_dir(tmp_path)
    resolved = resolve(CATALOG_APPS.get("radio"), {"SLOT": "1"}, host)
    assert resolved.warnings == ["/dev/spidev0.0 is shared with RAK13300 in WisBlock IO slot 1 (inferred from RAK's "
                                 "examples)"]


def test_wisblock_serial_ports_and_gpio_chips(tmp_path: Path) -> None:
    node_red = load_catalog(environ={}).get("node-red")
    host = HostView(dev_dir=make_dev_dir(tmp_path))
    resolved = resolve(node_red, {"SERIAL_SLOTS": "auto"}, host)
    dev = host.dev_dir
    assert [d.container for d in resolved.devices["node-red"]] == [
        "/dev/i2c-1", "/dev/gpiochip0", "/dev/gpiochip2", "/dev/gpiochip3", "/dev/ttyUSB0", "/dev/ttyUSB1"]
    assert resolved.groups == {"node-red": [4321]}
    assert resolved.variables["SERIAL_DEVICES"] == "/dev/ttyUSB0,/dev/ttyUSB1"
    held = [Holder("app 'modbus' (x)", resolved.claims[0])]
    with pytest.raises(ConflictError, match=r"needs 2 WisBlock serial port\(s\); taken: /dev/ttyUSB0 \(app 'modbus'"):
        resolve(node_red, {"SERIAL_SLOTS": "auto"}, host, held)
    assert str(dev) in resolved.devices["node-red"][0].host


def test_a_usb_serial_device_by_symlink_is_one_device(tmp_path: Path) -> None:
    zigbee = load_catalog(environ={}).get("zigbee2mqtt")
    dev = make_dev_dir(tmp_path)
    (dev / "serial/by-id").mkdir(parents=True)
    os.symlink("../../ttyUSB0", dev / "serial/by-id/usb-ITead_Sonoff_Zigbee-if00")
    host = HostView(dev_dir=dev)
    resolved = resolve(zigbee, {"USB_SERIAL": "/dev/serial/by-id/usb-ITead_Sonoff_Zigbee-if00"}, host)
    assert resolved.variables["USB_SERIAL_DEVICE"] == "/dev/ttyUSB0"
    assert resolved.devices["zigbee2mqtt"][0].container == "/dev/ttyUSB0"
    node_red = load_catalog(environ={}).get("node-red")
    serial_held = resolve(node_red, {"SERIAL_SLOTS": "1"}, host).claims
    with pytest.raises(ConflictError, match=r"serial device /dev/serial/by-id/.* is already used by app 'nr'"):
        resolve(zigbee, {"USB_SERIAL": "/dev/serial/by-id/usb-ITead_Sonoff_Zigbee-if00"}, host,
                [Holder("app 'nr' (node-red)", c) for c in serial_held])


def test_export_resolution_needs_no_device_nodes() -> None:
    resolved = resolve(CATALOG_APPS.get("radio"), {"SLOT": "2"}, HostView(dev_dir=Path("/nonexistent")),
                       check_nodes=False)
    assert resolved.variables["SPI_DEVICE"] == "/dev/spidev0.1"


def test_claims_name_slots_and_ports() -> None:
    assert slot_claim("mpcie2").label == "mPCIe #2 (/dev/spidev0.1, reset GPIO6)"
    assert port_claim("udp", 1700).key == "udp/1700"


def test_settings_are_checked_defaulted_and_secrets_generated() -> None:
    chirpstack = load_catalog(environ={}).get("chirpstack")
    values = settle(chirpstack, {"REGION": "us915_0", "WEB_PORT": "8090"})
    assert values.values["REGION"] == "us915_0" and values.values["WEB_PORT"] == "8090"
    assert sorted(values.generated) == ["API_SECRET", "POSTGRES_PASSWORD"]
    assert len(values.values["API_SECRET"]) == 24 and "API_SECRET" not in values.public()
    assert settle(chirpstack, {}).values["API_SECRET"] != values.values["API_SECRET"]
    with pytest.raises(SettingError, match="REGION='eu433': choose one of eu868, us915_0"):
        settle(chirpstack, {"REGION": "eu433"})
    with pytest.raises(SettingError, match="no setting 'REGOIN'; did you mean REGION"):
        settle(chirpstack, {"REGOIN": "eu868"})
    with pytest.raises(SettingError, match="WEB_PORT='70000': a port is 1-65535"):
        settle(chirpstack, {"WEB_PORT": "70000"})
    with pytest.raises(SettingError, match="TS_AUTHKEY is required"):
        settle(load_catalog(environ={}).get("tailscale"), {})
    assert parse_assignments(["A=1=2", "B="]) == {"A": "1=2", "B": ""}
    with pytest.raises(SettingError, match="write KEY=VALUE"):
        parse_assignments(["nothing"])


def test_an_accelerator_comes_from_the_board_description_with_a_pcie_warning(tmp_path: Path) -> None:
    vision = CATALOG_APPS.get("vision")
    dev = make_dev_dir(tmp_path)
    os.mknod(dev / "apex_0", 0o660 | stat.S_IFCHR, os.makedev(1, 3))
    host = board('mpcie3 = "Coral-TPU"')
    host.dev_dir = dev
    resolved = resolve(vision, {}, host)
    assert resolved.devices["infer"][0].container == "/dev/apex_0"
    assert resolved.claims[0].label == "the Coral-TPU accelerator /dev/apex_0"
    assert resolved.warnings == ["mPCIe #3 shares the CM4's single PCIe lane with 2.5 GbE, USB3 ports, M.2: heavy "
                                 "accelerator traffic slows them"]
    with pytest.raises(HardwareError, match="give --board FILE with mpcie3"):
        resolve(vision, {}, HostView(dev_dir=dev))
    with pytest.raises(HardwareError, match="mPCIe #3 holds AX210; known accelerators: Coral-TPU, Hailo-8"):
        resolve(vision, {}, board('mpcie3 = "AX210"'))
    hailo = board('mpcie3 = "Hailo-8"')
    hailo.dev_dir = dev
    with pytest.raises(HardwareError, match="needs /dev/hailo0, which does not exist on this machine; its kernel "
                                            "driver is not loaded"):
        resolve(vision, {}, hailo)


def test_the_test_catalog_lints_clean() -> None:
    _catalog, findings = lint_folders([CATALOG])
    assert findings == [], "\n".join(map(str, findings))
