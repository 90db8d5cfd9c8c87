"""Validation of object keys and listing prefixes."""

from __future__ import annotations

from qaflow.errors import InvalidInputError

MAX_KEY_BYTES = 1024
# Local writes stage their content in hidden temp files with this name prefix next to the target.
TEMP_NAME_PREFIX = ".qaflow-tmp-"


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative object key, else raise InvalidInputError."""
    if not isinstance(key, str) or not key:
        raise InvalidInputError(f"object key must be a non-empty string, got {key!r}")
    if key.startswith("/"):
        raise InvalidInputError(f"object key must be relative (no leading '/'): {key!r}")
    if "\\" in key:
        raise InvalidInputError(f"object key must use '/' as separator, not '\\': {key!r}")
    if any(ord(char) < 0x20 or char == "\x7f" for char in key):
        raise InvalidInputError(f"object key must not contain NUL or control characters: {key!r}")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidInputError(f"object key is longer than {MAX_KEY_BYTES} bytes: {key[:60]!r}...")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidInputError(
                f"object key must not contain empty, '.' or '..' segments: {key!r}"
            )
        if segment.startswith(TEMP_NAME_PREFIX):
            raise InvalidInputError(
                f"object key segments must not start with {TEMP_NAME_PREFIX!r}: {key!r}"
            )
    return key


def validate_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is empty or a valid key optionally ending with '/'."""
    if prefix == "":
        return prefix
    if not isinstance(prefix, str):
        raise InvalidInputError(f"listing prefix must be a string, got {prefix!r}")
    validate_key(prefix.removesuffix("/"))
    return prefix
