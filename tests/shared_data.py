"""The real data sets of ``../shared/data`` (next to the checkout), for the tests that read them.

One rule for every such test: when a file is absent the test skips on a developer's machine
(a checkout without the shared data) but **fails** under ``CI=true``, where the data always sit
beside the clone, so a CI run can never pass without reading a single real file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def in_ci() -> bool:
    """Whether this is CI's run: ``CI`` set to anything but empty, 0, false or no."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def shared_file(relative: str) -> Path:
    """``DATA / relative``, which must be a file: skip (fail in CI) when it is not."""
    path = DATA / relative
    if not path.is_file():
        message = f"real data {path} is absent"
        if in_ci():
            pytest.fail(f"{message}; CI=true needs ../shared/data beside the checkout")
        pytest.skip(message)
    return path
