"""Who the board is on the broker and where each thing is published."""

from __future__ import annotations

from dataclasses import dataclass

from wisgate.services.readings import slug as slug  # where the discovery and the commands take it from


@dataclass(frozen=True)
class Identity:
    #: stable: the secure element's serial, the gateway id or the configured device_id (lower case)
    device_id: str
    topic_prefix: str
    discovery_prefix: str
    serial: str | None = None
    gateway_id: str | None = None
    configuration_url: str | None = None

    @property
    def node(self) -> str:
        """The discovery node id and the prefix of every unique_id."""
        return f"wisgate_{self.device_id}"

    @property
    def base(self) -> str:
        return f"{self.topic_prefix}/{self.device_id}"

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    def reading(self, name: str) -> str:
        return f"{self.base}/reading/{slug(name)}"

    def state(self, kind: str) -> str:
        return f"{self.base}/state/{kind}"

    @property
    def event(self) -> str:
        return f"{self.base}/event"

    def command(self, name: str) -> str:
        return f"{self.base}/set/{name}"

    @property
    def commands(self) -> str:
        return f"{self.base}/set/+"

    @property
    def sync(self) -> str:
        """Our own echo topic: its message comes back after the broker's retained configs."""
        return f"{self.base}/sync"

    def config(self, component: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{self.node}/{object_id}/config"

    @property
    def configs(self) -> str:
        """Every discovery config of this board (a subscription pattern)."""
        return f"{self.discovery_prefix}/+/{self.node}/+/config"
