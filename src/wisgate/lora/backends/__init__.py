"""Concentrator backends: how the core talks to a concentrator module (ChirpStack Concentratord over ZeroMQ)."""
