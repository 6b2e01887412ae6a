from pathlib import Path


def test_renamed():
    from shop import cart, checkout

    assert cart.total_price([(2.0, 3), (1.5, 2)]) == 9.0
    assert not hasattr(cart, "calc_total")
    assert checkout.receipt([(1.0, 2)]) == "total: 2.00"
    assert "calc_total" not in Path("shop/checkout.py").read_text()
