"""MQTT telemetry with Home Assistant discovery (docs/mqtt.md): the board's readings, states and events on a
broker, and its controls as command topics."""
