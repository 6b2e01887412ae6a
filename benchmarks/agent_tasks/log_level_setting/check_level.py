import logging

from app.logsetup import setup_logging


def test_level_from_settings():
    logger, _ = setup_logging()
    assert logger.level == logging.WARNING


def test_default_level(tmp_path):
    ini = tmp_path / "s.ini"
    ini.write_text("[logging]\nformat = x\n")
    logger, _ = setup_logging(str(ini))
    assert logger.level == logging.INFO


def test_other_level(tmp_path):
    ini = tmp_path / "s.ini"
    ini.write_text("[logging]\nlevel = DEBUG\n")
    logger, _ = setup_logging(str(ini))
    assert logger.level == logging.DEBUG
