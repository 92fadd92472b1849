"""One module per onboard chip. Drivers see only :class:`wisgate.bus.I2CBus` and a clock."""
