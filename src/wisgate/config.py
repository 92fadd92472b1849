"""The daemon's configuration: one TOML file, validated once at the edge.

Every section is optional; defaults run the simulated board where there is no ``/dev/i2c-1``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from wisgate.board.rak7391 import ONBOARD_ADDRESSES
from wisgate.errors import ConfigError
from wisgate.tomlfile import read_toml, validation_error

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BoardSection(Section):
    #: ``auto`` (hardware if /dev/i2c-1 exists, else simulated), ``sim`` or a ``/dev/i2c-N`` path.
    bus: str = "auto"
    #: Onboard devices moved by resistor options, e.g. ``adc = 0x48``.
    addresses: dict[str, Annotated[int, Field(ge=0x03, le=0x77)]] = {}

    @field_validator("bus")
    @classmethod
    def _bus(cls, value: str) -> str:
        from wisgate.bus.open import bus_spec

        if value == "auto":
            return value
        try:
            return bus_spec(value)
        except ValueError:
            raise ValueError(f"must be 'auto', 'sim' or a /dev/i2c-N path, not {value!r}") from None

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(ONBOARD_ADDRESSES))
        if unknown:
            raise ValueError(f"unknown onboard device(s) {unknown}; known: {sorted(ONBOARD_ADDRESSES)}")
        return value


class MonitorSection(Section):
    #: Seconds between two readings of every sensor.
    interval_s: Annotated[float, Field(gt=0.05, le=3600)] = 5.0


class DisplaySection(Section):
    enabled: bool = True
    #: Seconds between two screen updates.
    interval_s: Annotated[float, Field(gt=0.05, le=3600)] = 1.0
    #: On the simulated board, save what the OLED shows to this PNG after each update.
    png: Path | None = None


class LoraModuleSection(Section):
    """One concentrator module served by its own ChirpStack Concentratord."""

    board: Annotated[int, Field(ge=0, le=3)]
    chip: Literal["sx1301", "sx1302", "sx1303", "sx1280"] = "sx1302"
    event_url: str
    command_url: str
    #: Whether this module may transmit (its TX range is the region's band).
    tx: bool = True


class LoraSimSection(Section):
    """The simulated site used on the simulated board."""

    sub_ghz_modules: Annotated[int, Field(ge=0, le=4)] = 2
    sx1280_module: bool = True
    devices: Annotated[int, Field(ge=0, le=10_000)] = 50
    mean_interval_s: Annotated[float, Field(gt=0)] = 60.0
    radius_m: Annotated[float, Field(gt=0)] = 3000.0
    seed: int = 7


class LoraFilterSection(Section):
    forward_crc_bad: bool = False
    lorawan_only: bool = True
    #: e.g. ["26000000/7"]
    dev_addr_prefixes: list[str] = []
    net_ids: list[Annotated[int, Field(ge=0, le=0xFFFFFF)]] = []
    #: inclusive JoinEUI ranges as hex strings, e.g. [["70b3d57ed0000000", "70b3d57ed0ffffff"]]
    join_eui_ranges: list[tuple[str, str]] = []


class UdpServerSection(Section):
    """A network server speaking Semtech UDP (GWMP), e.g. The Things Stack or ChirpStack's bridge."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")]
    host: str
    port_up: Annotated[int, Field(ge=1, le=65535)] = 1700
    port_down: Annotated[int, Field(ge=1, le=65535)] = 1700
    keepalive_s: Annotated[float, Field(gt=0, le=300)] = 10.0
    push_timeout_ms: Annotated[int, Field(ge=10, le=10_000)] = 100
    #: Send uplinks only; refuse downlinks from this server.
    uplink_only: bool = False
    #: Add the multi-module extensions (brd, ant, rsig) to rxpk: only for servers that accept them.
    extensions: bool = False
    #: Uplinks kept on disk while the server does not acknowledge; at the cap drop the oldest or the newest.
    store_max: Annotated[int, Field(ge=0, le=10_000_000)] = 100_000
    store_policy: Literal["drop-oldest", "drop-newest"] = "drop-oldest"
    #: What this server gets, on top of the gateway-wide [lora.filters].
    filters: LoraFilterSection | None = None


