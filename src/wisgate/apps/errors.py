"""Errors of the app catalog and deployer; every message is one line naming the app, field or resource."""

from __future__ import annotations

from wisgate.errors import ConfigError, WisgateError


class AppError(WisgateError):
    """Something about apps went wrong; the message says what and, where it can, what to do."""


class CatalogError(AppError, ConfigError):
    """A catalog folder is unreadable or invalid, or an app is not in the catalog."""


class SettingError(AppError, ValueError):
    """A ``--set`` value is unknown or invalid for the app."""


class ConflictError(AppError):
    """A slot, device, port or name is already taken by wisgate, another app or another program."""


class HardwareError(AppError):
    """A hardware need cannot be met on this machine (device node missing, slot empty...)."""


class EngineError(AppError):
    """The Docker Engine is unreachable or refused an operation."""


class NotInstalledError(AppError):
    """No installed app has that name."""
