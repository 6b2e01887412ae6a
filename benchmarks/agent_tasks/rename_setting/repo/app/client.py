from app import config


def describe() -> str:
    return f"timeout={config.TIMEOUT}s retries={config.RETRIES}"
