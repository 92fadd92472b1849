"""Response bodies of the LoRa endpoints, field by field: the gateway's counters (``/api/lora/stats``), the
last hour's traffic (``/api/lora/traffic``), the decoded packet records (``/api/lora/packets`` and the live
stream) and the network-server links (``/api/lora/backhaul``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wisgate.api.body import Body


class LoraCounters(Body):
    received: int
    crc_ok: int
    crc_bad: int
    forwarded: int
    duplicates: int
    dropped: dict[str, int] = Field(description="receptions dropped, by reason")
    airtime_s: float
    datarates: dict[str, int] = Field(description="receptions per data rate (SF7BW125; FSK as its bit rate)")


class ChannelCounters(LoraCounters):
    frequency_hz: int


class ModuleStatsOut(Body):
    board: int
    malformed: int
    tx: dict[str, int] = Field(description="downlink requests per outcome: OK, TOO_LATE, COLLISION_PACKET...")
    total: LoraCounters
    channels: list[ChannelCounters]


class LoraStatsOut(Body):
    gateway_id: str | None = Field(description="null while no gateway runs")
    uplinks: int
    modules: list[ModuleStatsOut]


class ModuleTrafficOut(Body):
    datarates: dict[str, list[int]] = Field(description="receptions per minute, per data rate")
    airtime_s: list[float] = Field(description="airtime received per minute")


class ChannelTrafficOut(Body):
    board: int
    frequency_hz: int
    counts: list[int] = Field(description="receptions per minute (the heatmap's row)")


class HistogramOut(Body):
    edges: list[float] = Field(description="bin edges, one more than counts")
    counts: list[int]


class DeviceSeenOut(Body):
    id: str = Field(description="DevAddr, or DevEUI for a join request")
    last_seen: float
    uplinks: int


class BandLoadOut(Body):
    """One module's transmissions in one regulated sub-band over the window."""

    board: int
    band: str = Field(description="the sub-band's name (ETSI EN 300 220: K, L, M, N, P, Q)")
    min_hz: int
    max_hz: int
    limit: float = Field(description="the duty cycle allowed, a fraction (0.01 is 1 %)")
    used_s: float = Field(description="airtime transmitted within the window")
    budget_s: float = Field(description="airtime the limit allows within the window")
    load: float = Field(description="used_s / budget_s (1 is the limit)")
    series: list[float] = Field(description="load at the end of each minute of the last hour, oldest first")


class DutyCycleOut(Body):
    regulation: str | None = Field(description="the rules applied (ETSI EN 300 220 on EU868); null where the "
                                   "region has no duty-cycle limit")
    window_s: int
    bands: list[BandLoadOut] = Field(description="every module and sub-band it transmitted in")


class TrafficOut(Body):
    minute_s: int
    minutes: list[int] = Field(description="the start of each minute of the last hour, epoch seconds, oldest first")
    uplinks: list[int] = Field(description="merged uplinks per minute")
    downlinks: dict[str, list[int]] = Field(description="downlink requests per minute, per outcome")
    modules: dict[str, ModuleTrafficOut] = Field(description="per module (board number)")
    channels: list[ChannelTrafficOut]
    rssi: HistogramOut
    snr: HistogramOut
    active_devices: int
    devices: list[DeviceSeenOut] = Field(description="the latest 50 devices heard, newest first")
    duty_cycle: DutyCycleOut


class ReceptionOut(Body):
    board: int
    channel: int
    rssi: float
    snr: float
    count_us: int
    crc: str


class PacketOut(Body):
    """One merged uplink (``direction`` up) or one downlink request and its outcome (down), decoded."""

    time: float
    direction: Literal["up", "down"]
    size: int
    phy_payload: str = Field(description="hex")
    frequency_hz: int
    datr: str
    receptions: list[ReceptionOut] = Field(description="every module that heard it (none for a downlink)")
    mtype: str = Field(description="UNCONFIRMED_DATA_UP, JOIN_REQUEST... or 'not LoRaWAN'")
    error: str | None = Field(default=None, description="why the payload is not LoRaWAN")
    dev_addr: str | None = None
    fcnt: int | None = None
    fport: int | None = None
    adr: bool | None = None
    join_eui: str | None = None
    dev_eui: str | None = None
    dev_nonce: int | None = None
    board: int | None = Field(default=None, description="the module that transmits a downlink")
    power_dbm: float | None = None
    tx_class: str | None = None
    outcome: str | None = Field(default=None, description="a downlink's outcome: OK, TOO_LATE, DUTY_CYCLE...")
    detail: str | None = None


class LinkQueueOut(Body):
    ok: bool
    problem: str | None = Field(description="why the link is degraded (store failing, server silent...)")
    queued: int
    in_memory: int
    unprotected: int
    store_errors: int
    dropped: int
    lost: int
    replayed: int


class UdpLinkOut(LinkQueueOut):
    address: str | None
    live: bool
    pushes: int
    acks: int
    push_timeouts: int
    uplinks_sent: int
    uplinks_acked: int
    socket_errors: int
    bad_datagrams: dict[str, int]
    downlinks_sent: int
    downlinks_refused: dict[str, int]


class MqttLinkOut(LinkQueueOut):
    connected: bool
    published: int
    acked: int
    connects: int
    connect_failures: int
    downlinks: dict[str, int]
    bad_commands: dict[str, int]


class StationLinkOut(LinkQueueOut):
    connected: bool
    muxs: str = Field(description="the LNS data endpoint router-info named (empty before the first discovery)")
    sent: int
    confirmed: int
    connects: int
    connect_failures: int
    downlinks: dict[str, int]
    dntxed: int
    timesync: bool = Field(description="whether the LNS has answered a timesync (GPS time known)")
    commands_refused: int


class BackhaulOut(Body):
    udp: dict[str, UdpLinkOut] = Field(description="per Semtech UDP server, by name")
    mqtt: MqttLinkOut | None
    station: StationLinkOut | None = Field(description="the LoRa Basics Station link ([lora.station])")
