"""The values :mod:`qaflow.pipeline.csvio` hands out: layouts, summaries, rows, its error type.

They live apart from the reading code so its sibling modules (messages, records) can use them
without importing :mod:`~qaflow.pipeline.csvio` itself, which imports them all.
"""

from __future__ import annotations

from dataclasses import dataclass

from qaflow.errors import InvalidInputError
from qaflow.pipeline.row_index import RowIndex

QUESTION_COLUMN = "question"
CONTEXT_COLUMN = "context"


class CsvFormatError(InvalidInputError):
    """An upload breaks the CSV rules; ``problems`` lists each one, first first."""

    def __init__(self, message: str, problems: tuple[str, ...]) -> None:
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class CsvLayout:
    """Where the question and context sit among an upload's columns (original names, in order)."""

    columns: tuple[str, ...]
    question_column: str
    context_column: str

    @property
    def passthrough_columns(self) -> tuple[str, ...]:
        answered = (self.question_column, self.context_column)
        return tuple(name for name in self.columns if name not in answered)


@dataclass(frozen=True)
class CsvSummary:
    """What validation learned about an accepted upload."""

    sha256: str
    size_bytes: int
    rows: int
    columns: list[str]
    question_column: str
    context_column: str
    passthrough_columns: list[str]
    empty_rows: int
    row_index: RowIndex

    @property
    def layout(self) -> CsvLayout:
        return CsvLayout(tuple(self.columns), self.question_column, self.context_column)


@dataclass(frozen=True)
class CsvRow:
    """One data row: its 0-based index among data rows, the texts to answer, the other columns."""

    index: int
    question: str
    context: str
    passthrough: dict[str, str]

    @property
    def empty_error(self) -> str | None:
        """The error to report for this row when its question or context is blank, else None."""
        return empty_fields_error(self.question, self.context)


def empty_fields_error(question: str, context: str) -> str | None:
    """Why a row cannot be answered because of blank text, or None when both texts are present."""
    missing = [
        name
        for name, text in ((QUESTION_COLUMN, question), (CONTEXT_COLUMN, context))
        if not text.strip()
    ]
    if not missing:
        return None
    return f"The {' and the '.join(missing)} {'is' if len(missing) == 1 else 'are'} empty."
