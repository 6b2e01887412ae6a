import configparser
import logging


def setup_logging(path="settings.ini"):
    parser = configparser.ConfigParser()
    parser.read(path)
    fmt = parser.get("logging", "format", fallback="%(message)s")
    logger = logging.getLogger("app")
    logger.setLevel(logging.INFO)
    return logger, fmt
