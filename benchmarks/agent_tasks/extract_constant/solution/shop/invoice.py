from .constants import TAX_RATE


def invoice_lines(prices):
    lines = [f"item {p:.2f}" for p in prices]
    tax = sum(prices) * TAX_RATE
    lines.append(f"tax {tax:.2f}")
    return lines
