from geometry.report import describe


def test_describe():
    assert describe("square", 2) == "square of area 4.00"
