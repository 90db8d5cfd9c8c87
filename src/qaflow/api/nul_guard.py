"""Refusing NUL characters in request paths and query strings before any route runs.

PostgreSQL cannot hold NUL in text, so an id like ``a%00b`` would fail deep in the driver (a 500)
where SQLite merely finds nothing; refused here, both databases answer the same clear 400.
Request bodies are checked by their schemas.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

NUL_IN_URL = "The request's path or query string contains a NUL character (%00)."


class NulGuard:
    """ASGI middleware: a 400 for any HTTP request whose path or query holds a NUL."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _has_nul(scope):
            body = json.dumps({"detail": NUL_IN_URL}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def _has_nul(scope: Scope) -> bool:
    query = scope.get("query_string", b"")
    return "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query
