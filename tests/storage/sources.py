"""Large deterministic byte streams that are never held in memory whole."""

from __future__ import annotations

import hashlib
import io
from typing import BinaryIO

MIB = 1024 * 1024


class ChunkSource(io.RawIOBase):
    """A readable stream of ``size`` deterministic bytes that never holds them all."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.counter = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        block = hashlib.sha256(str(self.counter).encode()).digest() * 2048  # 64 KiB
        count = min(len(buffer), len(block), self.remaining)
        buffer[:count] = block[:count]
        self.counter += 1
        self.remaining -= count
        return count


def source_of(size: int) -> BinaryIO:
    """A buffered binary stream of ``size`` deterministic bytes."""
    return io.BufferedReader(ChunkSource(size))


def chunks_of(size: int, chunk_size: int = MIB) -> list[bytes]:
    source = ChunkSource(size)
    return list(iter(lambda: source.read(chunk_size), b""))


def digest_of_source(size: int) -> str:
    digest = hashlib.sha256()
    for chunk in chunks_of(size):
        digest.update(chunk)
    return digest.hexdigest()
