"""A small inventory module: the file `qwill demo` types into."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Item:
    sku: str
    name: str
    price: float
    quantity: int = 0
    tags: list[str] = field(default_factory=list)

    def total_value(self) -> float:
        """Price times quantity."""
        return self.price * self.quantity


class Inventory:
    def __init__(self) -> None:
        self.items: dict[str, Item] = {}

    def add(self, item: Item) -> None:
        """Add an item, merging quantities when the SKU is already known."""
        if item.sku in self.items:
            self.items[item.sku].quantity += item.quantity
        else:
            self.items[item.sku] = item

    def remove(self, sku: str, quantity: int) -> None:
        """Take `quantity` units of `sku` out of stock."""
        item = self.items[sku]
        if quantity > item.quantity:
            raise ValueError(f"only {item.quantity} of {sku} in stock")
        item.quantity -= quantity

    def total_value(self) -> float:
        """The value of everything in stock."""
        return sum(item.total_value() for item in self.items.values())

    def find_by_tag(self, tag: str) -> list[Item]:
        """All items carrying `tag`, sorted by name."""
        return sorted((i for i in self.items.values() if tag in i.tags), key=lambda i: i.name)

    def low_stock(self, threshold: int = 5) -> list[Item]:
        """Items with fewer than `threshold` units left."""
        return [item for item in self.items.values() if item.quantity < threshold]


def parse_line(line: str) -> Item:
    """Parse `sku,name,price,quantity` into an Item."""
    sku, name, price, quantity = line.strip().split(",")
    return Item(sku=sku, name=name, price=float(price), quantity=int(quantity))
