import configparser
import logging


def setup_logging(path="settings.ini"):
    parser = configparser.ConfigParser()
    parser.read(path)
    fmt = parser.get("logging", "format", fallback="%(message)s")
    level = parser.get("logging", "level", fallback="INFO")
    logger = logging.getLogger("app")
    logger.setLevel(getattr(logging, level.upper()))
    return logger, fmt
