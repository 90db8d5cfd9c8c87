"""Models shipped inside the qaflow package, named ``bundled:<name>`` in model references.

A registry entry stores the portable reference, not a site-packages path, so a database stays
valid across installs and upgrades.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from qaflow.errors import ModelLoadError

BUNDLED_PREFIX = "bundled:"


def bundled_root() -> Path:
    return Path(str(resources.files("qaflow"))) / "bundled"


def bundled_models() -> list[str]:
    """Names of the models this installation ships."""
    root = bundled_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "config.json").is_file())


def resolve_ref(ref: str) -> str:
    """A hub id or directory for ``ref``: ``bundled:<name>`` becomes the packaged directory."""
    if not ref.startswith(BUNDLED_PREFIX):
        return ref
    name = ref.removeprefix(BUNDLED_PREFIX)
    if name in bundled_models():
        return str(bundled_root() / name)
    shipped = ", ".join(bundled_models()) or "none"
    raise ModelLoadError(
        f"Could not load model {ref!r}: this installation ships no bundled model {name!r} "
        f"(bundled models: {shipped})."
    )
