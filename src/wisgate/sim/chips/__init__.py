"""Chip models: each knows its chip by registers and commands, never by our drivers."""
