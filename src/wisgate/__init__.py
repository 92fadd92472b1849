"""wisgate: the RAK7391 WisGate Connect from Python, on real hardware or a simulated board."""

__version__ = "0.1.0"
