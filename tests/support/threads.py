"""Running test threads side by side."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence


def run_threads(threads: Sequence[threading.Thread], timeout: float) -> None:
    """Start every thread, wait for all of them, and fail if any is still running after
    ``timeout`` seconds in all (a hang must fail the test, not stall the suite)."""
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), f"a thread outlived {timeout} s"
