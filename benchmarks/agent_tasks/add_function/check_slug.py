def test_slugify_exported():
    import textkit

    assert textkit.slugify("Hello  World ") == "hello-world"
    assert textkit.slugify("one") == "one"
    assert textkit.title_case("a b") == "A B"
