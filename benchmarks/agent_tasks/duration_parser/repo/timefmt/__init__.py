from .duration import parse_duration
