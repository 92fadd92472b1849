"""ChirpStack MQTT forwarder against a real Mosquitto broker (Debian package ``mosquitto``).

The tests start their own broker on a free loopback port with a temporary configuration and stop
it afterwards. Without the broker binary they fail (never skip) with a message naming the package.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiomqtt
import pytest
from chirpstack_api import gw
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.protobuf import json_format
from lora_rig import free_port
from pydantic import ValidationError

from wisgate.clock import SimClock
from wisgate.errors import ConfigError
from wisgate.lora.backends.concentratord.client import ConcentratordBackend
from wisgate.lora.backends.concentratord.wire import uplink_from_proto
from wisgate.lora.backhaul.mqtt_forwarder import MqttForwarder, MqttSettings, decode
from wisgate.lora.backhaul.store import UplinkStore
from wisgate.lora.core.gateway import Gateway, ModuleLink
from wisgate.lora.core.jit import JitQueue
from wisgate.lora.core.types import LoraModulation, ReceivedUplink, RxInfo, Uplink, UplinkFrame
from wisgate.lora.frames.crypto import build_data_frame
from wisgate.lora.frames.phy import MType
from wisgate.lora.plans.allocation import Module
from wisgate.sim.concentratord import SimConcentratord, SimModule

GATEWAY_ID = "aa555a0000000001"
KEY = bytes(16)


# -- the broker ---------------------------------------------------------------


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)), None
    )
    if found is None:
        pytest.fail(
            "the MQTT tests need the Mosquitto broker: install the Debian package `mosquitto` "
            "(apt-get install mosquitto)",
            pytrace=False,
        )
    return found



@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_pki(where: Path) -> Pki:
    """A throw-away CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files."""
    now = datetime.datetime.now(datetime.UTC)

    def issue(subject: str, issuer: x509.Name | None, signer: ec.EllipticCurvePrivateKey | None,
              *, ca: bool = False, ip: bool = False) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ip:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
            )
        return builder.sign(signer or key, hashes.SHA256()), key

    def write(name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
        cert_path, key_path = where / f"{name}.crt", where / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ))
        return cert_path, key_path

    ca_cert, ca_key = issue("wisgate test CA", None, None, ca=True)
    server = issue("127.0.0.1", ca_cert.subject, ca_key, ip=True)
    client = issue(GATEWAY_ID, ca_cert.subject, ca_key)
    ca_path, _ = write("ca", ca_cert, ca_key)
    return Pki(ca_path, *write("server", *server), *write("client", *client))


class Broker:
    """A Mosquitto process on loopback; ``restart`` keeps the port and the persisted sessions."""

    def __init__(self, workdir: Path, *, users: dict[str, str] | None = None, tls: Pki | None = None) -> None:
        self.binary = mosquitto_binary()
        self.workdir = workdir
        self.port = free_port()
        self.auth_port = free_port() if users else None
        self.tls_port = free_port() if tls else None
        self.process: subprocess.Popen[bytes] | None = None
        lines = [
            "per_listener_settings true",
            "persistence true",
            f"persistence_location {workdir}/",
            "log_dest stderr",
            "max_queued_messages 0",
            "user root" if os.geteuid() == 0 else "",
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
        ]
        if users:
            passwords = workdir / "passwords"
            passwords.write_text("")
            for name, password in users.items():
                subprocess.run(
                    [shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd", "-b", str(passwords), name,
                     password],
                    check=True, capture_output=True,
                )
            lines += [f"listener {self.auth_port} 127.0.0.1", "allow_anonymous false", f"password_file {passwords}"]
        if tls:
            lines += [
                f"listener {self.tls_port} 127.0.0.1", "allow_anonymous true", f"cafile {tls.ca}",
                f"certfile {tls.server_cert}", f"keyfile {tls.server_key}", "require_certificate true",
            ]
        self.config = workdir / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")
        self.log = workdir / "mosquitto.log"

    def start(self) -> Broker:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([self.binary, "-c", str(self.config)], stdout=log, stderr=log)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"mosquitto exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return self
            time.sleep(0.02)
        pytest.fail(f"mosquitto did not listen on {self.port}: {self.log.read_text()[-2000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=5)
        self.process = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    (tmp_path / "broker").mkdir()
    made = Broker(tmp_path / "broker").start()
    yield made
    made.stop()


def test_missing_broker_fails_naming_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(pytest.fail.Exception, match="Debian package `mosquitto`"):
        mosquitto_binary()


# -- the gateway side ---------------------------------------------------------


class Rig:
    """One simulated TX-capable EU868 module over ZeroMQ, the gateway on it, and a forwarder."""

    def __init__(self, tmp_path: Path, broker: Broker, **settings: object) -> None:
        self.clock = SimClock(50.0)
        events, commands = f"ipc://{tmp_path}/e0", f"ipc://{tmp_path}/c0"
        self.daemon = SimConcentratord(
            SimModule("0000000000000000", board=0, counter_offset_us=123_456, tx_max_hz=870_000_000),
            clock=self.clock, event_url=events, command_url=commands,
        ).start()
        link = ModuleLink(
            0, ConcentratordBackend(board=0, event_url=events, command_url=commands),
            JitQueue(board=0, tx_freq_min_hz=863_000_000, tx_freq_max_hz=870_000_000, power_lut=(14, 20, 27)),
            Module.for_region(0, "EU868"),
        )
        self.gateway = Gateway(GATEWAY_ID, [link], clock=self.clock)
        self.store_path = tmp_path / "mqtt.db"
        self.store = UplinkStore(self.store_path, server="mqtt")
        base: dict[str, object] = {"port": broker.port, "reconnect_min_s": 0.05, "reconnect_max_s": 0.2}
        base.update(settings)
        self.settings = MqttSettings(**base)  # type: ignore[arg-type]
        self.forwarder = MqttForwarder(self.gateway, self.settings, self.store, rng=random.Random(7))
        self.fcnt = 0

    def uplink(self, *, snr: float = 5.5, rssi: int = -87) -> tuple[bytes, int]:
        """One reception on board 0, emitted by the gateway at once; returns (payload, counter)."""
        self.fcnt += 1
        payload = build_data_frame(
            mtype=MType.UNCONFIRMED_DATA_UP, dev_addr=0x26000001, fcnt32=self.fcnt, nwk_skey=KEY, app_skey=KEY,
            payload=b"hi", fport=1,
        ).to_bytes()
        count = self.daemon.count_us()
        frame = gw.UplinkFrame(phy_payload=payload)
        frame.tx_info.frequency = 868_300_000
        lora = frame.tx_info.modulation.lora
        lora.spreading_factor, lora.bandwidth, lora.code_rate = 9, 125_000, gw.CR_4_5
        frame.rx_info.context = count.to_bytes(4, "big")
        frame.rx_info.snr, frame.rx_info.rssi, frame.rx_info.crc_status = snr, rssi, gw.CRC_OK
        frame.rx_info.channel, frame.rx_info.rf_chain = 2, 1
        now = self.clock.monotonic()
        self.gateway.handle(uplink_from_proto(frame, 0), now)
        assert len(self.gateway.emit_due(now + 5)) == 1
        return payload, count

    def close(self) -> None:
        self.gateway.links[0].backend.close()
        self.daemon.stop()
        self.store.close()


class Peer:
    """The network server's side: an MQTT client collecting what the forwarder publishes."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.messages: list[aiomqtt.Message] = []
        self.ups = 0
        self.arrived = asyncio.Event()

    async def collect(self) -> None:
        async for message in self.client.messages:
            self.messages.append(message)
            self.ups += str(message.topic).endswith("/event/up")
            self.arrived.set()

    def on(self, suffix: str) -> list[bytes]:
        return [bytes(m.payload) for m in self.messages if str(m.topic).endswith(suffix)]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.arrived.clear()
                await self.arrived.wait()


