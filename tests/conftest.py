"""pytest configuration: make ``birnn`` (src layout) and ``helpers`` importable, pin torch."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "src", ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

try:  # the reference implementation; tests that need it import it themselves
    import torch
except ImportError:  # pragma: no cover - torch is a test extra
    torch = None

if torch is not None:
    # The test problems are tiny: extra threads only add overhead, and one thread keeps the
    # float64 reference results reproducible run to run.
    torch.set_num_threads(1)
