"""MQTT settings: the broker connection (shared by the LoRa link ``[lora.mqtt]`` and the telemetry ``[mqtt]``),
and the LoRa link's own topics, pacing and store of unacknowledged uplinks."""

from __future__ import annotations

import ssl
from typing import Annotated, Literal

from pydantic import Field, SecretStr, model_validator

from wisgate.errors import ConfigError
from wisgate.settings import Host, PathSetting, Settings

Encoding = Literal["protobuf", "json"]


class BrokerSettings(Settings):
    """Where the broker is and how to log in: TLS, credentials, keep-alive and reconnect back-off."""

    host: Host = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    username: Annotated[str, Field(min_length=1)] | None = None
    #: Kept out of logs and reprs.
    password: SecretStr | None = None
    #: Use TLS; implied by ``ca_file`` or ``cert_file``. Without ``ca_file``, the system CAs.
    tls: bool = False
    ca_file: PathSetting | None = None
    cert_file: PathSetting | None = None
    key_file: PathSetting | None = None
    client_id: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 30
    #: Connect, subscribe and PUBACK deadline.
    timeout_s: Annotated[float, Field(ge=0.05, le=300)] = 10.0
    reconnect_min_s: Annotated[float, Field(ge=0.01, le=3600)] = 1.0
    reconnect_max_s: Annotated[float, Field(ge=0.01, le=3600)] = 60.0

    @model_validator(mode="after")
    def _consistent(self) -> BrokerSettings:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file given without cert_file")
        if self.password is not None and self.username is None:
            raise ValueError("password given without username")
        return self

    @property
    def uses_tls(self) -> bool:
        return self.tls or self.ca_file is not None or self.cert_file is not None

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.uses_tls:
            return None
        try:
            context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            if self.cert_file is not None:
                context.load_cert_chain(str(self.cert_file), str(self.key_file) if self.key_file else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"mqtt TLS files ({self.ca_file}, {self.cert_file}, {self.key_file}): {exc}") from exc
        return context


class MqttSettings(BrokerSettings):
    topic_prefix: Annotated[str, Field(max_length=200, pattern=r"^[^#+\x00]*$")] = ""
    encoding: Encoding = "protobuf"
    stats_interval_s: Annotated[float, Field(ge=0.1, le=86_400)] = 30.0
    #: Uplinks in flight at once (unacknowledged QoS 1 publishes).
    window: Annotated[int, Field(ge=1, le=10_000)] = 100
    #: Uplinks per second while replaying a backlog; 0: as fast as the broker acknowledges.
    replay_rate: Annotated[float, Field(ge=0, le=100_000)] = 0.0
    #: Uplinks kept on disk while the broker does not acknowledge; at the cap drop the oldest or the newest.
    store_max: Annotated[int, Field(ge=1, le=10_000_000)] = 100_000
    store_policy: Literal["drop-oldest", "drop-newest"] = "drop-oldest"
