from .shapes import area_circle, area_square, circle_area

__all__ = ["area_circle", "area_square", "circle_area"]
