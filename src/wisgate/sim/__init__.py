"""The simulated RAK7391: chip models behind a simulated I2C bus, physics, faults, radio."""
