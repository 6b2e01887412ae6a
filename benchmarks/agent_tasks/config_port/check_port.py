from service.config import load_config


def test_default_port(monkeypatch):
    monkeypatch.delenv("APP_PORT", raising=False)
    assert load_config()["port"] == 8080


def test_env_port(monkeypatch):
    monkeypatch.setenv("APP_PORT", "9123")
    assert load_config()["port"] == 9123


def test_readme():
    text = open("README.md").read()
    assert "8080" in text and "8000" not in text
