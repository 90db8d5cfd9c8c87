"""Small wording helpers every face (CLI, web app) shares."""

from __future__ import annotations


def plural(count: int, noun: str) -> str:
    """``1 row``, ``2 rows``, ``1,000 rows``."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")
