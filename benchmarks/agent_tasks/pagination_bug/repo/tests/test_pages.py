from pager import page_count, paginate


def test_full_pages():
    assert paginate(list(range(10)), 2, 5) == [5, 6, 7, 8, 9]


def test_last_partial_page():
    assert page_count(11, 5) == 3
    assert paginate(list(range(11)), 3, 5) == [10]
