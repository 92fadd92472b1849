"""The gateway core: uplink types, filters, dedup, per-board timebase, JIT queues, TX scheduling,
duty cycle, stats, and the Gateway joining several modules into one.
"""
