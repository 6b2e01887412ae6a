from shop import constants
from shop.cart import cart_total
from shop.invoice import invoice_lines


def test_constant():
    assert constants.TAX_RATE == 0.2


def test_used_everywhere():
    for path in ("shop/cart.py", "shop/invoice.py"):
        text = open(path).read()
        assert "TAX_RATE" in text and "0.2" not in text, path


def test_behaviour_unchanged():
    assert cart_total([10, 5]) == 18.0
    assert invoice_lines([10.0]) == ["item 10.00", "tax 2.00"]
