import configparser
from pathlib import Path

DEFAULTS = Path(__file__).with_name("defaults.ini")


def load_config():
    parser = configparser.ConfigParser()
    parser.read(DEFAULTS)
    return {"host": parser["server"]["host"], "port": parser.getint("server", "port")}
