"""The daemon's interfaces over the network: HTTP API (FastAPI) and Prometheus metrics (docs/api.md)."""
