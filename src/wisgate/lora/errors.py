"""Errors of the LoRaWAN gateway core."""

from __future__ import annotations

from wisgate.errors import ConfigError, WisgateError


class LoraError(WisgateError):
    """Root of the LoRaWAN core's own errors."""


class ParseError(LoraError, ValueError):
    """A frame is truncated or invalid; the message says which field and why."""


class PlanError(ConfigError):
    """A channel plan cannot be placed on the installed modules; the message names the channel."""


class BackendError(LoraError):
    """A concentrator module's backend did not answer, or answered something unexpected."""
