"""The ``telemetry`` service: the board on an MQTT broker, with Home Assistant discovery and controls.

On every connection (the first and each reconnect) it reads back the broker's retained discovery configs
of this board (behind an echo of its own, which arrives after them), then sends only the configs that are
missing or differ, so a broker that lost its retained messages (restarted without persistence) gets
everything back, and one that kept them gets nothing again. Configs of entities the board no longer has
are cleared once the services had time to report (``STALE_GRACE_S``). States are retained and sent when
their payload changes, all of them after each connect and every ``refresh_s``; events are sent as they
happen (queued while the broker is away). When Home Assistant announces ``online`` on its status topic,
configs and states are sent again after a random delay.

Commands (``<prefix>/<id>/set/<command>``) are checked (range, finite numbers, lengths) and applied as the
HTTP API applies them: as overrides in the board state or an event the buzzer service plays. A writable
industrial point or relay is a command named like its reading (``set/modbus_boiler_setpoint``): range-checked,
written, read back, and the read-back value published on the point's state topic at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from typing import TYPE_CHECKING

import aiomqtt

from wisgate.aio import TaskGroup, run_child
from wisgate.api.mqtt.commands import CommandError, command_text, parse_duty, parse_oled, parse_press
from wisgate.api.mqtt.discovery import discovery_configs
from wisgate.api.mqtt.payloads import encode, event_payload, reading_payload, state_payloads
from wisgate.api.mqtt.settings import TelemetrySettings
from wisgate.api.mqtt.topics import Identity, slug
from wisgate.clock import Clock
from wisgate.services.events import Event, EventKind, Subscription
from wisgate.services.state import BoardState, FanOverride, OledOverride
from wisgate.services.supervisor import Context, ServiceFn

if TYPE_CHECKING:  # the industrial modules are imported only where a board has industrial points
    from wisgate.industrial.controls import Control

log = logging.getLogger("wisgate.mqtt")

ONLINE, OFFLINE = b"online", b"offline"
#: how long the first connection waits for the secure element's serial (the board's id) to be read
SERIAL_WAIT_S = 15.0
#: retained configs of entities not seen this long after start are cleared
STALE_GRACE_S = 30.0
#: refused commands are logged at most this often per command
REFUSAL_LOG_S = 10.0


class Telemetry:
    def __init__(self, settings: TelemetrySettings, state: BoardState, clock: Clock, *, override_s: float,
                 gateway_id: str | None = None, rng: random.Random | None = None,
                 serial_wait_s: float = SERIAL_WAIT_S, stale_grace_s: float = STALE_GRACE_S) -> None:
        self.settings = settings
        self.state = state
        self.clock = clock
        self.override_s = override_s
        self.gateway_id = gateway_id
        self.rng = rng or random.Random()
        self.serial_wait_s = serial_wait_s
        self.stale_grace_s = stale_grace_s
        self.identity: Identity | None = None
        self.connected = asyncio.Event()
        #: what the broker holds from us now (topic → payload), so only changes are sent
        self._configs: dict[str, bytes] = {}
        self._states: dict[str, bytes] = {}
        self._orphans: set[str] = set()
        self._started = time.monotonic()
        self._refreshed = 0.0
        self._resend: asyncio.Task[None] | None = None
        self._sync_nonce = b""
        self._synced = asyncio.Event()
        self._retained: dict[str, bytes] = {}
        self._ssl = settings.ssl_context()  # bad TLS files fail here, not at each reconnect
        self._logged: set[str] = set()
        self._refusals_logged: dict[str, float] = {}
        self._writes: set[asyncio.Task[None]] = set()
        self.connects = 0
        #: commands refused and applied; discovery configs and state messages sent (clearings included)
        self.refused = 0
        self.applied = 0
        self.configs_sent = 0
        self.states_sent = 0

    # -- who we are ------------------------------------------------------------------------------

    async def resolve_identity(self) -> Identity:
        s = self.settings
        serial = await self._serial()
        device_id = s.device_id or (serial.lower() if serial else None)
        if device_id is None:
            device_id = (self.gateway_id or "rak7391").lower()
            log.warning("MQTT telemetry: the secure element's serial was not read; the board's id is %s", device_id)
        return Identity(device_id, s.topic_prefix, s.discovery_prefix, serial=serial, gateway_id=self.gateway_id,
                        configuration_url=s.configuration_url)

    async def _serial(self) -> str | None:
        deadline = time.monotonic() + self.serial_wait_s
        while True:
            reading = self.state.reading("secure_element.serial")
            if reading is not None and reading.ok and isinstance(reading.value, str):
                return reading.value
            failed = self.state.reading("secure_element.error")
            if failed is not None or time.monotonic() >= deadline:
                return None
            await asyncio.sleep(0.05)

    # -- running ---------------------------------------------------------------------------------

    async def run(self) -> None:
        events = self.state.events.subscribe(maxsize=1000)  # from now on: queued while the broker is away
        try:
            self.identity = await self.resolve_identity()
            log.info("MQTT telemetry to %s:%d as %s (discovery %s)", self.settings.host, self.settings.port,
                     self.identity.base, self.settings.discovery_prefix if self.settings.discovery else "off")
            # a child task: a cancellation aiomqtt swallows (asyncio.wait_for on 3.11) still stops it
            await run_child(self._connection_loop(self.identity, events), name="mqtt-telemetry-connection")
        finally:
            events.close()

    async def _connection_loop(self, identity: Identity, events: Subscription) -> None:
        s = self.settings
        delay = s.reconnect_min_s
        while True:
            connects = self.connects
            try:
                await self._session(identity, events)
            except* (aiomqtt.MqttError, OSError, TimeoutError) as group:
                self._problem(f"MQTT telemetry: broker {s.host}:{s.port}: {_first(group)}", key="broker")
            if self.connects > connects:  # a session worked: start the back-off again
                delay = s.reconnect_min_s
            await asyncio.sleep(delay * (0.5 + 0.5 * self.rng.random()))
            delay = min(delay * 2, s.reconnect_max_s)

    def _client(self, identity: Identity) -> aiomqtt.Client:
        s = self.settings
        return aiomqtt.Client(
            s.host, s.port, username=s.username, password=s.password.get_secret_value() if s.password else None,
            identifier=s.client_id, will=aiomqtt.Will(identity.availability, OFFLINE, qos=1, retain=True),
            tls_context=self._ssl, keepalive=s.keepalive_s, timeout=s.timeout_s, clean_session=True, logger=log,
        )

    async def _session(self, identity: Identity, events: Subscription) -> None:
        """One connection, until it fails (raising) or the service is cancelled."""
        client = self._client(identity)
        async with client, TaskGroup() as group:
            receiver = group.create_task(self._receive(client, identity), name="mqtt-telemetry-receive")
            try:
                await self._start(client, identity)
                self.connects += 1
                self._logged.discard("broker")
                self.connected.set()
                log.info("MQTT telemetry: broker %s:%d connected", self.settings.host, self.settings.port)
                group.create_task(self._events(client, identity, events), name="mqtt-telemetry-events")
                await self._updates(client, identity)
            except asyncio.CancelledError:
                with contextlib.suppress(aiomqtt.MqttError, OSError):
                    await client.publish(identity.availability, OFFLINE, qos=1, retain=True, timeout=1.0)
                raise
            finally:
                self.connected.clear()
                receiver.cancel()
                for write in list(self._writes):
                    write.cancel()
                if self._resend is not None:
                    self._resend.cancel()

    async def _start(self, client: aiomqtt.Client, identity: Identity) -> None:
        """Read back what the broker holds, announce us, send what is missing."""
        s = self.settings
        self._retained = {}
        self._synced.clear()
        self._sync_nonce = secrets.token_hex(8).encode()
        # with discovery off the configs are still read back: what an earlier run left is cleared
        patterns = [(identity.sync, 1), (identity.configs, 1)]
        await client.subscribe(patterns)
        await client.publish(identity.sync, self._sync_nonce, qos=1)
        async with asyncio.timeout(s.timeout_s):
            await self._synced.wait()
        await client.unsubscribe([topic for topic, _ in patterns])
        present = {t: p for t, p in self._retained.items() if p}
        self._configs = present
        # until the services have reported, an entity not seen yet may still come: clear it later
        self._orphans |= set(present)
        await client.publish(identity.availability, ONLINE, qos=1, retain=True)
        await client.subscribe([(identity.commands, 1), (s.ha_status_topic, 1)])
        self._states = {}
        await self._publish_changes(client, identity)

    async def _updates(self, client: aiomqtt.Client, identity: Identity) -> None:
        while True:
            await asyncio.sleep(self.settings.interval_s)
            if time.monotonic() - self._refreshed >= self.settings.refresh_s:
                self._states = {}
            await self._publish_changes(client, identity)

    async def _publish_changes(self, client: aiomqtt.Client, identity: Identity) -> None:
        if not self._states:
            self._refreshed = time.monotonic()
        wanted = discovery_configs(self.state, identity, events=self.settings.events) if self.settings.discovery else {}
        settled = time.monotonic() - self._started >= self.stale_grace_s
        gone = [t for t in self._configs if t not in wanted and (settled or t not in self._orphans)]
        if settled:
            self._orphans.clear()
        for topic in gone:
            await client.publish(topic, b"", qos=1, retain=True)
            del self._configs[topic]
            self.configs_sent += 1
        for topic, payload in wanted.items():
            if self._configs.get(topic) != payload:
                await client.publish(topic, payload, qos=1, retain=True)
                self._configs[topic] = payload
                self.configs_sent += 1
        for topic, payload in state_payloads(self.state, identity, self.clock.monotonic()).items():
            if self._states.get(topic) != payload:
                await client.publish(topic, payload, qos=1, retain=True)
                self._states[topic] = payload
                self.states_sent += 1

    async def _events(self, client: aiomqtt.Client, identity: Identity, events: Subscription) -> None:
        if not self.settings.events:
            return
        async for event in events:
            await client.publish(identity.event, event_payload(event), qos=1)

    async def _resend_all(self, client: aiomqtt.Client, identity: Identity) -> None:
        await asyncio.sleep(self.rng.uniform(0, self.settings.birth_delay_max_s))
        self._configs = {t: b"" for t in self._configs}  # every config differs: all are sent
        self._states = {}
        await self._publish_changes(client, identity)

    # -- incoming --------------------------------------------------------------------------------

    async def _receive(self, client: aiomqtt.Client, identity: Identity) -> None:
        status = self.settings.ha_status_topic
        prefix = identity.command("")
        async for message in client.messages:
            topic = str(message.topic)
            payload = bytes(message.payload) if isinstance(message.payload, bytes | bytearray) else b""
            if topic == identity.sync:
                if payload == self._sync_nonce:
                    self._synced.set()
            elif not self._synced.is_set():
                if message.retain:
                    self._retained[topic] = payload
            elif topic == status:
                if payload.strip() == ONLINE and (self._resend is None or self._resend.done()):
                    log.info("MQTT telemetry: Home Assistant is online; sending discovery and states again")
                    self._resend = asyncio.create_task(self._resend_all(client, identity))
            elif topic.startswith(prefix) and payload:  # empty: a retained command being cleared
                command = topic.removeprefix(prefix)
                control = self._control(command)
                if message.retain:  # a command left on the broker must not run again at every connect
                    self._refuse(command, "retained command ignored (publish commands without retain)")
                elif control is not None:
                    self._start_write(client, identity, command, control, payload)
                else:
                    self.apply(command, payload)

    def apply(self, command: str, payload: bytes) -> bool:
        """Apply one command; False (with one log line) when it was refused."""
        overrides = self.state.overrides
        now = self.clock.monotonic()
        try:
            if command == "fan_duty":
                duty = parse_duty(payload)
                overrides.fan = FanOverride(duty, now + self.override_s)
                self._publish(EventKind.OVERRIDE, f"fan duty {duty:g} % for {self.override_s:g} s",
                              duty_percent=duty, seconds=self.override_s)
            elif command == "fan_auto":
                parse_press(payload)
                overrides.fan = None
                self._publish(EventKind.OVERRIDE, "fan back to automatic")
            elif command == "oled":
                lines = parse_oled(payload)
                overrides.oled = OledOverride(lines, now + self.override_s) if lines else None
                self._publish(EventKind.OVERRIDE, f"OLED text set for {self.override_s:g} s" if lines
                              else "OLED given back to the display", seconds=self.override_s if lines else 0.0)
            elif command == "beep":
                parse_press(payload)
                self._publish(EventKind.BEEP, "beep")
            else:
                raise CommandError("unknown command")
        except CommandError as exc:
            self._refuse(command, str(exc))
            return False
        self.applied += 1
        return True

    def _control(self, command: str) -> Control | None:
        """The industrial control a command names (its reading's slug), if any."""
        industrial = self.state.industrial
        if industrial is None or not command.startswith(("modbus_", "wisblock_")):
            return None
        return next((c for c in industrial.controls.values() if slug(c.reading) == command), None)

    def _start_write(self, client: aiomqtt.Client, identity: Identity, command: str, control: Control,
                     payload: bytes) -> None:
        """Check the value now (a refusal is counted at once); the write itself waits for the device."""
        from wisgate.industrial.controls import WriteError, parse_command

        try:
            value = parse_command(control, command_text(payload))
        except (CommandError, WriteError) as exc:
            self._refuse(command, str(exc))
            return
        task = asyncio.create_task(self._write(client, identity, command, control, value), name=f"mqtt-{command}")
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, client: aiomqtt.Client, identity: Identity, command: str, control: Control,
                     value: float | str | bool) -> None:
        from wisgate.industrial.controls import WriteError, WriteFailed

        industrial = self.state.industrial
        if industrial is None:
            self._refuse(command, "the industrial service is not running")
            return
        try:
            reading = await industrial.set_value(control.reading, value)
        except (KeyError, WriteError, WriteFailed) as exc:
            self._refuse(command, str(exc.args[0]) if exc.args else type(exc).__name__)
            return
        self.applied += 1
        topic = identity.reading(reading.name)
        message = encode(reading_payload(reading, self.state.readings))
        with contextlib.suppress(aiomqtt.MqttError):  # the connection went: the next session sends every state
            await client.publish(topic, message, qos=1, retain=True)
            self._states[topic] = message
            self.states_sent += 1

    def _publish(self, kind: EventKind, message: str, **data: float | int | str | bool | None) -> None:
        self.state.events.publish(Event(kind, "mqtt", message, data=data))

    def _refuse(self, command: str, reason: str) -> None:
        """One log line per refusal, but at most one per command every REFUSAL_LOG_S (a flood stays a trickle)."""
        self.refused += 1
        now = time.monotonic()
        if now - self._refusals_logged.get(command, -REFUSAL_LOG_S) >= REFUSAL_LOG_S:
            self._refusals_logged[command] = now
            log.warning("MQTT command %r refused: %s", command, reason)

    def _problem(self, message: str, *, key: str) -> None:
        """Each kind of problem is logged once until it clears; the counters keep the totals."""
        if key not in self._logged:
            self._logged.add(key)
            log.warning("%s", message)




def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


def telemetry_service(settings: TelemetrySettings, *, override_s: float, gateway_id: str | None = None) -> ServiceFn:
    async def run(context: Context) -> None:
        await Telemetry(settings, context.state, context.target.clock, override_s=override_s,
                   gateway_id=gateway_id).run()

    return run