@contextlib.asynccontextmanager
async def peer(broker: Broker, *, identifier: str | None = None, clean: bool = True) -> AsyncIterator[Peer]:
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier=identifier, clean_session=clean) as client:
        await client.subscribe(f"gateway/{GATEWAY_ID}/#", qos=1)
        p = Peer(client)
        task = asyncio.create_task(p.collect())
        try:
            yield p
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task


class Connecting(Protocol):
    connected: asyncio.Event

    async def run(self) -> None: ...


@contextlib.asynccontextmanager
async def running(client: Connecting) -> AsyncIterator[asyncio.Task[None]]:
    """``client.run()`` as a task, once it has connected to the broker; cancelled at the end."""
    task = asyncio.create_task(client.run())
    try:
        async with asyncio.timeout(5):
            await client.connected.wait()
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def run(tmp_path: Path, broker: Broker, body: Callable[[Rig], Coroutine[Any, Any, None]], **settings: object) -> Rig:
    rig = Rig(tmp_path, broker, **settings)
    try:
        asyncio.run(body(rig))
    finally:
        rig.close()
    return rig


async def drained(rig: Rig, acked: int) -> None:
    """Wait for ``acked`` PUBACKs in all (the peer may see a message before the forwarder sees its ack)."""
    async with asyncio.timeout(5):
        while rig.forwarder.backlog or rig.forwarder.stats.acked < acked:
            await asyncio.sleep(0.01)


