"""``[lora.station]`` settings, apart from the Station link so that the config schema does not import
``websockets`` (and the LNS codec) when no Station is configured."""

from __future__ import annotations

import ssl
from typing import Annotated, Literal

from pydantic import Field, SecretStr, model_validator

from wisgate.errors import ConfigError
from wisgate.settings import PathSetting, Settings


class StationSettings(Settings):
    """``[lora.station]``: the LNS this gateway connects to as a LoRa Basics Station."""

    enabled: bool = False
    #: Station's ``tc.uri``: ``wss://host:port`` (or ``ws://`` on a trusted network); ``/router-info`` is appended.
    uri: Annotated[str, Field(pattern=r"^wss?://[^\s/]+(/[^\s]*)?$")] = "wss://127.0.0.1:8887"
    ca_file: PathSetting | None = None
    cert_file: PathSetting | None = None
    key_file: PathSetting | None = None
    #: Sent as the ``Authorization`` header (token mode); kept out of logs.
    token: SecretStr | None = None
    reconnect_min_s: Annotated[float, Field(ge=0.01, le=3600)] = 1.0
    reconnect_max_s: Annotated[float, Field(ge=0.01, le=3600)] = 60.0
    timesync_interval_s: Annotated[float, Field(ge=0.1, le=3600)] = 30.0
    #: Uplinks sent before a ping confirms them (and deletes them from the store).
    window: Annotated[int, Field(ge=1, le=100_000)] = 256
    #: Used when router_config gives no max_eirp.
    tx_power_dbm: Annotated[float, Field(ge=-10, le=36)] = 14.0
    store_max: Annotated[int, Field(ge=1, le=10_000_000)] = 100_000
    store_policy: Literal["drop-oldest", "drop-newest"] = "drop-oldest"

    @model_validator(mode="after")
    def _consistent(self) -> StationSettings:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file given without cert_file")
        if (self.ca_file or self.cert_file) and not self.uri.startswith("wss://"):
            raise ValueError("TLS files given for a ws:// uri; use wss://")
        return self

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.uri.startswith("wss://"):
            return None
        try:
            context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            if self.cert_file is not None:
                context.load_cert_chain(str(self.cert_file), str(self.key_file) if self.key_file else None)
        except (OSError, ssl.SSLError) as exc:
            files = f"{self.ca_file}, {self.cert_file}, {self.key_file}"
            raise ConfigError(f"lora.station TLS files ({files}): {exc}") from exc
        return context
