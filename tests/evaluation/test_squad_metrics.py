import pytest

from qaflow.errors import InvalidInputError
from qaflow.evaluation import exact_match, f1, normalize_answer, squad_scores


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("The Denver Broncos", "denver broncos"),
        ("  Denver\tBroncos\n", "denver broncos"),
        ("Broncos!", "broncos"),
        ("U.S.A.", "usa"),
        ("an apple a day", "apple day"),
        ("theory of the atom", "theory of atom"),  # 'the' inside 'theory' stays
        ("A", ""),
        ("rock-n-roll", "rocknroll"),
        ("Ça va", "ça va"),
        ("", ""),
    ],
)
def test_normalization_follows_squad_v11(raw: str, normalized: str) -> None:
    assert normalize_answer(raw) == normalized


def test_exact_match_ignores_case_punctuation_articles_and_spacing() -> None:
    assert exact_match("the  Denver Broncos.", ["Denver Broncos"]) == 1.0
    assert exact_match("Denver", ["Denver Broncos"]) == 0.0


def test_exact_match_takes_any_reference() -> None:
    assert exact_match("Broncos", ["Denver Broncos", "broncos"]) == 1.0


def test_f1_by_hand() -> None:
    # prediction tokens: [denver, broncos, team]; reference: [denver, broncos]
    # precision 2/3, recall 1 -> F1 = 2 * (2/3) / (5/3) = 0.8
    assert f1("the Denver Broncos team", ["Denver Broncos"]) == pytest.approx(0.8)


def test_f1_counts_repeated_tokens_once_per_occurrence() -> None:
    # common = min(2, 1) = 1 'new'; precision 1/3, recall 1/2 -> F1 = 0.4
    assert f1("new new york", ["new jersey"]) == pytest.approx(0.4)


def test_f1_is_best_over_references() -> None:
    assert f1("Santa Clara", ["Levi's Stadium", "Santa Clara, California"]) == pytest.approx(0.8)


def test_empty_prediction_scores_zero() -> None:
    assert exact_match("", ["Paris"]) == 0.0
    assert f1("", ["Paris"]) == 0.0


def test_prediction_of_only_an_article_matches_a_reference_that_is_only_an_article() -> None:
    assert exact_match("a", ["The"]) == 1.0
    assert f1("a", ["The"]) == 1.0


def test_no_overlap_is_zero() -> None:
    assert f1("London", ["Paris"]) == 0.0


def test_aggregate_is_mean_in_percent() -> None:
    scores = squad_scores(
        ["Denver Broncos", "the Denver Broncos team", "nothing"],
        [["Denver Broncos"], ["Denver Broncos"], ["Paris"]],
    )
    assert scores.count == 3
    assert scores.exact_match == pytest.approx(100 / 3)
    assert scores.f1 == pytest.approx(100 * (1 + 0.8 + 0) / 3)


def test_aggregate_of_nothing_is_zero() -> None:
    assert squad_scores([], []).count == 0


def test_references_must_be_a_list_of_strings() -> None:
    with pytest.raises(InvalidInputError):
        f1("Paris", [])
    with pytest.raises(InvalidInputError):
        exact_match("Paris", "Paris")
    with pytest.raises(InvalidInputError):
        squad_scores(["a"], [])
