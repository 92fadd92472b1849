"""The telemetry's settings (``[mqtt]``): the broker (shared with the LoRa MQTT link), topics and pacing."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from wisgate.lora.backhaul.mqtt_settings import BrokerSettings

#: MQTT topic levels we write ourselves: no wildcards, no empty levels, no NUL
TopicPrefix = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^#+/\x00]+(/[^#+/\x00]+)*$")]
#: Home Assistant's discovery ids take these characters only
DiscoveryId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class TelemetrySettings(BrokerSettings):
    #: Topics are ``<topic_prefix>/<device_id>/...``.
    topic_prefix: TopicPrefix = "wisgate"
    #: The board's id in topics and Home Assistant unique_ids. Default: the secure element's serial number
    #: (the gateway id when the secure element cannot be read).
    device_id: DiscoveryId | None = None
    #: Publish Home Assistant MQTT discovery configs.
    discovery: bool = True
    discovery_prefix: TopicPrefix = "homeassistant"
    #: Where Home Assistant announces itself (``online``); default ``<discovery_prefix>/status``.
    status_topic: TopicPrefix | None = None
    #: After Home Assistant comes online, configs and states are sent again after a random delay up to this,
    #: so a fleet of gateways does not answer all at once.
    birth_delay_max_s: Annotated[float, Field(ge=0, le=600)] = 5.0
    #: How often the board state is compared with what was published (only changes are sent).
    interval_s: Annotated[float, Field(ge=0.1, le=3600)] = 1.0
    #: Every state is sent again after this long even when unchanged.
    refresh_s: Annotated[float, Field(ge=1, le=86_400)] = 300.0
    #: Publish the event stream on ``<prefix>/<id>/event``.
    events: bool = True
    #: Shown by Home Assistant as the device's link, e.g. the dashboard's address as seen from Home Assistant.
    configuration_url: Annotated[str, Field(max_length=500, pattern=r"^https?://\S+$")] | None = None

    @property
    def ha_status_topic(self) -> str:
        return self.status_topic or f"{self.discovery_prefix}/status"
