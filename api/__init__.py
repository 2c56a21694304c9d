"""The REST API (/api/v1/) and its API keys: what HR systems, ticketing and
SIEM tools use to drive and follow campaigns."""
