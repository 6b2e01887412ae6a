from .case import title_case

__all__ = ["title_case"]