def conn_states(payloads: list[bytes], encoding: str = "protobuf") -> list[str]:
    return [gw.ConnState.State.Name(decode(p, gw.ConnState(), encoding).state) for p in payloads]  # type: ignore[arg-type]


# -- tests --------------------------------------------------------------------


def test_uplinks_arrive_as_protobuf_with_our_fields(tmp_path: Path, broker: Broker) -> None:
    sent: list[tuple[bytes, int]] = []

    async def body(rig: Rig) -> None:
        async with peer(broker) as ns, running(rig.forwarder):
            await ns.wait_for(lambda: conn_states(ns.on("/state/conn")) == ["ONLINE"])
            sent.extend(rig.uplink(snr=-3.25) for _ in range(3))
            await ns.wait_for(lambda: len(ns.on("/event/up")) == 3)
            await drained(rig, 3)  # acked ones are deleted
            ups = [decode(p, gw.UplinkFrame(), "protobuf") for p in ns.on("/event/up")]
            assert [u.phy_payload for u in ups] == [p for p, _ in sent]
            for up, (_, count) in zip(ups, sent, strict=True):
                rx = up.rx_info
                assert rx.gateway_id == GATEWAY_ID and rx.context == count.to_bytes(4, "big")
                assert (rx.board, rx.antenna, rx.channel, rx.rf_chain) == (0, 0, 2, 1)
                assert (rx.rssi, rx.snr, rx.crc_status) == (-87, -3.25, gw.CRC_OK)
                assert rx.uplink_id != 0 and abs(rx.gw_time.ToNanoseconds() / 1e9 - time.time()) < 60
                assert up.tx_info.frequency == 868_300_000
                lora = up.tx_info.modulation.lora
                assert (lora.spreading_factor, lora.bandwidth, lora.code_rate) == (9, 125_000, gw.CR_4_5)
            assert len({u.rx_info.uplink_id for u in ups}) == 3
            assert rig.forwarder.stats.acked == 3 and rig.forwarder.stats.replayed == 0

    rig = run(tmp_path, broker, body)
    assert rig.forwarder.snapshot()["queued"] == 0


def test_json_encoding_and_topic_prefix(tmp_path: Path, broker: Broker) -> None:
    async def body(rig: Rig) -> None:
        async with aiomqtt.Client("127.0.0.1", broker.port) as ns:
            await ns.subscribe("eu868/gateway/#", qos=1)
            async with running(rig.forwarder):
                payload, count = rig.uplink()
                got: dict[str, bytes] = {}
                async with asyncio.timeout(5):
                    async for message in ns.messages:
                        got[str(message.topic)] = bytes(message.payload)
                        if len(got) == 2:
                            break
        state = got[f"eu868/gateway/{GATEWAY_ID}/state/conn"]
        assert b'"state": "ONLINE"' in state and b'"gatewayId"' in state
        up = got[f"eu868/gateway/{GATEWAY_ID}/event/up"]
        assert b'"phyPayload"' in up and b'"crcStatus": "CRC_OK"' in up
        frame = json_format.Parse(up, gw.UplinkFrame())
        assert frame.phy_payload == payload and frame.rx_info.context == count.to_bytes(4, "big")

    run(tmp_path, broker, body, encoding="json", topic_prefix="eu868/")


