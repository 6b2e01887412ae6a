def cart_total(prices):
    subtotal = sum(prices)
    return round(subtotal * (1 + 0.2), 2)
