"""Settings of the client."""

REQUEST_TIMEOUT = 30
RETRIES = 3
