class Stock:
    def __init__(self):
        self.items = {}

    def add(self, name, quantity, price):
        self.items[name] = (quantity, price)

    def remove(self, name):
        self.items.pop(name, None)

    def total_value(self):
        return sum(quantity * price for quantity, price in self.items.values())
