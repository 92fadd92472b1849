"""A LoRa Basics Station LNS for the tests, written from the LNS-protocol documentation.

Discovery (``/router-info``: ``{"router"}`` in, ``{"router", "muxs", "uri"}`` out, then close), the
data connection (``version`` in, ``router_config`` out), uplinks recorded, ``dnmsg`` sent on request,
``timesync`` answered with ``gpstime``, ``dntxed`` recorded. TLS with a CA made here (server and, when
asked, client certificates). Stoppable and restartable on the same port (an LNS restart mid-stream).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import ssl
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

#: EU868 as an LNS describes it: DR0..5 = SF12..7 at 125 kHz, DR6 SF7 at 250 kHz, DR7 FSK
EU868_DRS = [[12, 125, 0], [11, 125, 0], [10, 125, 0], [9, 125, 0], [8, 125, 0], [7, 125, 0], [7, 250, 0],
             [0, 0, 0]] + [[-1, 0, 0]] * 8
GPS_EPOCH_OFFSET_US = 1_300_000_000_000_000  # an arbitrary GPS time for the LNS's clock


class Certificates:
    """A CA, a server certificate for 127.0.0.1, and a client certificate, as PEM files in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        now = datetime.datetime.now(datetime.UTC)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wisgate test CA")])
        self.ca_cert = (
            x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(self.ca_key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.ca_key, hashes.SHA256())
        )
        self.ca_file = self._write("ca.pem", self.ca_cert.public_bytes(serialization.Encoding.PEM))
        self.server_cert, self.server_key = self._issue("server", "127.0.0.1", server=True)
        self.client_cert, self.client_key = self._issue("client", "router-0016c001ff1a7391", server=False)

    def _write(self, name: str, data: bytes) -> Path:
        path = self.directory / name
        path.write_bytes(data)
        return path

    def _issue(self, stem: str, name: str, *, server: bool) -> tuple[Path, Path]:
        import ipaddress

        now = datetime.datetime.now(datetime.UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        cert = builder.sign(self.ca_key, hashes.SHA256())
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return (self._write(f"{stem}.pem", cert.public_bytes(serialization.Encoding.PEM)),
                self._write(f"{stem}.key", key_pem))

    def server_context(self, *, client_auth: bool) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_cert, self.server_key)
        if client_auth:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(self.ca_file)
        return context


class Lns:
    """The LNS: ``start()``/``stop()`` on one port; everything received is kept in order."""

    def __init__(self, certs: Certificates, *, router_config: dict[str, Any], client_auth: bool = True,
                 port: int = 0) -> None:
        self.certs = certs
        self.router_config = router_config
        self.client_auth = client_auth
        self.port = port
        self.server: Server | None = None
        self.discoveries: list[dict[str, Any]] = []
        self.versions: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.connection: ServerConnection | None = None
        self.arrived = asyncio.Event()
        self.muxtime = 1_700_000_000.0

    @property
    def uri(self) -> str:
        return f"wss://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.server = await serve(self._handle, "127.0.0.1", self.port,
                                  ssl=self.certs.server_context(client_auth=self.client_auth))
        self.port = int(next(iter(self.server.sockets)).getsockname()[1])

    async def stop(self) -> None:
        """The LNS goes away: connections dropped, nothing more read."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        self.connection = None

    def of(self, msgtype: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("msgtype") == msgtype]

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.arrived.clear()
                await self.arrived.wait()

    async def send(self, message: dict[str, Any]) -> None:
        assert self.connection is not None, "no gateway connected"
        await self.connection.send(json.dumps(message))

    async def _handle(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else ""
        if path == "/router-info":
            request = json.loads(await ws.recv())
            self.discoveries.append(request)
            await ws.send(json.dumps({"router": request["router"], "muxs": "::0",
                                      "uri": f"{self.uri}/traffic/{request['router']}"}))
            await ws.close()
            return
        self.connection = ws
        try:
            async for raw in ws:
                message = json.loads(raw)
                kind = message.get("msgtype")
                if kind == "version":
                    self.versions.append(message)
                    await ws.send(json.dumps({**self.router_config, "msgtype": "router_config",
                                              "MuxTime": self.muxtime}))
                elif kind == "timesync":
                    # the LNS answers with its GPS time (µs) when it got the request
                    await ws.send(json.dumps({"msgtype": "timesync", "txtime": message["txtime"],
                                              "gpstime": GPS_EPOCH_OFFSET_US}))
                self.messages.append(message)
                self.arrived.set()
        except ConnectionClosed:
            pass
