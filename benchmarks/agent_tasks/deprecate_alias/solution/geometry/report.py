from .shapes import area_square, circle_area


def describe(kind, size):
    if kind == "circle":
        return f"circle of area {circle_area(size):.2f}"
    return f"square of area {area_square(size):.2f}"
