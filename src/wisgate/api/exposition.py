"""``/metrics`` in Prometheus text format 0.0.4, written without prometheus_client's per-sample checks.

``generate_latest`` validates and escapes every metric and label name of every sample (regular
expressions per line): for our ~100-line scrape that was half the CPU of a ``/metrics`` request, and
what kept 500 concurrent scrapers under the API's throughput goal. Our collectors only build gauges
and counters with names fixed in the code, so names are checked once per family and per label set
here, and only label values and help texts are escaped. The text is byte for byte what
``generate_latest`` writes (tests/test_api_exposition.py); any other metric type or name falls back
to it.

A ``ScrapeCache`` shares one rendered body among the scrapes that arrive within ``max_age_s`` of its
rendering: 500 concurrent scrapers made the render (about half a millisecond for a LoRa board's 270
lines) most of the event loop's work, while Prometheus itself scrapes every 15 s and never sees the
cache.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.utils import floatToGoString

#: prometheus_client's own number format (Go's), so the text stays identical; typed here
_number: Callable[[float], str] = floatToGoString

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_PLAIN_TYPES = frozenset({"gauge", "counter"})


#: the written ``{name="value",...}`` of each label set seen (None: a name only generate_latest may write);
#: the sets repeat scrape after scrape (devices, boards, reasons), so most scrapes only look them up
_label_texts: dict[tuple[tuple[str, str], ...], str | None] = {}
_LABEL_TEXTS_MAX = 4096


def render(registry: CollectorRegistry) -> bytes:
    out: list[str] = []
    for family in registry.collect():
        if family.type not in _PLAIN_TYPES or not _NAME.fullmatch(family.name):
            return generate_latest(registry)
        name = f"{family.name}_total" if family.type == "counter" else family.name
        out.append(f"# HELP {name} {_escape_help(family.documentation)}\n# TYPE {name} {family.type}\n")
        for sample in family.samples:
            if sample.name != name or sample.timestamp is not None or sample.exemplar is not None:
                return generate_latest(registry)  # _created samples, timestamps: the general writer
            if sample.labels:
                labels = _labels(tuple(sample.labels.items()))
                if labels is None:
                    return generate_latest(registry)
                out.append(f"{name}{labels} {_number(sample.value)}\n")
            else:
                out.append(f"{name} {_number(sample.value)}\n")
    return "".join(out).encode()


class ScrapeCache:
    """The exposition of ``registry``, rendered at most once per ``max_age_s`` (0: at every scrape).

    A body is served only while the state it was read from is at most ``max_age_s`` old: its age counts
    from before the collectors run. Rendering stays on the event loop, the thread that updates the
    state, so a body is one consistent snapshot (on another thread a service could replace its state
    halfway through a scrape); serialised there, concurrent scrapers wait for one render, not one each.
    """

    def __init__(self, registry: CollectorRegistry, max_age_s: float,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.registry = registry
        self.max_age_s = max_age_s
        self._now = now
        self._body = b""
        self._read_at = -float("inf")

    def body(self) -> bytes:
        now = self._now()
        if not 0 <= now - self._read_at < self.max_age_s:  # expired (or the clock stepped back)
            self._body = render(self.registry)
            self._read_at = now
        return self._body


def _labels(items: tuple[tuple[str, str], ...]) -> str | None:
    try:
        return _label_texts[items]
    except KeyError:
        pass
    text = None
    if all(_LABEL.fullmatch(key) for key, _ in items):
        text = "{" + ",".join(f'{key}="{_escape_label(value)}"' for key, value in sorted(items)) + "}"
    if len(_label_texts) >= _LABEL_TEXTS_MAX:
        _label_texts.clear()  # label sets that come and go must not grow it for ever
    _label_texts[items] = text
    return text


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _escape_label(value: str) -> str:
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value
