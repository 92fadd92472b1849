"""``wisgate run`` imports what it runs and nothing else (issue 12: daemon RSS; docs/architecture.md "Lazy imports").

The whole daemon runs for a few seconds in a fresh interpreter (``wisgate run --sim`` through the CLI, every
configured service started, the HTTP API serving); then its ``sys.modules`` is compared with what the
configuration needs. A heavy library that slips back in at module level (pymodbus through the config schema,
cryptography through the simulated secure element, aiomqtt through the LoRa service...) fails here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from lora_rig import free_port
from PIL import Image

#: libraries no configuration of the daemon needs: rich only for the live view (these runs are --plain, as under
#: systemd), the app catalog's Docker SDK only for app commands, Pillow only for users' drivers (the OLED draws
#: with our own font, its picture is encoded by wisgate.png), the test tools never; prometheus_client only
#: once /metrics is scraped (nobody does here), pydantic.v1 never (FastAPI only checks for it), no other
#: command's module
NEVER = ("docker", "schemathesis", "hypothesis", "pytest", "websockets", "rich", "PIL", "prometheus_client",
         "pydantic.v1",
         *(f"wisgate.commands.{c}" for c in ("adc", "apps", "buzzer", "check", "events", "fan", "gpio", "history",
                                              "install_service", "lora", "modbus", "oled", "rtc", "secure_element")))

RUN = textwrap.dedent("""
    import json, sys
    from wisgate.cli import main
    try:
        main(["run", "--sim", "--plain", "--duration", "3", "--config", sys.argv[1]])
    except SystemExit as exc:
        if exc.code:
            raise
    print(json.dumps(sorted(name for name, module in sys.modules.items() if module is not None)))
""")


def daemon_modules(tmp_path: Path, config: str) -> tuple[set[str], str]:
    """The modules the daemon had loaded when it stopped, and its log."""
    path = tmp_path / "wisgate.toml"
    path.write_text(config + f'[api]\nport = {free_port()}\n[history]\npath = "{tmp_path / "h.sqlite"}"\n',
                    encoding="utf-8")
    env = {"WISGATE_STATE_DIR": str(tmp_path), "WISGATE_RUNTIME_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", RUN, str(path)], capture_output=True, text=True, timeout=120,
                            check=False, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    modules = set(json.loads(result.stdout.strip().splitlines()[-1]))
    # the services really ran: the API built its app and the display drew, and mirrored the panel as PNG
    assert {"wisgate.api.http", "uvicorn", "wisgate.services.display", "wisgate.png"} <= modules
    with Image.open(tmp_path / "oled.png") as picture:
        assert picture.size == (128, 64) and picture.getbbox() is not None
    return modules, result.stderr


def loaded(modules: set[str], *names: str) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def test_a_board_with_api_and_display_loads_no_modbus_lora_or_crypto(tmp_path: Path) -> None:
    modules, _ = daemon_modules(tmp_path, "[lora]\nenabled = false\n[industrial]\nsim_field_devices = false\n")
    assert loaded(modules, *NEVER, "pymodbus", "serial", "zmq", "chirpstack_api", "google.protobuf", "aiomqtt",
                  "paho", "cryptography", "wisgate.lora.backhaul.station", "wisgate.lora.backhaul.mqtt_forwarder",
                  "wisgate.lora.backhaul.udp_forwarder", "wisgate.lora.backhaul.udp_link", "wisgate.sim.lora_site",
                  "wisgate.apps.engine", "wisgate.apps.manifest", "yaml") == []


#: the simulated LoRa site: its own process has these, the daemon never (as Concentratord on hardware)
SITE = ("cryptography", "wisgate.sim.lora_site", "wisgate.sim.lora_site_child", "wisgate.sim.radio",
        "wisgate.sim.concentratord", "wisgate.lora.frames.crypto")


def test_the_default_simulated_board_runs_its_lora_site_in_a_child_and_loads_no_unused_backhaul(
        tmp_path: Path) -> None:
    port = free_port()
    modules, log = daemon_modules(tmp_path,
                                  f'[lora]\ntraffic_url = "tcp://127.0.0.1:{port}"\n[lora.sim]\ndevices = 5\n')
    assert {"zmq", "chirpstack_api.gw", "pymodbus", "wisgate.sim.lora_site_process"} <= modules
    assert loaded(modules, *NEVER, *SITE, "aiomqtt", "paho", "wisgate.lora.backhaul.station",
                  "wisgate.lora.backhaul.mqtt_forwarder", "wisgate.lora.backhaul.udp_forwarder",
                  "chirpstack_api.api", "chirpstack_api.integration", "chirpstack_api.stream") == []
    # the site did run, beside the daemon: its log lines came through with their prefix, and it was stopped
    assert re.search(r"lora-site\[\d+\] wisgate.sim.lora_site: 3 module\(s\)", log), log[-3000:]
    assert re.search(r"lora-site\[\d+\] wisgate.sim.lora_site: stopped: \d+ transmissions", log), log[-3000:]


def test_the_lora_site_process_loads_no_event_loop_config_schema_or_web_stack() -> None:
    """The site's process (``wisgate.sim.lora_site_child``) is a few threads around ZeroMQ sockets and the radio:
    asyncio alone would be a fifth of its memory (ssl and its OpenSSL), pydantic another."""
    code = "import json, sys, wisgate.sim.lora_site_child; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    modules = set(json.loads(result.stdout))
    assert {"zmq", "chirpstack_api.gw", "cryptography", "wisgate.sim.radio"} <= modules
    assert loaded(modules, *NEVER, "asyncio", "pydantic", "wisgate.config", "fastapi", "uvicorn",
                  "pymodbus", "wisgate.sim.board", "wisgate.services") == []
