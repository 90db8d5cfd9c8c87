"""Sample upload files shared by the upload tests (service, API, CLI)."""

from __future__ import annotations

GOOD_CSV = (
    b"question,context,ref\n"
    b"Who wrote the first program?,Ada Lovelace wrote the first program.,a1\n"
    b"When was it published?,It was published in 1843.,a2\n"
    b",A row without a question.,a3\n"
)
GOOD_ROWS = 3
GOOD_EMPTY_ROWS = 1

# name -> (content, a distinctive part of csvio's message)
BAD_FILES: dict[str, tuple[bytes, str]] = {
    "missing_column": (b"question,answer\nWho?,Ada\n", "Missing required column 'context'"),
    "empty": (b"", "The file is empty."),
    "header_only": (b"question,context\n", "The file has a header but no data rows."),
    "not_utf8": (
        b"question,context\nWho?,Caf\xe9 owner Ada.\n",
        "not UTF-8 text: invalid byte 0xE9 at line 2",
    ),
    "binary": (b"question,context\nWho?,A\x00da\n", "binary, not CSV text"),
    "png": (b"\x89PNG\r\n\x1a\n" + bytes(range(64)), "PNG image"),
    "json": (b'[{"question": "Who?", "context": "Ada."}]\n', "looks like JSON"),
    "ragged": (b"question,context\nWho?,Ada\nWhen?,1843,extra\n", "Line 3: expected 2 fields"),
}
