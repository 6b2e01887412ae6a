import warnings

import geometry
import pytest
from geometry import shapes
from geometry.report import describe


def test_new_name():
    assert shapes.circle_area(1) == pytest.approx(3.14159, rel=1e-4)
    assert describe("circle", 1) == "circle of area 3.14"


def test_old_name_warns():
    with pytest.warns(DeprecationWarning):
        assert shapes.area_circle(2) == pytest.approx(12.566, rel=1e-3)


def test_callers_use_the_new_name():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        describe("circle", 1)
    assert "area_circle" not in open("geometry/report.py").read()
    assert hasattr(geometry, "circle_area")
