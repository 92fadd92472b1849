"""The daemon's configuration: one TOML file, validated once at the edge.

Every section is optional; defaults run the simulated board where there is no ``/dev/i2c-1``.
Sections are composed of the services' own settings schemas (:mod:`wisgate.settings`): each setting
is defined once, and the daemon passes the validated objects through, so the defaults here are the
ones that run (docs/configuration.md lists them; a test keeps the two equal).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, Strict, ValidationError, field_validator, model_validator

from wisgate.api.mqtt.settings import TelemetrySettings
from wisgate.board.rak7391 import ONBOARD_ADDRESSES
from wisgate.errors import ConfigError
from wisgate.industrial.config import IndustrialSection
from wisgate.lora.backhaul.mqtt_settings import MqttSettings
from wisgate.lora.backhaul.station_settings import StationSettings
from wisgate.lora.backhaul.udp_settings import UdpServerConfig
from wisgate.lora.core.filters import FilterSettings
from wisgate.services.settings import (
    DEFAULT_CRITICAL_C,
    DEFAULT_CURVE,
    DEFAULT_MIN_DUTY_PERCENT,
    DEFAULT_TARGET_C,
    CurvePoints,
    PowerSettings,
)
from wisgate.settings import Endpoint, Host, PathSetting, Settings, renamed
from wisgate.tomlfile import read_toml, validation_error

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

#: Anything read or refreshed faster than this floods the bus or the log for no benefit.
MIN_INTERVAL_S = 0.1


class Section(Settings):
    pass


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
    interval_s: Annotated[float, Field(ge=MIN_INTERVAL_S, le=3600)] = 5.0


class DisplaySection(Section):
    enabled: bool = True
    #: Seconds between two screen updates.
    interval_s: Annotated[float, Field(ge=MIN_INTERVAL_S, le=3600)] = 1.0
    #: On the simulated board, save what the OLED shows to this PNG after each update.
    png: PathSetting | None = None
    #: Seconds each page shows before the next.
    page_s: Annotated[float, Field(ge=1, le=3600)] = 5.0
    #: The panel sleeps after this long without an event (OLEDs burn in); an event wakes it. 0 = never.
    blank_after_s: Annotated[float, Field(ge=0, le=86_400)] = 0.0


class LoraModuleSection(Section):
    """One concentrator module served by its own ChirpStack Concentratord."""

    board: Annotated[int, Field(ge=0, le=3)]
    chip: Literal["sx1301", "sx1302", "sx1303", "sx1280"] = "sx1302"
    event_url: Endpoint
    command_url: Endpoint
    #: Whether this module may transmit (its TX range is the region's band).
    tx: bool = True
    #: The mPCIe slot the module sits in, so ``wisgate apps`` keeps apps off it. Default: board 0 in mPCIe #1,
    #: board 1 in mPCIe #2, other boards (USB modules) in none.
    slot: Literal["mpcie1", "mpcie2"] | None = None


class LoraSimSection(Section):
    """The simulated site used on the simulated board."""

    sub_ghz_modules: Annotated[int, Field(ge=0, le=4)] = 2
    sx1280_module: bool = True
    devices: Annotated[int, Field(ge=0, le=10_000)] = 50
    #: Mean seconds between two uplinks of one device.
    mean_interval_s: Annotated[float, Field(ge=1, le=86_400)] = 60.0
    #: Devices are placed within this distance of the gateway.
    radius_m: Annotated[float, Field(gt=0, le=100_000)] = 3000.0
    seed: int = 7


class MqttSection(MqttSettings):
    """ChirpStack's MQTT gateway protocol toward a broker (ChirpStack v4 reads these topics)."""

    enabled: bool = False


