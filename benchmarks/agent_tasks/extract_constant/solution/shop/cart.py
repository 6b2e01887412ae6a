from .constants import TAX_RATE


def cart_total(prices):
    subtotal = sum(prices)
    return round(subtotal * (1 + TAX_RATE), 2)
