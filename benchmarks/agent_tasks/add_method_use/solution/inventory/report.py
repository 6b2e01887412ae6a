def report(stock):
    return f"{len(stock.items)} items worth {stock.total_value():.2f}"
