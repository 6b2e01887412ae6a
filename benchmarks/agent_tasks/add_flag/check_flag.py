from greet import main


def test_upper_flag():
    assert main(["bob"]) == "Hello, bob!"
    assert main(["--upper", "bob"]) == "HELLO, BOB!"
    assert main(["bob", "--upper"]) == "HELLO, BOB!"