def test_last_will_offline_then_online_again_and_offline_on_stop(tmp_path: Path, broker: Broker) -> None:
    async def body(rig: Rig) -> None:
        async with peer(broker) as ns:
            async with running(rig.forwarder):
                await ns.wait_for(lambda: conn_states(ns.on("/state/conn")) == ["ONLINE"])
                rig.forwarder.drop_connection()  # no DISCONNECT: the broker publishes the will
                await ns.wait_for(lambda: conn_states(ns.on("/state/conn")) == ["ONLINE", "OFFLINE", "ONLINE"])
                assert rig.forwarder.stats.connects == 2
            # a clean stop says OFFLINE itself
            await ns.wait_for(lambda: conn_states(ns.on("/state/conn"))[-1:] == ["OFFLINE"])
        # retained: a late subscriber learns the state
        async with aiomqtt.Client("127.0.0.1", broker.port) as late:
            await late.subscribe(f"gateway/{GATEWAY_ID}/state/conn", qos=1)
            async with asyncio.timeout(5):
                message = await anext(aiter(late.messages))
            assert message.retain and conn_states([bytes(message.payload)]) == ["OFFLINE"]

    run(tmp_path, broker, body)


def _downlink(count: int, *items: tuple[int, int]) -> gw.DownlinkFrame:
    """A class A answer: (frequency, delay seconds) per item, in the network server's priority order."""
    frame = gw.DownlinkFrame(downlink_id=4242, gateway_id=GATEWAY_ID)
    for frequency, delay in items:
        item = frame.items.add(phy_payload=b"\x60" + bytes(12))
        info = item.tx_info
        info.frequency, info.power, info.board, info.antenna = frequency, 14, 0, 0
        lora = info.modulation.lora
        lora.spreading_factor, lora.bandwidth, lora.code_rate = 9, 125_000, gw.CR_4_5
        lora.polarization_inversion = True
        info.context = count.to_bytes(4, "big")
        info.timing.delay.delay.seconds = delay
    return frame


def test_downlink_round_trip_rx1_refused_rx2_sent_and_acked(tmp_path: Path, broker: Broker) -> None:
    async def body(rig: Rig) -> None:
        async with peer(broker) as ns, running(rig.forwarder):
            _, count = rig.uplink()
            await ns.wait_for(lambda: len(ns.on("/event/up")) == 1)
            # RX1 on a frequency the module cannot transmit, RX2 fine, then a third that must be ignored
            frame = _downlink(count, (902_300_000, 1), (869_525_000, 2), (868_100_000, 1))
            await ns.client.publish(f"gateway/{GATEWAY_ID}/command/down", frame.SerializeToString(), qos=1)
            await ns.wait_for(lambda: len(ns.on("/event/ack")) == 1)
            ack = decode(ns.on("/event/ack")[0], gw.DownlinkTxAck(), "protobuf")
            assert ack.downlink_id == 4242 and ack.gateway_id == GATEWAY_ID
            assert [gw.TxAckStatus.Name(i.status) for i in ack.items] == ["TX_FREQ", "OK", "IGNORED"]
            (sent,) = rig.daemon.module.transmissions
            assert sent.count_us == count + 2_000_000
            assert rig.forwarder.stats.downlinks == {"OK": 1}

    run(tmp_path, broker, body)


def test_bad_commands_are_counted_by_reason_and_nothing_breaks(tmp_path: Path, broker: Broker) -> None:
    async def body(rig: Rig) -> None:
        async with peer(broker) as ns, running(rig.forwarder):
            topic = f"gateway/{GATEWAY_ID}/command/down"
            await ns.client.publish(topic, b"\xff\xff\xff", qos=1)  # not protobuf
            await ns.client.publish(topic, gw.DownlinkFrame(downlink_id=1).SerializeToString(), qos=1)
            other = gw.DownlinkFrame(downlink_id=2, gateway_id="0102030405060708")
            other.items.add(phy_payload=b"x")
            await ns.client.publish(topic, other.SerializeToString(), qos=1)
            gps = _downlink(0, (869_525_000, 1))
            gps.items[0].tx_info.timing.gps_epoch.time_since_gps_epoch.seconds = 1
            await ns.client.publish(topic, gps.SerializeToString(), qos=1)
            await ns.wait_for(lambda: len(ns.on("/event/ack")) == 1)
            ack = decode(ns.on("/event/ack")[0], gw.DownlinkTxAck(), "protobuf")
            assert [gw.TxAckStatus.Name(i.status) for i in ack.items] == ["GPS_UNLOCKED"]
            assert rig.forwarder.stats.bad_commands == {"decode": 1, "no-items": 1, "gateway-id": 1}
            rig.uplink()  # the forwarder still works
            await ns.wait_for(lambda: len(ns.on("/event/up")) == 1)

    run(tmp_path, broker, body)