class LoraSection(Section):
    enabled: bool = True
    #: Sub-GHz channel plan: EU868, EU868-16, US915-FSB1+2, AU915, AS923, IN865, KR920.
    region: str = "EU868-16"
    #: The one gateway ID the network sees (16 hex digits).
    gateway_id: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{16}$")] = "0016c001ff1a7391"
    #: Where decoded uplinks are published for ``wisgate lora traffic`` (loopback by default).
    traffic_url: Endpoint = "tcp://127.0.0.1:5591"
    #: Seconds between two statistics lines in the log.
    stats_interval_s: Annotated[float, Field(ge=1, le=86_400)] = 60.0
    #: Real modules (hardware); when empty on the simulated board, a simulated site is used.
    modules: list[LoraModuleSection] = []
    sim: LoraSimSection = LoraSimSection()
    filters: FilterSettings = FilterSettings()
    #: Semtech UDP network servers (several at once).
    udp: list[UdpServerConfig] = []
    mqtt: MqttSection = MqttSection()
    #: LoRa Basics Station toward an LNS (The Things Stack, AWS IoT Core for LoRaWAN, ChirpStack).
    station: StationSettings = StationSettings()
    #: Where the store-and-forward queues live (one SQLite file per server).
    store_dir: PathSetting = Path.home() / ".local/share/wisgate/store"

    @field_validator("udp")
    @classmethod
    def _unique_names(cls, value: list[UdpServerConfig]) -> list[UdpServerConfig]:
        names = [server.name for server in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"server names must be unique; repeated: {duplicates}")
        return value

    @field_validator("modules")
    @classmethod
    def _unique_boards(cls, value: list[LoraModuleSection]) -> list[LoraModuleSection]:
        boards = [module.board for module in value]
        duplicates = sorted({b for b in boards if boards.count(b) > 1})
        if duplicates:
            raise ValueError(f"one module per board; repeated: {duplicates}")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        from wisgate.lora.plans.regions import plan_named

        plan_named(value)  # raises PlanError (a ValueError) naming the known plans
        return value


class FanSection(Section):
    enabled: bool = True
    #: Under the EMC2301's 4 s watchdog, which would otherwise drive the fan at 100 %.
    interval_s: Annotated[float, Field(ge=MIN_INTERVAL_S, le=3.5)] = 2.0
    #: "closed-loop" holds the CPU near target_c with as little airflow as that needs; "curve" follows curve.
    mode: Literal["closed-loop", "curve"] = "closed-loop"
    #: The CPU temperature the closed loop holds.
    target_c: Annotated[float, Field(ge=30, le=80)] = DEFAULT_TARGET_C
    #: At or above this the fan runs at full speed, in either mode.
    critical_c: Annotated[float, Field(ge=40, le=90)] = DEFAULT_CRITICAL_C
    #: The lowest duty at which your fan keeps turning once started (the EMC2301 spins it up itself).
    min_duty_percent: Annotated[float, Field(gt=0, le=100)] = DEFAULT_MIN_DUTY_PERCENT
    #: (CPU °C, duty %) points, rising temperatures; interpolated between them (mode = "curve").
    curve: CurvePoints = list(DEFAULT_CURVE)

    @model_validator(mode="after")
    def _critical_above_target(self) -> FanSection:
        if self.critical_c <= self.target_c:
            raise ValueError(f"critical_c ({self.critical_c:g}) must be above target_c ({self.target_c:g})")
        return self


class RtcSection(Section):
    enabled: bool = True
    #: Seconds without a re-arm before the RTC resets the board (needs J39 9-10); 0 = no watchdog.
    watchdog_s: Annotated[float, Field(ge=0, le=255 * 60)] = 0


class PowerSection(PowerSettings):
    enabled: bool = True

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data: Any) -> Any:
        return renamed(data, "debounce_ms", "debounce_s", lambda ms: ms / 1000, where="power")


class EnvironmentSection(Section):
    """Limits on the board's climate: an event when a value reaches its limit, another when it is back."""

    enabled: bool = True
    pcb_high_c: Annotated[float, Field(ge=0, le=125)] = 70.0
    humidity_high_rh: Annotated[float, Field(ge=0, le=100)] = 85.0
    cpu_high_c: Annotated[float, Field(ge=0, le=125)] = 80.0
    #: back below the limit by this much before the alarm clears
    hysteresis: Annotated[float, Field(ge=0, le=20)] = 2.0


class LedsSection(Section):
    """The LEDs on expander 0x27 pins 6 and 7 (active low): what each one shows."""

    enabled: bool = True
    #: heartbeat, alarm, lora (a flash per uplink) or off; pin 6 first
    roles: Annotated[list[Literal["heartbeat", "alarm", "lora", "off"]], Field(min_length=1, max_length=2)] = [
        "heartbeat", "alarm"]


