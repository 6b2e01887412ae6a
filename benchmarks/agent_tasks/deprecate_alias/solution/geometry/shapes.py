import math
import warnings


def circle_area(r):
    return math.pi * r * r


def area_circle(r):
    warnings.warn("area_circle is deprecated; use circle_area", DeprecationWarning, stacklevel=2)
    return circle_area(r)


def area_square(side):
    return side * side
