"""Skip-or-fail for tests that need a real service.

On a user's machine a test whose service (PostgreSQL, SeaweedFS, the GCS emulator, Ray, Chromium) is
missing is skipped. In CI, ``QAFLOW_REQUIRE_SERVICES=1`` turns that skip into a failure, so nothing
is silently left untested.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def services_required() -> bool:
    return os.environ.get("QAFLOW_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


def missing_service(reason: str) -> NoReturn:
    if services_required():
        pytest.fail(f"required service unavailable (QAFLOW_REQUIRE_SERVICES=1): {reason}")
    pytest.skip(reason)
