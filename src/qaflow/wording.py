"""Small wording and naming helpers, shared by every layer (no qaflow imports)."""

from __future__ import annotations

from collections.abc import Iterable


def plural(count: int, noun: str) -> str:
    """``1 row``, ``2 rows``, ``1,000 rows``."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def unique_names(names: Iterable[str], taken: Iterable[str], prefix: str) -> list[str]:
    """``names``, each given ``prefix`` as often as it takes to differ from every name in
    ``taken`` and from the ones before it (case and surrounding spaces ignored)."""
    seen = {name.strip().casefold() for name in taken}
    unique = []
    for name in names:
        while name.casefold() in seen:
            name = prefix + name
        seen.add(name.casefold())
        unique.append(name)
    return unique
