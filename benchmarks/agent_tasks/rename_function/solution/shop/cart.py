def total_price(items):
    """Sum of price * quantity."""
    return sum(price * qty for price, qty in items)
