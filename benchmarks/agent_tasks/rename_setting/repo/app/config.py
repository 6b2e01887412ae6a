"""Settings of the client."""

TIMEOUT = 30
RETRIES = 3
