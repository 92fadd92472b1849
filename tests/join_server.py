"""A network server for the simulated site's OTAA devices over Semtech UDP (GWMP), in its own thread on a
loopback socket: it acknowledges PUSH_DATA and PULL_DATA and answers every join request with a join-accept
in RX1 (JoinAcceptDelay1, 5 s after the request, on its frequency and data rate), encrypted with the
devices' AppKey as LoRaWAN 1.0.4 §6.2.6 says. The gateway then transmits real downlinks."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

from wisgate.lora.backhaul import gwmp
from wisgate.lora.errors import ParseError
from wisgate.lora.frames.crypto import encrypt_join_accept
from wisgate.lora.frames.phy import JoinRequest, parse

#: the simulated site's devices keep SimDevice's default AppKey
APP_KEY = bytes(16)
JOIN_ACCEPT_DELAY_US = 5_000_000
NET_ID = b"\x13\x00\x00"


class JoinServer:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.join_requests = 0
        self.accepts_sent = 0
        self.tx_acks: list[gwmp.TxAck] = []
        self._down: tuple[str, int] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="join-server", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def lora_section(self) -> dict[str, Any]:
        """``[lora]`` settings that send the daemon's uplinks here."""
        return {"udp": [{"name": "join-server", "host": "127.0.0.1", "port_up": self.port, "port_down": self.port,
                         "keepalive_s": 0.5, "stat_interval_s": 0}]}

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65_536)
                packet = gwmp.decode(data)
            except TimeoutError:
                continue
            except (OSError, ParseError):
                if self._stop.is_set():
                    return
                continue
            if isinstance(packet, gwmp.PushData):
                self.sock.sendto(gwmp.encode(gwmp.PushAck(packet.token, packet.version)), addr)
                for rx in packet.rxpk:
                    self._answer(rx)
            elif isinstance(packet, gwmp.PullData):
                self._down = addr
                self.sock.sendto(gwmp.encode(gwmp.PullAck(packet.token, packet.version)), addr)
            elif isinstance(packet, gwmp.TxAck):
                self.tx_acks.append(packet)

    def _answer(self, rx: gwmp.Rxpk) -> None:
        try:
            request = parse(rx.data)
        except ParseError:
            return
        if not isinstance(request, JoinRequest) or self._down is None:
            return
        self.join_requests += 1
        dev_addr = 0x26F00000 + self.join_requests
        # MHDR, AppNonce, NetID, DevAddr, DLSettings 0, RxDelay 1
        app_nonce = self.join_requests.to_bytes(3, "little")
        plain = b"\x20" + app_nonce + NET_ID + dev_addr.to_bytes(4, "little") + b"\x00\x01"
        txpk = gwmp.Txpk(freq_hz=rx.freq_hz, modu="LORA", datr=rx.datr, codr="4/5", powe=14, ipol=True,
                         tmst=(rx.tmst + JOIN_ACCEPT_DELAY_US) & 0xFFFFFFFF, data=encrypt_join_accept(APP_KEY, plain))
        self.sock.sendto(gwmp.encode(gwmp.PullResp(0x4000 + self.join_requests, txpk)), self._down)
        self.accepts_sent += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        with contextlib.suppress(OSError):
            self.sock.close()