def test_stats_are_published_as_gateway_stats(tmp_path: Path, broker: Broker) -> None:
    async def body(rig: Rig) -> None:
        async with peer(broker) as ns, running(rig.forwarder):
            rig.uplink()
            rig.uplink()
            await ns.wait_for(lambda: len(ns.on("/event/stats")) >= 1)
            first = decode(ns.on("/event/stats")[0], gw.GatewayStats(), "protobuf")
            assert first.gateway_id == GATEWAY_ID
            assert (first.rx_packets_received, first.rx_packets_received_ok) == (2, 2)
            assert dict(first.rx_packets_per_frequency) == {868_300_000: 2}
            assert first.metadata["mqtt_dropped"] == "0"
            await ns.wait_for(lambda: len(ns.on("/event/stats")) >= 2)
            second = decode(ns.on("/event/stats")[1], gw.GatewayStats(), "protobuf")
            assert second.rx_packets_received == 0  # counts since the previous report

    run(tmp_path, broker, body, stats_interval_s=0.15)


@pytest.mark.parametrize("window", [100, 3])
def test_broker_outage_loses_nothing_and_replays_in_order(tmp_path: Path, broker: Broker, window: int) -> None:
    async def body(rig: Rig) -> None:
        sent: list[bytes] = []
        # A persistent session: the broker keeps our subscription and queues for us across its restart.
        async with peer(broker, identifier="ns-outage", clean=False) as ns, running(rig.forwarder):
            sent.append(rig.uplink()[0])
            await ns.wait_for(lambda: len(ns.on("/event/up")) == 1)
        async with running(rig.forwarder) as task:
            broker.stop()  # the broker goes away while the forwarder is connected
            async with asyncio.timeout(5):
                while rig.forwarder.connected.is_set():
                    await asyncio.sleep(0.01)
            for _ in range(40):
                sent.append(rig.uplink()[0])
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.3)  # several failed reconnects
            assert len(rig.store) == 40
            assert rig.forwarder.stats.connect_failures >= 2
            broker.start()
            async with asyncio.timeout(5):
                await rig.forwarder.connected.wait()
                while len(rig.store):
                    await asyncio.sleep(0.01)
            assert not task.done()
        async with peer(broker, identifier="ns-outage", clean=False) as ns:
            await ns.wait_for(lambda: len(ns.on("/event/up")) == 40)
            got = [decode(p, gw.UplinkFrame(), "protobuf").phy_payload for p in ns.on("/event/up")]
        assert got == sent[1:]
        assert rig.forwarder.stats.replayed == 40 and rig.forwarder.stats.acked == 41

    run(tmp_path, broker, body, window=window)


OUTAGE_S = int(os.environ.get("WISGATE_MQTT_OUTAGE_S", "60"))


def test_long_outage_at_50_uplinks_per_second_replays_everything_in_order(tmp_path: Path, broker: Broker) -> None:
    """``OUTAGE_S`` simulated seconds of 50 uplinks/s with the broker down (600 for the issue's 10 minutes)."""
    total = 50 * OUTAGE_S

    async def body(rig: Rig) -> None:
        async with peer(broker, identifier="ns-long", clean=False):
            pass
        async with running(rig.forwarder):
            broker.stop()
            async with asyncio.timeout(5):
                while rig.forwarder.connected.is_set():
                    await asyncio.sleep(0.01)
            for second in range(OUTAGE_S):
                for n in range(50):
                    rig.forwarder.submit(received(second * 50 + n, rig.clock.monotonic()))
                rig.clock.advance(1.0)
                await asyncio.sleep(0)  # one store transaction per simulated second
            async with asyncio.timeout(5):  # the writer thread syncs them one transaction after another
                while rig.forwarder.store.writing or rig.forwarder.intake.pending:
                    await asyncio.sleep(0.01)
            assert len(rig.store) == total and rig.store.dropped == 0
            broker.start()
            async with peer(broker, identifier="ns-long", clean=False) as ns:
                await ns.wait_for(lambda: ns.ups == total, timeout=60)
                got = [decode(p, gw.UplinkFrame(), "protobuf").phy_payload for p in ns.on("/event/up")]
            await drained(rig, total)
        assert got == [n.to_bytes(4, "big") for n in range(total)]
        assert rig.forwarder.stats.replayed == total
        # one session after the outage, nothing sent twice (a session cut at 0.5 s sent its window again)
        assert rig.forwarder.stats.connects == 2 and rig.forwarder.stats.published == total

    run(tmp_path, broker, body)


