from .case import title_case
from .slug import slugify

__all__ = ["slugify", "title_case"]
