"""Running the installed ``qaflow`` console script as users run it, with a test's environment."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

QAFLOW = shutil.which("qaflow")


def qaflow_command(*args: str) -> list[str]:
    assert QAFLOW is not None, "the qaflow console script is not installed"
    return [QAFLOW, *args]


def run_qaflow(
    env: dict[str, str], *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run ``qaflow ARGS`` to completion; the caller checks the exit status."""
    return subprocess.run(
        qaflow_command(*args), env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def tiny_model_env(home: Path, tiny_model_dir: Path, **extra: str) -> dict[str, str]:
    """This process's environment with a fresh home whose default model is the tiny test model."""
    return {
        **os.environ,
        "QAFLOW_HOME": str(home),
        "QAFLOW_DEFAULT_MODEL": "tiny",
        "QAFLOW_DEFAULT_MODEL_REF": str(tiny_model_dir),
        "QAFLOW_DEFAULT_MODEL_BACKEND": "torch",
        "HF_HUB_OFFLINE": "1",
        **extra,
    }
