from service.config import load_config


def test_host():
    assert load_config()["host"] == "127.0.0.1"
