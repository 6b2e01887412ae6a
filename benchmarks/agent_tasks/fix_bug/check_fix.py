from stats import mean, spread


def test_fixed():
    assert mean([2, 4]) == 3
    assert mean([5]) == 5
    assert spread([1, 10]) == 9