class BuzzerSection(Section):
    """The passive buzzer on GPIO13 (sounds only with jumper J39 11-12 fitted)."""

    enabled: bool = True
    line: Annotated[str, Field(min_length=1, max_length=64)] = "GPIO13"
    #: Base tone of the patterns (RAK's buzzer test plays 440 Hz); the alarm alternates 2x and 1x.
    frequency_hz: Annotated[float, Field(ge=20, le=20_000)] = 440.0
    #: One short beep when the daemon starts.
    startup_beep: bool = False


class ApiSection(Section):
    """The HTTP API and Prometheus metrics of ``wisgate run`` (docs/api.md)."""

    enabled: bool = True
    #: Loopback unless you say otherwise: the API can drive the fan and the screen.
    host: Host = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8391
    #: Bearer token for the state-changing endpoints (WISGATE_API_TOKEN overrides it); none: they are off.
    token: Annotated[SecretStr, Field(min_length=8)] | None = None
    #: How long a POSTed fan duty or OLED text holds before the services take over again.
    override_s: Annotated[float, Field(ge=1, le=86_400)] = 60.0
    #: HTTP connections open at once; more are answered 503 and closed. Never more than half the
    #: open-file limit (which the daemon raises to its hard limit at start where it may).
    max_connections: Annotated[int, Field(ge=1, le=32_768)] = 1000
    #: From its first byte (or the connect) a request must arrive whole within this, or the connection is
    #: closed: idle and trickling clients cannot hold connections.
    request_timeout_s: Annotated[float, Field(gt=0, le=300, allow_inf_nan=False)] = 10.0
    #: A /metrics body is shared by the scrapes within this of its rendering, so it shows the state at most
    #: this old (0: rendered for every scrape). Concurrent scrapers then cost one render, not one each.
    metrics_max_age_s: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] = 0.5


class TelemetrySection(TelemetrySettings):
    """Readings, states and events on an MQTT broker, with Home Assistant discovery (docs/mqtt.md)."""

    enabled: bool = False


class SimSection(Section):
    """A scenario for the simulated board, so the daemon's reactions can be watched on a laptop."""

    #: CM4 load 0..1 (heat for the fan service).
    cpu_load: Annotated[float, Field(ge=0, le=1)] = 0.2
    ambient_c: Annotated[float, Field(ge=-40, le=85)] = 25.0
    #: Supply cuts as [start_s, duration_s] after start-up (the power service sees GPIO16 fall).
    supply_cuts: list[Annotated[tuple[Annotated[float, Field(ge=0)], Annotated[float, Field(gt=0)]], Strict(False)]] = (
        []
    )
    #: Volts at the ADC inputs, e.g. { 1 = 1.8 } (WisBlock slot 1's analog line); TOML keys are strings.
    analog: dict[Annotated[int, Strict(False), Field(ge=0, le=3)], Annotated[float, Field(ge=-6.2, le=6.2)]] = {}


class HistorySection(Section):
    """Readings (downsampled) and events in one SQLite file that survives restarts."""

    enabled: bool = True
    #: default: $WISGATE_STATE_DIR/history.sqlite, /var/lib/wisgate for root, else ~/.local/state/wisgate
    path: PathSetting | None = None


class AppsSection(Section):
    """The app catalog and its installs (``wisgate apps``, docs/apps.md)."""

    #: Extra catalog folders (each a folder of app folders), read after the shipped catalog.
    catalogs: list[PathSetting] = []
    #: The board description (``wisgate check``'s TOML) hardware needs are resolved against.
    board: PathSetting | None = None
    #: Address apps publish their ports on unless an install says otherwise.
    listen: str = "127.0.0.1"

    @field_validator("listen")
    @classmethod
    def _address(cls, value: str) -> str:
        import ipaddress

        ipaddress.ip_address(value)  # a ValueError names the bad address
        return value


class Config(Section):
    board: BoardSection = BoardSection()
    monitor: MonitorSection = MonitorSection()
    environment: EnvironmentSection = EnvironmentSection()
    leds: LedsSection = LedsSection()
    display: DisplaySection = DisplaySection()
    lora: LoraSection = LoraSection()
    rtc: RtcSection = RtcSection()
    fan: FanSection = FanSection()
    sim: SimSection = SimSection()
    power: PowerSection = PowerSection()
    buzzer: BuzzerSection = BuzzerSection()
    api: ApiSection = ApiSection()
    mqtt: TelemetrySection = TelemetrySection()
    history: HistorySection = HistorySection()
    apps: AppsSection = AppsSection()
    industrial: IndustrialSection = IndustrialSection()
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
