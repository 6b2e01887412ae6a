from shop.cart import calc_total


def receipt(items):
    return f"total: {calc_total(items):.2f}"
