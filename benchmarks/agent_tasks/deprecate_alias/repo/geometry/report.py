from .shapes import area_circle, area_square


def describe(kind, size):
    if kind == "circle":
        return f"circle of area {area_circle(size):.2f}"
    return f"square of area {area_square(size):.2f}"
