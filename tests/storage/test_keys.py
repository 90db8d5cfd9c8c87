"""Key validation rules beyond the contract suite's bad keys."""

from __future__ import annotations

import pytest

from qaflow.errors import InvalidInputError
from qaflow.storage import validate_key


@pytest.mark.parametrize("key", ["a", "a/b/c.csv", "données/日本語.txt", "v1.2/x..y", ".hidden"])
def test_valid_keys_pass_unchanged(key: str) -> None:
    assert validate_key(key) == key


def test_keys_longer_than_s3_allows_are_rejected() -> None:
    validate_key("é" * 512)  # 1024 bytes in UTF-8

    with pytest.raises(InvalidInputError, match="1024 bytes"):
        validate_key("é" * 512 + "x")


def test_keys_that_look_like_staged_writes_are_rejected() -> None:
    with pytest.raises(InvalidInputError, match="qaflow-tmp"):
        validate_key("dir/.qaflow-tmp-abc")


def test_error_names_the_key() -> None:
    with pytest.raises(InvalidInputError, match=r"'a/\.\./b'"):
        validate_key("a/../b")
