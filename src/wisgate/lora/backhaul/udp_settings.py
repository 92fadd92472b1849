"""``[[lora.udp]]`` settings, apart from the UDP link so that the config schema does not import the GWMP
codec, the link and the store (the daemon loads them only when a Semtech UDP server is configured)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from wisgate.lora.core.filters import FilterSettings
from wisgate.settings import Host, PathSetting, Settings, renamed

MIN_DATAGRAM_BYTES = 1024
#: The largest UDP payload over IPv4; nothing longer can be a datagram.
MAX_DATAGRAM_BYTES = 65_507


def _zero_or_not_absurd(value: float) -> float:
    if 0 < value < 0.01:
        raise ValueError("must be 0 (no stat reports) or at least 0.01 s")
    return value


class UdpServerConfig(Settings):
    """One network server (``[[lora.udp]]``); ``host`` may be a name, resolved at start and after keepalive failures."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")]
    host: Host
    port_up: Annotated[int, Field(ge=1, le=65535)] = 1700
    port_down: Annotated[int, Field(ge=1, le=65535)] = 1700
    version: Literal[1, 2] = 2
    #: PULL_DATA interval (lora_pkt_fwd's keepalive_interval is 10 s too).
    keepalive_s: Annotated[float, Field(ge=0.01, le=300)] = 10.0
    keepalive_max_failures: Annotated[int, Field(ge=1, le=100)] = 3
    #: lora_pkt_fwd waits 100 ms; over cellular that is too short, and a late ACK still counts anyway.
    push_timeout_s: Annotated[float, Field(ge=0.01, le=30)] = 1.0
    retry_interval_s: Annotated[float, Field(ge=0.01, le=300)] = 2.0
    replay_interval_s: Annotated[float, Field(ge=0, le=10)] = 0.02
    replay_window: Annotated[int, Field(ge=1, le=1000)] = 4
    #: 0: no stat reports.
    stat_interval_s: Annotated[float, Field(ge=0, le=86_400), AfterValidator(_zero_or_not_absurd)] = 30.0
    #: Send uplinks only; refuse downlinks from this server.
    uplink_only: bool = False
    #: What this server gets, on top of the gateway-wide [lora.filters].
    filters: FilterSettings | None = None
    #: Write and honour the multi-board fields brd/ant/rsig (ChirpStack); off for strict servers.
    extensions: bool = False
    #: rxpk/stat fields as sx1302_hal's lora_pkt_fwd sends them (jver, mid, rssis, foff, temp), or
    #: packet_forwarder v4's SX1301-era set for servers that refuse unknown fields.
    fields: Literal["sx1302", "sx1301"] = "sx1302"
    #: Add ``jver`` to the sx1301 set (the sx1302 set always has it).
    jver: bool = False
    rx_time: bool = True
    tx_ack_error_none: bool = False
    max_datagram_bytes: Annotated[int, Field(ge=MIN_DATAGRAM_BYTES, le=MAX_DATAGRAM_BYTES)] = 4096
    downlink_window_s: Annotated[float, Field(ge=0.1, le=60)] = 6.5
    #: The on-disk queue; None keeps it in memory (survives outages, not restarts). The daemon sets
    #: ``<lora.store_dir>/udp-<name>.sqlite`` unless given.
    store_path: PathSetting | None = None
    #: Uplinks kept while the server does not acknowledge; at the cap drop the oldest or the newest.
    store_max: Annotated[int, Field(ge=1, le=10_000_000)] = 100_000
    store_policy: Literal["drop-oldest", "drop-newest"] = "drop-oldest"

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data: Any) -> Any:
        return renamed(data, "push_timeout_ms", "push_timeout_s", lambda ms: ms / 1000, where="lora.udp")
