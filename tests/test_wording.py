from qaflow.wording import plural


def test_plural() -> None:
    counts = (0, 1, 2, 1000)
    assert [plural(n, "row") for n in counts] == ["0 rows", "1 row", "2 rows", "1,000 rows"]
