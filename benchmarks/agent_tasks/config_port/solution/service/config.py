import configparser
import os
from pathlib import Path

DEFAULTS = Path(__file__).with_name("defaults.ini")


def load_config():
    parser = configparser.ConfigParser()
    parser.read(DEFAULTS)
    port = int(os.environ.get("APP_PORT") or parser.getint("server", "port"))
    return {"host": parser["server"]["host"], "port": port}
