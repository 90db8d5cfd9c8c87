"""Value types of the QA engine: which model, how to read, what comes back."""

from __future__ import annotations

from dataclasses import dataclass

from qaflow.config import ModelRuntime
from qaflow.errors import ConfigurationError

Backend = ModelRuntime


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A named extractive QA model; ``model`` and ``tokenizer`` are hub ids or local directories."""

    name: str
    model: str
    tokenizer: str
    backend: Backend = "torch"
    # The weights' fingerprint when known: part of the identity, so a reader cache keyed by
    # specs loads new weights published under the same reference instead of reusing old ones.
    revision: str | None = None


@dataclass(frozen=True, slots=True)
class ReaderOptions:
    """How questions and contexts are cut into windows and how spans are chosen."""

    max_seq_len: int = 384
    doc_stride: int = 128
    max_question_len: int = 64
    max_answer_len: int = 30
    batch_size: int = 32
    handle_impossible: bool = False

    def __post_init__(self) -> None:
        for field in ("max_seq_len", "max_question_len", "max_answer_len", "batch_size"):
            if getattr(self, field) < 1:
                raise ConfigurationError(f"{field} must be at least 1")
        if self.doc_stride < 0:
            raise ConfigurationError("doc_stride must not be negative")
        if self.max_question_len + self.doc_stride >= self.max_seq_len:
            raise ConfigurationError(
                f"max_question_len ({self.max_question_len}) + doc_stride "
                f"({self.doc_stride}) must be below max_seq_len ({self.max_seq_len}), "
                "or no window has room for new context"
            )


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer: ``context[start:end] == text``; no answer is ``text=""``, ``start=end=0``."""

    text: str
    score: float
    start: int
    end: int

    @property
    def is_empty(self) -> bool:
        return self.text == ""


def no_answer(score: float) -> Answer:
    """The answer that says the context holds none."""
    return Answer(text="", score=score, start=0, end=0)
