"""The messages a rejected CSV upload gets: what is wrong, where, and how to fix it.

Kept in one place so the byte checks, the record parser and validation word problems alike;
only :func:`combined_error` builds an exception from several of them.
"""

from __future__ import annotations

from qaflow.errors import InvalidInputError
from qaflow.pipeline.csv_types import CONTEXT_COLUMN, QUESTION_COLUMN, CsvFormatError

_SHOWN_COLUMNS = 20
_SHOWN_NAME_CHARS = 40

EXPECTED_FORMAT = (
    "Upload a comma-separated UTF-8 text file whose header row names "
    f"'{QUESTION_COLUMN}' and '{CONTEXT_COLUMN}' columns."
)


def line_too_long_error(line_number: int, max_chars: int) -> InvalidInputError:
    return InvalidInputError(
        f"Line {line_number}: the line is longer than {max_chars:,} characters, the most "
        "accepted; is this really a CSV file?"
    )


def parse_problem(reason: str, start: int, line: int, max_field_chars: int) -> str:
    """Reword a csv module error for a record starting at line ``start``, failing at ``line``."""
    if "field limit" in reason:
        return (
            f"Line {start}: a field is longer than {max_field_chars:,} characters, the most "
            "accepted (is a closing '\"' missing?)."
        )
    if "unexpected end of data" in reason:
        return f"Line {start}: a quoted field is never closed (a closing '\"' is missing)."
    if "expected after" in reason:
        return (
            f"Line {line}: a closing '\"' must be followed by a comma or the end of the line; "
            "write a quote inside a quoted field as '\"\"'."
        )
    return f"Line {line}: malformed CSV ({reason})."


def missing_columns_message(names: list[str], missing: list[str]) -> str:
    """Why a header lacks ``missing``, guessing at the usual wrong-file or wrong-separator cause."""
    head = names[0].lstrip()
    if head.startswith(("{", "[")):
        return f"The file looks like JSON, not CSV. {EXPECTED_FORMAT}"
    if head.startswith("<"):
        return f"The file looks like HTML or XML, not CSV. {EXPECTED_FORMAT}"
    if len(names) == 1:
        for separator, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "'|'")):
            if separator in head:
                return (
                    f"The header has a single column; the file seems to separate values with "
                    f"{label}. qaflow expects commas. {EXPECTED_FORMAT}"
                )
    found = ", ".join(_shorten(name) for name in names[:_SHOWN_COLUMNS])
    if len(names) > _SHOWN_COLUMNS:
        found += f", ... ({len(names)} in all)"
    if len(missing) == 1:
        return f"Missing required column '{missing[0]}' (found columns: {found})."
    return f"Missing required columns 'question' and 'context' (found columns: {found})."


def _shorten(name: str) -> str:
    return name if len(name) <= _SHOWN_NAME_CHARS else name[: _SHOWN_NAME_CHARS - 3] + "..."


def ragged_problem(line: int, expected: int, found: int) -> str:
    return f"Line {line}: expected {expected} fields, found {found}."


def combined_error(problems: list[str], *, stopped: bool) -> CsvFormatError:
    """One error for all ``problems``; ``stopped`` says collection ended early, at a limit."""
    if len(problems) == 1:
        return CsvFormatError(problems[0], (problems[0],))
    count = f"at least {len(problems)}" if stopped else str(len(problems))
    message = f"The file has {count} problems:\n" + "\n".join(problems)
    return CsvFormatError(message, tuple(problems))
