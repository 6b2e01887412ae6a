from inventory.report import report
from inventory.stock import Stock


def test_total_value():
    s = Stock()
    assert s.total_value() == 0
    s.add("bolt", 10, 0.5)
    s.add("nut", 4, 0.25)
    assert s.total_value() == 6.0
    assert report(s) == "2 items worth 6.00"


def test_report_uses_it():
    text = open("inventory/report.py").read()
    assert "total_value()" in text and "for " not in text