class MqttSection(Section):
    """ChirpStack's MQTT gateway protocol toward a broker (ChirpStack v4 reads these topics)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    topic_prefix: str = ""
    encoding: Literal["protobuf", "json"] = "protobuf"
    username: str | None = None
    #: Kept out of logs and reprs.
    password: SecretStr | None = None
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    store_max: Annotated[int, Field(ge=0, le=10_000_000)] = 100_000
    store_policy: Literal["drop-oldest", "drop-newest"] = "drop-oldest"


class LoraSection(Section):
    enabled: bool = True
    #: Sub-GHz channel plan: EU868, EU868-16, US915-FSB1+2, AU915, AS923, IN865, KR920.
    region: str = "EU868-16"
    #: The one gateway ID the network sees (16 hex digits).
    gateway_id: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{16}$")] = "0016c001ff1a7391"
    #: Where decoded uplinks are published for ``wisgate lora traffic`` (loopback by default).
    traffic_url: str = "tcp://127.0.0.1:5591"
    stats_interval_s: Annotated[float, Field(gt=0)] = 60.0
    #: Real modules (hardware); when empty on the simulated board, a simulated site is used.
    modules: list[LoraModuleSection] = []
    sim: LoraSimSection = LoraSimSection()
    filters: LoraFilterSection = LoraFilterSection()
    #: Semtech UDP network servers (several at once).
    udp: list[UdpServerSection] = []
    mqtt: MqttSection = MqttSection()
    #: Where the store-and-forward queues live (one SQLite file per server).
    store_dir: Path = Path.home() / ".local/share/wisgate/store"

    @field_validator("udp")
    @classmethod
    def _unique_names(cls, value: list[UdpServerSection]) -> list[UdpServerSection]:
        names = [server.name for server in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"server names must be unique; repeated: {duplicates}")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        from wisgate.lora.plans.regions import plan_named

        plan_named(value)  # raises PlanError (a ValueError) naming the known plans
        return value


class FanSection(Section):
    enabled: bool = True
    interval_s: Annotated[float, Field(gt=0.1, le=3.5)] = 2.0
    #: (CPU °C, duty %) points, rising temperatures; interpolated between them.
    curve: list[tuple[float, Annotated[float, Field(ge=0, le=100)]]] = [(45, 0), (50, 30), (60, 60), (70, 100)]

    @field_validator("curve")
    @classmethod
    def _curve(cls, value: list[tuple[float, float]]) -> list[tuple[float, float]]:
        from wisgate.services.fan import FanCurve

        FanCurve(value)  # raises ValueError saying what is wrong
        return value


class RtcSection(Section):
    enabled: bool = True
    #: Seconds without a re-arm before the RTC resets the board (needs J39 9-10); 0 = no watchdog.
    watchdog_s: Annotated[float, Field(ge=0, le=255 * 60)] = 0


class PowerSection(Section):
    """The power-fail line (GPIO16): debounce, halt before the ultracapacitors run out, alarm."""

    enabled: bool = True
    #: An edge counts once the level has held this long (shorter micro-cuts are ignored).
    debounce_ms: Annotated[float, Field(ge=0, le=5000)] = 20
    #: Run the shutdown command if the supply stays lost this long; 0 = never.
    shutdown_after_s: Annotated[float, Field(ge=0, le=3600)] = 8
    #: An argument list (never run through a shell); not run on the simulated board.
    shutdown_command: list[str] = ["systemctl", "poweroff"]
    #: The buzzer sounds an alarm on a loss (needs [buzzer] enabled and jumper J39 11-12).
    beep_on_loss: bool = True
    #: Optional supply measurement: no public source shows a divider on the board, so off by default.
    adc_channel: Annotated[int, Field(ge=0, le=3)] | None = None
    #: Input volts per volt at the ADC pin (e.g. 11 for a 100k/10k divider).
    divider_ratio: Annotated[float, Field(gt=0, le=1000)] = 1.0
    #: Write the running outage here twice a second: after the board died on its ultracapacitors the
    #: next start reports how long it lasted (the hold-up time). Off by default.
    outage_record: Path | None = None

    @field_validator("shutdown_command", mode="before")
    @classmethod
    def _argument_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError('must be a list of arguments, e.g. ["systemctl", "poweroff"] (no shell strings)')
        if isinstance(value, list) and (not value or not all(isinstance(a, str) and a for a in value)):
            raise ValueError("must be a non-empty list of non-empty arguments")
        return value


class BuzzerSection(Section):
    """The passive buzzer on GPIO13 (sounds only with jumper J39 11-12 fitted)."""

    enabled: bool = True
    line: str = "GPIO13"
    #: Base tone of the patterns (RAK's buzzer test plays 440 Hz); the alarm alternates 2x and 1x.
    frequency_hz: Annotated[float, Field(ge=20, le=20_000)] = 440.0
    #: One short beep when the daemon starts.
    startup_beep: bool = False


class ApiSection(Section):
    """The HTTP API and Prometheus metrics of ``wisgate run`` (docs/api.md)."""

    enabled: bool = True
    #: Loopback unless you say otherwise: the API can drive the fan and the screen.
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8391
    #: Bearer token for the state-changing endpoints (WISGATE_API_TOKEN overrides it); none: they are off.
    token: SecretStr | None = None
    #: How long a POSTed fan duty or OLED text holds before the services take over again.
    override_s: Annotated[float, Field(gt=0, le=86_400)] = 60.0


class SimSection(Section):
    """A scenario for the simulated board, so the daemon's reactions can be watched on a laptop."""

    #: CM4 load 0..1 (heat for the fan service).
    cpu_load: Annotated[float, Field(ge=0, le=1)] = 0.2
    ambient_c: Annotated[float, Field(ge=-40, le=85)] = 25.0
    #: Supply cuts as [start_s, duration_s] after start-up (the power service sees GPIO16 fall).
    supply_cuts: list[tuple[Annotated[float, Field(ge=0)], Annotated[float, Field(gt=0)]]] = []
    #: Volts at the ADC inputs, e.g. { 1 = 1.8 } (WisBlock slot 1's analog line).
    analog: dict[Annotated[int, Field(ge=0, le=3)], Annotated[float, Field(ge=-6.2, le=6.2)]] = {}


