"""ChirpStack Concentratord: the client of one daemon (``client``) and its protobufs as our types (``wire``).

As in Concentratord itself, the translation lives at the edge: the gateway core sees only
:mod:`wisgate.lora.core.types`. The ChirpStack MQTT backhaul and the simulated daemon speak the same
``gw`` protobufs and use :mod:`.wire` too. Nothing is imported here: the simulated daemon's process needs
the wire format and not the client's asyncio (6.7 MB in a process that has no event loop).
"""
