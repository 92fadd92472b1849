"""App installs against a real Docker Engine, with tiny images built locally from Debian's static busybox."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from docker_rig import CATALOG, build_test_image, engine_client, make_dev_dir, unique
from lora_rig import free_port

from wisgate.apps.catalog import load_catalog
from wisgate.apps.engine import Engine
from wisgate.apps.errors import AppError, ConflictError, EngineError, HardwareError
from wisgate.apps.hardware import HostView
from wisgate.apps.manager import AppManager
from wisgate.config import parse_config

GATEWAY_ON_SLOT_1 = {"lora": {"modules": [
    {"board": 0, "event_url": "ipc:///tmp/c0_event", "command_url": "ipc:///tmp/c0_command"}]}}


@pytest.fixture(scope="module")
def client() -> docker.DockerClient:
    client = engine_client()
    build_test_image(client)
    return client


@dataclass
class Rig:
    manager: AppManager
    prefix: str
    client: docker.DockerClient

    def name(self, suffix: str) -> str:
        return f"{self.prefix}-{suffix}"


@pytest.fixture
def rig(client: docker.DockerClient, tmp_path: Path) -> Iterator[Rig]:
    catalog = load_catalog([CATALOG], environ={})
    host = HostView(dev_dir=make_dev_dir(tmp_path), config=parse_config(GATEWAY_ON_SLOT_1))
    rig = Rig(AppManager(catalog, host, Engine(client)), unique("t"), client)
    yield rig
    engine = rig.manager.engine
    leftovers = [i.instance for i in engine.installed().values() if i.instance.startswith(rig.prefix)]
    for name in sorted(leftovers, key=lambda n: "needs" not in n):  # dependents first
        engine.remove(name, purge=True)
    for volume in client.volumes.list(filters={"label": "io.wisgate.instance"}):
        if str(volume.name).startswith(rig.prefix):
            volume.remove(force=True)


def http_get(port: int, path: str = "/index.html") -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return str(response.read().decode())


def wait_for(check: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def log_text(rig: Rig, name: str, service: str | None = None) -> str:
    return "\n".join(f"{s}: {line}" for s, line in rig.manager.logs(name, service=service))


def resources(client: docker.DockerClient, name: str) -> list[str]:
    label = {"label": f"io.wisgate.instance={name}"}
    return ([f"container {c.name}" for c in client.containers.list(all=True, filters=label)]
            + [f"network {n.name}" for n in client.networks.list(filters=label)]
            + [f"volume {v.name}" for v in client.volumes.list(filters=label)])


def test_install_status_logs_stop_start_remove(rig: Rig) -> None:
    name, port = rig.name("echo"), free_port()
    result = rig.manager.install("echo-web", name=name, sets={"WEB_PORT": str(port), "MESSAGE": "good day"})
    assert result.note == f"page at http://127.0.0.1:{port}/index.html"
    # the shipped file was interpolated (settings, builtins, $$ escape) and the ticker waited for web's health
    assert http_get(port).strip() == f"<p>good day from {name} ($5)</p>"
    status = {i.instance: i for i in rig.manager.status()}[name]
    assert (status.app, status.version, status.state, status.settings) == (
        "echo-web", "1.35.0", "running", {"MESSAGE": "good day", "WEB_PORT": str(port)})
    assert [c.service for c in status.containers] == ["ticker", "web"]
    assert next(c for c in status.containers if c.service == "web").health == "healthy"
    wait_for(lambda: "tick" in log_text(rig, name, "ticker"))
    assert "ticker: started good day" in log_text(rig, name)
    # Compose's project labels, and the port published on loopback only
    web = rig.client.containers.get(f"{name}-web-1")
    assert web.labels["com.docker.compose.project"] == name and web.labels["com.docker.compose.service"] == "web"
    assert web.attrs["HostConfig"]["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    network = rig.client.networks.get(f"{name}_default")
    assert network.attrs["Labels"]["com.docker.compose.network"] == "default"
    volume = rig.client.volumes.get(f"{name}_data")
    assert volume.attrs["Labels"]["com.docker.compose.volume"] == "data"
    web.exec_run(["sh", "-c", "echo kept > /data/marker"])

    rig.manager.stop(name)
    assert {i.instance: i for i in rig.manager.status()}[name].state == "stopped"
    with pytest.raises(OSError):
        http_get(port)
    rig.manager.start(name)
    assert {i.instance: i for i in rig.manager.status()}[name].state == "running"
    wait_for(lambda: _answers(port))

    removed = rig.manager.remove(name)
    assert f"container {name}-web-1" in removed and f"network {name}_default" in removed
    assert resources(rig.client, name) == [f"volume {name}_data"]  # data kept without --purge
    rig.manager.install("echo-web", name=name, sets={"WEB_PORT": str(port)})
    marker = rig.client.containers.get(f"{name}-web-1").exec_run(["cat", "/data/marker"])
    assert marker.output == b"kept\n"
    rig.manager.remove(name, purge=True)
    assert resources(rig.client, name) == []


def _answers(port: int) -> bool:
    try:
        http_get(port)
        return True
    except OSError:
        return False


def test_a_port_clash_is_refused_before_anything_is_created(rig: Rig) -> None:
    first, port = rig.name("one"), free_port()
    rig.manager.install("echo-web", name=first, sets={"WEB_PORT": str(port)})
    second = rig.name("two")
    with pytest.raises(ConflictError, match=rf"tcp port {port} \(web\) is already used by app '{first}' \(echo-web\); "
                                           r"move it with --set WEB_PORT=PORT"):
        rig.manager.install("echo-web", name=second, sets={"WEB_PORT": str(port)})
    assert resources(rig.client, second) == []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy = listener.getsockname()[1]
        with pytest.raises(ConflictError, match=f"tcp port {busy} .* in use on 127.0.0.1 by another program"):
            rig.manager.install("echo-web", name=second, sets={"WEB_PORT": str(busy)})
    with pytest.raises(ConflictError, match="wisgate's HTTP API"):
        rig.manager.install("echo-web", name=second, sets={"WEB_PORT": "8391"})
    with pytest.raises(ConflictError, match="already installed"):
        rig.manager.install("echo-web", name=first, sets={"WEB_PORT": str(free_port())})
    assert resources(rig.client, second) == []


def test_a_slot_used_by_the_gateway_is_refused_and_a_free_one_is_mapped(rig: Rig) -> None:
    name = rig.name("radio")
    with pytest.raises(ConflictError, match=r"mPCIe #1 \(/dev/spidev0.0, reset GPIO17\) is already used by "
                                           r"wisgate's LoRa gateway \(\[\[lora.modules\]\] board 0\); "
                                           r"mPCIe #2 is free: --set SLOT=2"):
        rig.manager.install("radio", name=name, sets={"SLOT": "1"})
    assert resources(rig.client, name) == []
    result = rig.manager.install("radio", name=name)  # auto: the first free slot
    dev = rig.manager.host.dev_dir
    assert result.devices == {"radio": [f"{dev}/spidev0.1:/dev/spidev0.1:rwm", f"{dev}/gpiochip0:/dev/gpiochip0:rwm",
                                        f"{dev}/i2c-1:/dev/i2c-1:rwm"]}
    wait_for(lambda: "groups=" in log_text(rig, name))
    text = log_text(rig, name)
    assert "slot=2 reset=6" in text
    for node in ("/dev/spidev0.1", "/dev/i2c-1", "/dev/gpiochip0"):
        assert any(line.startswith("radio: crw") and line.endswith(node) for line in text.splitlines()), text
    assert "4321" in text.split("groups=")[1]  # the device nodes' group, without privileged
    container = rig.client.containers.get(f"{name}-radio-1")
    assert container.attrs["HostConfig"]["Privileged"] is False
    with pytest.raises(ConflictError, match=r"no free SPI concentrator slot: mPCIe #1 .* wisgate's LoRa gateway .*; "
                                           rf"mPCIe #2 .* already used by app '{name}' \(radio\)"):
        rig.manager.install("radio", name=rig.name("radio2"))


def test_a_missing_device_node_is_refused_with_its_path(rig: Rig) -> None:
    rig.manager.host.dev_dir = rig.manager.host.dev_dir.parent / "empty"
    rig.manager.host.dev_dir.mkdir()
    with pytest.raises(HardwareError, match=r"concentrator-spi needs /dev/spidev0.1, which does not exist"):
        rig.manager.install("radio", name=rig.name("radio"))


def test_a_failed_install_is_rolled_back(rig: Rig) -> None:
    name = rig.name("broken")
    with pytest.raises(EngineError, match=rf"install of '{name}' failed while starting: {name}-bad-1 stopped right "
                                         r"after its start \(exit status 127\): .*/no/such/program.*"
                                         rf"No such file or directory; rolled back \(removed container "
                                         rf"{name}-bad-1, container {name}-ok-1, network {name}_default, "
                                         rf"volume {name}_data\)"):
        rig.manager.install("broken", name=name)
    assert resources(rig.client, name) == []
    assert name not in {i.instance for i in rig.manager.status()}


def test_an_unpullable_image_leaves_nothing_behind(rig: Rig) -> None:
    try:
        rig.client.images.get("eclipse-mosquitto:2.0.20")
        pytest.skip("eclipse-mosquitto:2.0.20 is present locally; this test needs it absent")
    except docker.errors.ImageNotFound:
        pass
    name = rig.name("mqtt")
    with pytest.raises(EngineError, match=r"cannot pull image eclipse-mosquitto:2\.0\.20"):
        rig.manager.install("mosquitto", name=name, sets={"MQTT_PORT": str(free_port())})
    assert resources(rig.client, name) == []


def test_an_app_reaches_the_app_it_requires_which_cannot_be_removed_under_it(rig: Rig) -> None:
    with pytest.raises(AppError, match="needs-web: 'nope' is not an installed echo-web"):
        rig.manager.install("needs-web", name=rig.name("needs"), using={"echo-web": "nope"})
    web = rig.name("web")
    rig.manager.install("echo-web", name=web, sets={"WEB_PORT": str(free_port()), "MESSAGE": "over there"})
    needs = rig.name("needs")
    other = rig.name("web2")
    rig.manager.install("echo-web", name=other, sets={"WEB_PORT": str(free_port())})
    with pytest.raises(AppError, match=r"needs-web needs echo-web and several are installed \(.*"
                                      rf"{web}.*\): choose one with --with echo-web=NAME"):
        rig.manager.install("needs-web", name=needs)
    rig.manager.remove(other, purge=True)
    with pytest.raises(AppError, match=f"'{other}' is not an installed echo-web"):
        rig.manager.install("needs-web", name=needs, using={"echo-web": other})
    rig.manager.install("needs-web", name=needs, using={"echo-web": web})
    wait_for(lambda: "over there" in log_text(rig, needs))
    assert {i.instance: i for i in rig.manager.status()}[needs].requires == [web]
    with pytest.raises(AppError, match=f"{web} is required by {needs}: remove it first"):
        rig.manager.remove(web)
    rig.manager.remove(needs)
    rig.manager.remove(web, purge=True)


def test_an_interrupted_install_shows_as_incomplete_and_remove_cleans_it(rig: Rig) -> None:
    name = rig.name("cut")
    plan = rig.manager.plan_install("echo-web", name=name, sets={"WEB_PORT": str(free_port())})
    plan.services = plan.services[:1]  # as if wisgate died after creating the first container
    rig.manager.engine.install(plan, start=False)
    status = {i.instance: i for i in rig.manager.status()}[name]
    assert status.state == "incomplete" and not status.complete
    with pytest.raises(ConflictError, match=f"an incomplete install named '{name}' exists"):
        rig.manager.install("echo-web", name=name)
    rig.manager.remove(name, purge=True)
    assert resources(rig.client, name) == []


def test_state_lives_in_labels(rig: Rig) -> None:
    name, port = rig.name("labels"), free_port()
    rig.manager.install("echo-web", name=name, sets={"WEB_PORT": str(port)})
    # a fresh manager (wisgate restarted) sees the install, its settings and claims from Docker alone
    again = AppManager(load_catalog([CATALOG], environ={}), HostView(), Engine(rig.client))
    status = {i.instance: i for i in again.status()}[name]
    assert status.settings["WEB_PORT"] == str(port) and status.listen == "127.0.0.1"
    assert [(c.kind, c.key) for c in status.claims] == [("port", f"tcp/{port}")]
    labels = rig.client.containers.get(f"{name}-web-1").labels
    assert json.loads(labels["io.wisgate.claims"]) == [["port", f"tcp/{port}", f"tcp port {port}"]]
