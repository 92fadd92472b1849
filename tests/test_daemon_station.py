"""``wisgate run`` on the simulated board with ``[lora.station]``: the site's uplinks reach a Basics Station LNS."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from lns_peer import Certificates, Lns
from lora_rig import free_port
from test_station import EU868_UP, ROUTER_CONFIG

from wisgate.lora.backhaul import lns

GATEWAY_ID = "0016c001ff1a7391"


def test_daemon_forwards_the_simulated_site_to_a_basics_station_lns(tmp_path: Path) -> None:
    certs = Certificates(tmp_path)
    config = tmp_path / "wisgate.toml"

    async def main() -> tuple[Lns, str]:
        server = Lns(certs, router_config=ROUTER_CONFIG)
        await server.start()
        config.write_text(f"""
[display]
enabled = false
[api]
enabled = false
[lora]
traffic_url = "tcp://127.0.0.1:{free_port()}"
store_dir = "{tmp_path / 'store'}"
[lora.sim]
devices = 200
mean_interval_s = 3
[lora.station]
enabled = true
uri = "{server.uri}"
ca_file = "{certs.ca_file}"
cert_file = "{certs.client_cert}"
key_file = "{certs.client_key}"
timesync_interval_s = 1
""")
        daemon = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "wisgate", "run", "--sim", "--config", str(config), "--duration", "60",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        output = b""
        try:
            await server.wait_for(lambda: len(server.of("updf")) >= 5 and server.of("timesync"), timeout=40)
        except TimeoutError:
            pass  # the assertions below say what is missing, with the daemon's output
        finally:
            daemon.terminate()
            try:
                output = (await asyncio.wait_for(daemon.communicate(), 30))[0]
            except TimeoutError:
                daemon.kill()
                output = b"DAEMON DID NOT STOP ON SIGTERM\n" + (await daemon.communicate())[0]
            await server.stop()
        return server, output.decode(errors="replace")

    server, output = asyncio.run(main())
    assert "wisgate stopped" in output, output[-3000:]
    assert server.discoveries and server.discoveries[0]["router"] == lns.id6(int(GATEWAY_ID, 16)), output[-3000:]
    assert server.versions and server.versions[0]["model"] == "RAK7391"
    updf = server.of("updf")
    assert len(updf) >= 5, output[-3000:]
    for message in updf[:5]:
        assert message["Freq"] in EU868_UP  # on the plan router_config gave the modules
        assert 0 <= message["DR"] <= 5 and isinstance(message["DevAddr"], int) and "RefTime" in message
        assert message["upinfo"]["rctx"] in (0, 1) and message["upinfo"]["xtime"] > 0
    assert server.of("timesync")
