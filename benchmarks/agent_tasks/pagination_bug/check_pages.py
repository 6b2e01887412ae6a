from pager import page_count, paginate


def test_counts():
    assert [page_count(n, 5) for n in (0, 1, 5, 6, 10, 11)] == [0, 1, 1, 2, 2, 3]


def test_pages():
    items = list(range(7))
    assert paginate(items, 1, 3) == [0, 1, 2]
    assert paginate(items, 3, 3) == [6]
    assert paginate(items, 4, 3) == []
    assert paginate(items, 0, 3) == []


def test_tests_unchanged():
    assert "assert paginate(list(range(11)), 3, 5) == [10]" in open("tests/test_pages.py").read()
