"""Bad input refused with an exact message: the one helper of the boundary tests."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest


def exactly(message: str) -> str:
    """A ``match=`` pattern that accepts ``message`` and nothing else."""
    return f"^{re.escape(message)}$"


def assert_refused(call: Callable[[], Any], error: type[Exception], message: str) -> None:
    """``call()`` raises ``error`` whose message is exactly ``message``."""
    with pytest.raises(error, match=exactly(message)):
        call()
