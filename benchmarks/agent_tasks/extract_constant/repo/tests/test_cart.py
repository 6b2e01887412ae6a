from shop.cart import cart_total


def test_total():
    assert cart_total([10, 5]) == 18.0
