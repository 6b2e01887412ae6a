import re
from pathlib import Path


def test_renamed_everywhere():
    from app import client, config

    assert config.REQUEST_TIMEOUT == 30
    assert not hasattr(config, "TIMEOUT")
    assert client.describe() == "timeout=30s retries=3"
    for name in ("app/config.py", "app/client.py", "README.md"):
        text = Path(name).read_text()
        assert not re.search(r"(?<![A-Z_])TIMEOUT", text), name
    assert "REQUEST_TIMEOUT" in Path("README.md").read_text()
