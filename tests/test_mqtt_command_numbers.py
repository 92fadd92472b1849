"""Non-finite numbers on the MQTT command topic (``command/down``) are refused, naming the field.

``gw.DownlinkFrame`` has no float field, so its binary form cannot carry NaN or infinity; its JSON
form can spell them (``NaN``, ``Infinity``, ``1e999``, ``"NaNs"`` for a duration). Each such value in
each numeric place of a valid downlink must be a counted bad command whose message names the field,
and nothing may reach the radio.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from chirpstack_api import gw
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from wisgate.lora.backhaul.mqtt_forwarder import MqttForwarder, MqttSettings
from wisgate.lora.backhaul.store import UplinkStore
from wisgate.lora.core.stats import GatewayStats
from wisgate.lora.core.types import ReceivedUplink, TxOutcome, TxRequest, TxResult

GATEWAY_ID = "0016c001ff10a235"
SENTINEL = "__number__"


class RecordingGateway:
    gateway_id = GATEWAY_ID

    def __init__(self) -> None:
        self.stats = GatewayStats()
        self.requests: list[TxRequest] = []

    async def uplinks(self) -> AsyncIterator[ReceivedUplink]:
        await asyncio.Event().wait()
        yield  # type: ignore[misc]

    async def uplink_batches(self) -> AsyncIterator[list[ReceivedUplink]]:
        await asyncio.Event().wait()
        yield  # type: ignore[misc]

    async def send_downlink(self, request: TxRequest) -> TxResult:
        self.requests.append(request)
        return TxResult(TxOutcome.OK)


def valid_downlink() -> dict[str, Any]:
    frame = gw.DownlinkFrame(downlink_id=7, gateway_id=GATEWAY_ID)
    info = frame.items.add(phy_payload=b"\x60\x01\x02").tx_info
    info.frequency, info.power = 869_525_000, 14
    lora = info.modulation.lora
    lora.spreading_factor, lora.bandwidth, lora.code_rate, lora.preamble = 9, 125_000, gw.CR_4_5, 8
    info.context = (1_000_000).to_bytes(4, "big")
    info.timing.delay.delay.seconds = 1
    document = dict(json.loads(json_format.MessageToJson(frame)))
    document["items"][0]["txInfo"].update(board=0, antenna=0)  # proto3 JSON leaves zeros out
    return document


def numeric_places(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from numeric_places(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from numeric_places(item, (*path, index))
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield path


def with_value(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(document))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return dict(copy)


def cases() -> Iterator[tuple[str, str]]:
    document = valid_downlink()
    places = list(numeric_places(document))
    assert len(places) >= 8  # downlinkId, frequency, power, bandwidth, spreadingFactor, preamble...
    for path in places:
        text = json.dumps(with_value(document, path, SENTINEL))
        for literal in ("NaN", "Infinity", "-Infinity", "1e999"):
            yield str(path[-1]), text.replace(f'"{SENTINEL}"', literal)
    for literal in ("NaNs", "Infinitys", "1e999s"):
        path = ("items", 0, "txInfo", "timing", "delay", "delay")
        yield "delay", json.dumps(with_value(document, path, literal))


def test_the_binary_form_has_no_float_field() -> None:
    def floats(descriptor: Descriptor, seen: frozenset[str]) -> Iterator[str]:
        for field in descriptor.fields:
            if field.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
                yield field.full_name
            message = field.message_type
            if message is not None and message.full_name not in seen:
                yield from floats(message, seen | {message.full_name})

    assert list(floats(gw.DownlinkFrame.DESCRIPTOR, frozenset())) == []


@pytest.mark.parametrize(("field", "payload"), list(cases()))
def test_non_finite_numbers_in_a_json_downlink_are_refused_naming_the_field(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, field: str, payload: str,
) -> None:
    gateway = RecordingGateway()
    store = UplinkStore(tmp_path / "cmd.db", server="cmd")
    forwarder = MqttForwarder(gateway, MqttSettings(encoding="json"), store)  # type: ignore[arg-type]
    try:
        with caplog.at_level(logging.WARNING, logger="wisgate.lora.mqtt"):
            ack = asyncio.run(forwarder.handle_downlink(payload.encode()))
    finally:
        store.close()
    assert ack is None and gateway.requests == []
    assert dict(forwarder.stats.bad_commands) == {"decode": 1}
    assert len(caplog.records) == 1 and field in caplog.records[0].getMessage()


def test_the_valid_downlink_is_sent(tmp_path: Path) -> None:
    gateway = RecordingGateway()
    store = UplinkStore(tmp_path / "cmd.db", server="cmd")
    forwarder = MqttForwarder(gateway, MqttSettings(encoding="json"), store)  # type: ignore[arg-type]
    try:
        ack = asyncio.run(forwarder.handle_downlink(json.dumps(valid_downlink()).encode()))
    finally:
        store.close()
    assert ack is not None and [i.status for i in ack.items] == [gw.OK] and len(gateway.requests) == 1
