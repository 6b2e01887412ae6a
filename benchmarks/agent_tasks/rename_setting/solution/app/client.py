from app import config


def describe() -> str:
    return f"timeout={config.REQUEST_TIMEOUT}s retries={config.RETRIES}"