def received(n: int, now: float) -> ReceivedUplink:
    frame = UplinkFrame(n.to_bytes(4, "big"), 868_100_000, LoraModulation(7, 125_000),
                        RxInfo(board=0, count_us=n * 20_000, rssi=-90, snr=3.0))
    return ReceivedUplink(Uplink((frame,), now), None)


def test_restart_mid_outage_replays_what_the_previous_run_stored(tmp_path: Path, broker: Broker) -> None:
    sent: list[bytes] = []

    async def first_run(rig: Rig) -> None:
        async with peer(broker, identifier="ns-restart", clean=False):
            pass  # register the persistent session
        broker.stop()
        task = asyncio.create_task(rig.forwarder.run())
        await asyncio.sleep(0.05)
        sent.extend(rig.uplink()[0] for _ in range(10))
        await asyncio.sleep(0.05)
        task.cancel()  # the daemon stops while the broker is down
        with contextlib.suppress(asyncio.CancelledError):
            await task

    run(tmp_path, broker, first_run)
    assert len(sent) == 10
    broker.start()

    async def second_run(rig: Rig) -> None:
        assert len(rig.store) == 10
        async with peer(broker, identifier="ns-restart", clean=False) as ns, running(rig.forwarder):
            await ns.wait_for(lambda: len(ns.on("/event/up")) == 10)
            got = [decode(p, gw.UplinkFrame(), "protobuf").phy_payload for p in ns.on("/event/up")]
            assert got == sent
            await drained(rig, 10)
            assert rig.forwarder.stats.replayed == 10

    run(tmp_path, broker, second_run)


def test_replay_rate_spreads_a_backlog(tmp_path: Path, broker: Broker) -> None:
    async def body(rig: Rig) -> None:
        rig.store.put_many([(bytes([n]), time.time() - 60) for n in range(30)])
        start = time.monotonic()
        async with running(rig.forwarder):
            await drained(rig, 30)
        # 30 uplinks at 100/s: at least 0.3 s minus the last window's sleep (it comes after the sends)
        assert time.monotonic() - start >= 0.2
        assert rig.forwarder.stats.replayed == 30

    run(tmp_path, broker, body, replay_rate=100.0, window=5)


def test_credentials_on_a_password_listener(tmp_path: Path) -> None:
    (tmp_path / "auth").mkdir()
    secured = Broker(tmp_path / "auth", users={"gw": "s3cret"}).start()
    try:
        assert secured.auth_port is not None

        async def body(rig: Rig) -> None:
            async with running(rig.forwarder):
                assert rig.forwarder.stats.connects == 1

        run(tmp_path, secured, body, port=secured.auth_port, username="gw", password="s3cret")

        async def refused(rig: Rig) -> None:
            task = asyncio.create_task(rig.forwarder.run())
            await asyncio.sleep(0.4)
            assert not rig.forwarder.connected.is_set() and rig.forwarder.stats.connect_failures >= 1
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        run(tmp_path, secured, refused, port=secured.auth_port, username="gw", password="wrong")
    finally:
        secured.stop()


def test_tls_with_a_client_certificate(tmp_path: Path) -> None:
    (tmp_path / "tls").mkdir()
    pki = make_pki(tmp_path / "tls")
    secured = Broker(tmp_path / "tls", tls=pki).start()
    try:
        assert secured.tls_port is not None

        async def body(rig: Rig) -> None:
            async with running(rig.forwarder):
                rig.uplink()
                await drained(rig, 1)
                assert len(rig.store) == 0

        run(tmp_path, secured, body, port=secured.tls_port, ca_file=pki.ca, cert_file=pki.client_cert,
            key_file=pki.client_key)

        async def no_client_cert(rig: Rig) -> None:
            task = asyncio.create_task(rig.forwarder.run())
            await asyncio.sleep(0.4)
            assert not rig.forwarder.connected.is_set() and rig.forwarder.stats.connect_failures >= 1
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        # Under TLS 1.3 the broker refuses the missing certificate after the handshake; paho then drops
        # the socket before CONNACK, which aiomqtt only notices at its timeout.
        run(tmp_path, secured, no_client_cert, port=secured.tls_port, ca_file=pki.ca, timeout_s=0.1)
    finally:
        secured.stop()


