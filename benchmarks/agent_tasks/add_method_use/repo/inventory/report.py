def report(stock):
    total = 0
    for quantity, price in stock.items.values():
        total += quantity * price
    return f"{len(stock.items)} items worth {total:.2f}"
