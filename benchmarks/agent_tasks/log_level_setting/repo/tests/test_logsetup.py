from app.logsetup import setup_logging


def test_format():
    _, fmt = setup_logging()
    assert fmt == "%(levelname)s %(message)s"
