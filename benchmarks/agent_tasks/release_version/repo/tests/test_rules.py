from mdlint.rules import trailing_spaces


def test_trailing():
    assert trailing_spaces(["a \n", "b\n"]) == [1]
