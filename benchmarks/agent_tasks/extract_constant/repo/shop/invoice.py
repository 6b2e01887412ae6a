def invoice_lines(prices):
    lines = [f"item {p:.2f}" for p in prices]
    tax = sum(prices) * 0.2
    lines.append(f"tax {tax:.2f}")
    return lines
