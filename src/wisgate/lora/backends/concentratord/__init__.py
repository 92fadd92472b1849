"""ChirpStack Concentratord: the client of one daemon (``client``) and its protobufs as our types (``wire``).

As in Concentratord itself, the translation lives at the edge: the gateway core sees only
:mod:`wisgate.lora.core.types`. The ChirpStack MQTT backhaul and the simulated daemon speak the same
``gw`` protobufs and use :mod:`.wire` too.
"""

from wisgate.lora.backends.concentratord.client import ConcentratordBackend, ConcentratordError

__all__ = ["ConcentratordBackend", "ConcentratordError"]
