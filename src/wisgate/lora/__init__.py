"""LoRaWAN gateway core: frames, airtime, channel plans, timebase, dedup and the TX scheduler.

Pure and socket-free; backends (ZeroMQ/Concentratord, simulated concentrators) build on it.
Reference: /work/shared/reference/lorawan-gateways.md.
"""