def test_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="encoding"):
        MqttSettings(encoding="xml")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="key_file given without cert_file"):
        MqttSettings(key_file=Path("k.pem"))
    with pytest.raises(ConfigError, match="TLS files"):
        MqttSettings(ca_file=Path("/nonexistent/ca.pem")).ssl_context()
    assert MqttSettings().ssl_context() is None


def _configuration(version: str, frequencies: list[int], *, gateway_id: str = GATEWAY_ID) -> gw.GatewayConfiguration:
    message = gw.GatewayConfiguration(gateway_id=gateway_id, version=version)
    for frequency in frequencies:
        item = message.channels.add(frequency=frequency)
        item.lora_modulation_config.bandwidth = 125_000
        item.lora_modulation_config.spreading_factors.extend([7, 8, 9, 10, 11, 12])
    std = message.channels.add(frequency=868_300_000)
    std.lora_modulation_config.bandwidth = 250_000
    std.lora_modulation_config.spreading_factors.append(7)
    return message


def test_command_config_retunes_the_module_without_a_restart_and_acks(tmp_path: Path, broker: Broker) -> None:
    plan = [867_100_000 + 200_000 * n for n in range(5)] + [868_100_000, 868_300_000, 868_500_000]
    too_many = [863_100_000 + 200_000 * n for n in range(9)]  # nine multi-SF channels for one SX1302

    async def body(rig: Rig) -> None:
        async with peer(broker) as ns, running(rig.forwarder):
            topic = f"gateway/{GATEWAY_ID}/command/config"
            await ns.client.publish(topic, _configuration("v2", plan).SerializeToString(), qos=1)
            await ns.wait_for(lambda: len(ns.on("/event/config")) == 1)
            outcome = json.loads(ns.on("/event/config")[0])
            assert outcome == {"gatewayId": GATEWAY_ID, "version": "v2", "status": "OK", "error": ""}
            assert rig.daemon.config_version == "v2" and rig.gateway.plan_version == "v2"
            assert rig.daemon.channels is not None
            heard = sorted(c.frequency_hz for c in rig.daemon.channels)
            assert heard == sorted([*plan, 868_300_000])  # the 8 multi-SF and the single-SF channel
            # a plan the radios cannot hold is refused, naming why; the module keeps what it had
            await ns.client.publish(topic, _configuration("v3", too_many).SerializeToString(), qos=1)
            await ns.wait_for(lambda: len(ns.on("/event/config")) == 2)
            refused = json.loads(ns.on("/event/config")[1])
            assert refused["status"] == "REFUSED" and "does not fit" in refused["error"]
            assert rig.daemon.config_version == "v2" and rig.gateway.plan_version == "v2"
            # another gateway's configuration and garbage are bad commands, not outcomes
            await ns.client.publish(topic, _configuration("v4", plan, gateway_id="0102030405060708")
                                    .SerializeToString(), qos=1)
            await ns.client.publish(topic, b"\xff\xff", qos=1)
            await ns.wait_for(lambda: sum(rig.forwarder.stats.bad_commands.values()) == 2)
            assert dict(rig.forwarder.stats.configs) == {"OK": 1, "REFUSED": 1}
            assert len(ns.on("/event/config")) == 2

    run(tmp_path, broker, body)


def test_a_cancellation_swallowed_inside_a_session_still_stops_the_forwarder(tmp_path: Path, broker: Broker) -> None:
    """aiomqtt waits with asyncio.wait_for, which on Python 3.11 can swallow a cancellation racing what it
    waits for; the forwarder must stop all the same (it used to reconnect forever: a hung shutdown)."""

    async def body(rig: Rig) -> None:
        sessions = 0

        async def swallowing_session() -> None:
            nonlocal sessions
            sessions += 1
            if sessions > 1:
                await asyncio.Event().wait()  # a reconnect: the bug; cancellable, so the test can end
            with contextlib.suppress(asyncio.CancelledError):  # what wait_for does in that race
                await asyncio.Event().wait()

        rig.forwarder._session = swallowing_session  # type: ignore[method-assign]
        task = asyncio.create_task(rig.forwarder.run())
        await asyncio.sleep(0.1)
        task.cancel()
        async with asyncio.timeout(3):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert sessions == 1

    run(tmp_path, broker, body)
