from qaflow.wording import plural, unique_names


def test_plural() -> None:
    counts = (0, 1, 2, 1000)
    assert [plural(n, "row") for n in counts] == ["0 rows", "1 row", "2 rows", "1,000 rows"]


def test_unique_names_prefix_until_no_name_repeats() -> None:
    names = unique_names(["answer", "score", "Error"], [" Answer ", "qaflow_answer"], "qaflow_")
    assert names == ["qaflow_qaflow_answer", "score", "Error"]
    assert unique_names(["a", "A"], [], "x_") == ["a", "x_A"]
