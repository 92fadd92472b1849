"""The simulated radio environment: LoRaWAN devices, propagation, collisions, and the modules that hear them.

Devices send real LoRaWAN frames (encrypted FRMPayload, AES-CMAC MIC, increasing FCnt; OTAA devices
start with a join request) at random intervals no shorter than their duty cycle allows. Each
transmission reaches every module that has a channel at its frequency, bandwidth and SF, with an RSSI
from a log-distance path loss plus per-link shadowing, and an SNR over the thermal noise floor.
Overlapping transmissions on the same channel and SF collide: the stronger survives when it is at
least ``CAPTURE_DB`` above every other one (capture effect); otherwise the module still detects the
packet but its CRC fails. The same frame is heard by two modules whose channels overlap, which is
what the gateway's dedup must merge.

OTAA devices send join requests (a new DevNonce each time) until a network server answers: a
join-accept that a module transmits JOIN_ACCEPT_DELAY1 or 2 (5 s / 6 s) after the join request, by that
module's own counter, is decrypted with the device's AppKey, its MIC checked, and the session keys
derived (LoRaWAN 1.0.x §6.2.5); the device then sends data frames with its new DevAddr and keys. The
downlink is assumed to reach the device (no downlink propagation is modelled).

Everything is driven by the simulated clock: :meth:`RadioEnvironment.run_until` delivers every
reception that completed by then to its module's :class:`SimConcentratord`.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from chirpstack_api import gw

from wisgate.lora.errors import ParseError
from wisgate.lora.frames.airtime import lora_airtime, sx1280_airtime
from wisgate.lora.frames.crypto import build_data_frame, build_join_request, derive_session_keys, open_join_accept
from wisgate.lora.frames.phy import MType
from wisgate.lora.plans.channels import Channel, ChannelKind
from wisgate.sim.concentratord import SimConcentratord

CAPTURE_DB = 6.0
#: LoRa modems report SNR up to about +13 dB however strong the signal (the estimator saturates).
SNR_REPORT_MAX_DB = 13.5
NOISE_FIGURE_DB = 6.0
#: LoRaWAN 1.0.x join-accept windows after the end of the join request (RP002 defaults).
JOIN_ACCEPT_DELAY1_US = 5_000_000
JOIN_ACCEPT_DELAY2_US = 6_000_000
#: Device crystal error (1 sigma, ppm): what the gateway measures as the frequency offset (foff).
CRYSTAL_PPM_SIGMA = 4.0
#: SX1302 modem ids for the single-SF LoRa channel and FSK; multi-SF channels use their IF chain (0-15).
MID_LORA_STD = 16
MID_FSK = 17
#: Demodulation floor (SNR, dB) per spreading factor (SX1302 datasheet figures).
SNR_FLOOR_DB = {5: -2.5, 6: -5.0, 7: -7.5, 8: -10.0, 9: -12.5, 10: -15.0, 11: -17.5, 12: -20.0}


def path_loss_db(distance_m: float, frequency_hz: int, exponent: float = 2.7) -> float:
    """Free-space loss at 1 m, then ``exponent`` × 10 dB per decade (suburban)."""
    d = max(distance_m, 1.0)
    free_space_1m = 20 * math.log10(frequency_hz) - 147.55
    return free_space_1m + 10 * exponent * math.log10(d)


def noise_floor_dbm(bandwidth_hz: int) -> float:
    return -174 + 10 * math.log10(bandwidth_hz) + NOISE_FIGURE_DB


@dataclass
class SimDevice:
    """One end device. ``channels``: where it may transmit; one picked at random per frame."""

    dev_addr: int
    channels: Sequence[Channel]
    spreading_factor: int = 7
    position: tuple[float, float] = (500.0, 0.0)
    tx_power_dbm: float = 14.0
    mean_interval_s: float = 60.0
    payload_size: int = 12
    duty_cycle: float = 0.01
    nwk_skey: bytes = bytes(range(16))
    app_skey: bytes = bytes(range(16, 32))
    fcnt: int = 0
    #: OTAA identity: when set, the device first sends a join request.
    dev_eui: int | None = None
    join_eui: int = 0
    app_key: bytes = bytes(16)
    joined: bool = True
    #: join requests sent and join-accepts taken (OTAA)
    join_requests: int = 0
    join_accepts: int = 0

    def __post_init__(self) -> None:
        if self.dev_eui is not None:
            self.joined = False

    def accept(self, phy_payload: bytes, dev_nonce: int) -> bool:
        """Take a join-accept meant for the join request with ``dev_nonce``; False if it is not ours."""
        try:
            fields = open_join_accept(self.app_key, phy_payload)
        except ParseError:
            return False
        self.nwk_skey, self.app_skey = derive_session_keys(self.app_key, fields, dev_nonce)
        self.dev_addr = fields.dev_addr
        self.fcnt = 0
        self.joined = True
        self.join_accepts += 1
        return True


@dataclass
class Receiver:
    """A concentrator module in the environment: its daemon, the channels it listens on, where it is."""

    daemon: SimConcentratord
    channels: Sequence[Channel]
    position: tuple[float, float] = (0.0, 0.0)
    antenna_gain_db: float = 2.0

    def channel_index(self, frequency_hz: int, bandwidth_hz: int, spreading_factor: int) -> int | None:
        for index, channel in enumerate(self.channels):
            if channel.frequency_hz != frequency_hz or channel.bandwidth_hz != bandwidth_hz:
                continue
            if channel.kind is ChannelKind.FSK:
                continue
            if channel.spreading_factor is None or channel.spreading_factor == spreading_factor:
                return index
        return None


@dataclass
class Transmission:
    device: SimDevice
    payload: bytes
    frequency_hz: int
    bandwidth_hz: int
    spreading_factor: int
    start: float
    end: float
    delivered: bool = False
    dev_nonce: int | None = None  # a join request's


@dataclass
class _Join:
    """A join request waiting for its accept: the counter at its end on each module that heard it."""

    device: SimDevice
    dev_nonce: int
    end: float
    heard: dict[int, int] = field(default_factory=dict)


@dataclass
class RadioStats:
    transmissions: int = 0
    receptions: int = 0
    collisions: int = 0
    below_sensitivity: int = 0


@dataclass
class RadioEnvironment:
    receivers: list[Receiver] = field(default_factory=list)
    devices: list[SimDevice] = field(default_factory=list)
    seed: int = 1
    shadowing_db: float = 4.0
    stats: RadioStats = field(default_factory=RadioStats)
    #: the clock's time when the devices are switched on (a site started late on a board's clock)
    start_s: float = 0.0

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._next: list[tuple[float, int, SimDevice]] = []
        self._in_air: list[Transmission] = []
        self._shadow: dict[tuple[int, int], float] = {}
        self._ppm: dict[int, float] = {}
        self._crystals = random.Random(self.seed + 1)  # its own stream: the traffic stays as seeded before
        self._time = self.start_s
        self._awaiting: dict[int, _Join] = {}
        self._downlinks_seen: dict[int, int] = {}

    def add_device(self, device: SimDevice, *, first_at: float | None = None) -> None:
        self.devices.append(device)
        start = self._time + self._random.uniform(0, device.mean_interval_s) if first_at is None else first_at
        heapq.heappush(self._next, (start, id(device), device))

    def _frame(self, device: SimDevice) -> tuple[bytes, int | None]:
        if not device.joined and device.dev_eui is not None:
            nonce = self._random.randrange(0x10000)
            device.join_requests += 1
            request = build_join_request(
                join_eui=device.join_eui, dev_eui=device.dev_eui, dev_nonce=nonce, app_key=device.app_key
            )
            return request.to_bytes(), nonce
        payload = bytes(self._random.randrange(256) for _ in range(device.payload_size))
        frame = build_data_frame(
            mtype=MType.UNCONFIRMED_DATA_UP, dev_addr=device.dev_addr, fcnt32=device.fcnt,
            nwk_skey=device.nwk_skey, app_skey=device.app_skey, payload=payload, fport=1,
        )
        device.fcnt += 1
        return frame.to_bytes(), None

    def _transmit(self, device: SimDevice, start: float) -> Transmission:
        channel = self._random.choice(list(device.channels))
        payload, nonce = self._frame(device)
        if channel.kind is ChannelKind.LORA_2G4:
            sf = channel.spreading_factor or device.spreading_factor
            airtime = sx1280_airtime(len(payload), sf, channel.bandwidth_hz, code_rate="4/8LI")
        else:
            sf = channel.spreading_factor or device.spreading_factor
            airtime = lora_airtime(len(payload), sf, channel.bandwidth_hz)
        self.stats.transmissions += 1
        tx = Transmission(device, payload, channel.frequency_hz, channel.bandwidth_hz, sf, start, start + airtime,
                          dev_nonce=nonce)
        pause = max(self._random.expovariate(1 / device.mean_interval_s), airtime / device.duty_cycle - airtime)
        heapq.heappush(self._next, (tx.end + pause, id(device), device))
        return tx

    def _rssi(self, tx: Transmission, receiver: Receiver) -> float:
        key = (id(tx.device), id(receiver))
        if key not in self._shadow:
            self._shadow[key] = self._random.gauss(0, self.shadowing_db)
        dx = tx.device.position[0] - receiver.position[0]
        dy = tx.device.position[1] - receiver.position[1]
        loss = path_loss_db(math.hypot(dx, dy), tx.frequency_hz)
        return tx.device.tx_power_dbm + receiver.antenna_gain_db - loss + self._shadow[key]

    def _listen(self) -> None:
        """Hand each join-accept the modules transmitted to the device whose RX1/RX2 window it hits."""
        for receiver in self.receivers:
            sent = receiver.daemon.module.transmissions
            start = self._downlinks_seen.get(id(receiver), 0)
            self._downlinks_seen[id(receiver)] = len(sent)
            for downlink in sent[start:]:
                payload = bytes(downlink.item.phy_payload)
                if not payload or payload[0] >> 5 != MType.JOIN_ACCEPT:
                    continue
                for key, join in list(self._awaiting.items()):
                    heard = join.heard.get(id(receiver))
                    if heard is not None and _join_window(heard, downlink.count_us) \
                            and join.device.accept(payload, join.dev_nonce):
                        del self._awaiting[key]
                        break

    def _crystal_ppm(self, device: SimDevice) -> float:
        ppm = self._ppm.get(id(device))
        if ppm is None:
            ppm = self._ppm[id(device)] = self._crystals.gauss(0, CRYSTAL_PPM_SIGMA)
        return ppm

    def run_until(self, now: float) -> int:
        """Generate transmissions up to ``now`` and deliver those that ended; returns receptions delivered."""
        while self._next and self._next[0][0] <= now:
            start, _, device = heapq.heappop(self._next)
            self._in_air.append(self._transmit(device, start))
        self._time = now
        delivered = 0
        # every transmission that started by now exists, so one that ended knows all its interferers
        for tx in sorted((t for t in self._in_air if t.end <= now and not t.delivered), key=lambda t: t.end):
            delivered += self._deliver(tx)
            tx.delivered = True
        self._listen()
        horizon = min((t.start for t in self._in_air if not t.delivered), default=now)
        self._in_air = [t for t in self._in_air if not t.delivered or t.end > horizon]
        return delivered

    def _deliver(self, tx: Transmission) -> int:
        delivered = 0
        for receiver in self.receivers:
            index = receiver.channel_index(tx.frequency_hz, tx.bandwidth_hz, tx.spreading_factor)
            if index is None:
                continue
            rssi = self._rssi(tx, receiver)
            snr = rssi - noise_floor_dbm(tx.bandwidth_hz)
            if snr < SNR_FLOOR_DB[tx.spreading_factor]:
                self.stats.below_sensitivity += 1
                continue
            interferers = [
                other for other in self._in_air
                if other is not tx and other.frequency_hz == tx.frequency_hz
                and other.spreading_factor == tx.spreading_factor
                and other.start < tx.end and tx.start < other.end
            ]
            captured = all(rssi >= self._rssi(other, receiver) + CAPTURE_DB for other in interferers)
            if not captured:
                self.stats.collisions += 1
            module = receiver.daemon.module
            count_us = module.count_at(tx.end)
            if tx.dev_nonce is not None and captured:
                join = self._awaiting.get(id(tx.device))
                if join is None or join.dev_nonce != tx.dev_nonce:
                    join = self._awaiting[id(tx.device)] = _Join(tx.device, tx.dev_nonce, tx.end)
                join.heard[id(receiver)] = count_us
            channel = receiver.channels[index]
            # the channel RSSI is everything in the channel (signal plus noise); the signal RSSI is the signal alone
            noise = noise_floor_dbm(tx.bandwidth_hz)
            channel_rssi = 10 * math.log10(10 ** (rssi / 10) + 10 ** (noise / 10))
            is_2g4 = channel.kind is ChannelKind.LORA_2G4
            receiver.daemon.receive(
                tx.payload if captured else _garble(tx.payload),
                frequency=tx.frequency_hz, spreading_factor=tx.spreading_factor,
                bandwidth=tx.bandwidth_hz, rssi=round(channel_rssi), snr=round(min(snr, SNR_REPORT_MAX_DB), 1),
                channel=index, crc_ok=captured, count_us=count_us,
                code_rate=gw.CR_LI_4_8 if is_2g4 else gw.CR_4_5,
                rssi_signal=None if is_2g4 else rssi,
                freq_offset_hz=round(tx.frequency_hz * self._crystal_ppm(tx.device) / 1e6),
                modem_id=None if is_2g4 else (MID_LORA_STD if channel.kind is ChannelKind.LORA_STD else min(index, 15)),
            )
            self.stats.receptions += 1
            delivered += 1
        return delivered


def _join_window(heard_count: int, sent_count: int) -> bool:
    delay = (sent_count - heard_count) & 0xFFFFFFFF
    return delay in (JOIN_ACCEPT_DELAY1_US, JOIN_ACCEPT_DELAY2_US)


def _garble(payload: bytes) -> bytes:
    """What a collided packet decodes to: the same length, bits flipped."""
    return bytes(b ^ 0x5A for b in payload)
