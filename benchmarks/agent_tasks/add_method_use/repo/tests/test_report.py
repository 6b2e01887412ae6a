from inventory.report import report
from inventory.stock import Stock


def test_report():
    s = Stock()
    s.add("bolt", 10, 0.5)
    assert report(s) == "1 items worth 5.00"