class HistorySection(Section):
    """Readings (downsampled) and events in one SQLite file that survives restarts."""

    enabled: bool = True
    #: default: $WISGATE_STATE_DIR/history.sqlite, /var/lib/wisgate for root, else ~/.local/state/wisgate
    path: Path | None = None


class Config(Section):
    board: BoardSection = BoardSection()
    monitor: MonitorSection = MonitorSection()
    display: DisplaySection = DisplaySection()
    lora: LoraSection = LoraSection()
    rtc: RtcSection = RtcSection()
    fan: FanSection = FanSection()
    sim: SimSection = SimSection()
    power: PowerSection = PowerSection()
    buzzer: BuzzerSection = BuzzerSection()
    api: ApiSection = ApiSection()
    history: HistorySection = HistorySection()
    log_level: LogLevel = "INFO"

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_any_case(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


def parse_config(data: dict[str, Any], *, source: str = "config") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, Config, source) from None
    except RecursionError:  # data nested deeper than any schema (tomllib's own limit is higher)
        raise ConfigError(f"{source}: values nested too deeply") from None


def load_config(path: Path | None) -> Config:
    """The configuration in ``path``, or the defaults when ``path`` is None."""
    if path is None:
        return Config()
    return parse_config(read_toml(path), source=str(path))
