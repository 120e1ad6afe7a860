"""pytest configuration: make ``birnn`` (src layout) and ``helpers`` importable, pin torch."""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))
if importlib.util.find_spec("birnn") is None:  # not installed and not on PYTHONPATH
    sys.path.insert(0, str(ROOT / "src"))

try:  # the reference implementation (a test extra); only the torch tests import it themselves
    import torch
except ImportError:  # pragma: no cover
    torch = None

if torch is not None:
    # The test problems are tiny: extra threads only add overhead, and one thread keeps the
    # float64 reference results reproducible from run to run.
    torch.set_num_threads(1)

# When a hypothesis test fails, its pytest plugin imports libcst (to suggest an @example
# patch), whose import emits a DeprecationWarning; with warnings as errors that turns the test
# failure into an INTERNALERROR that hides it. Import it once here, quietly.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import libcst  # noqa: F401
    except ImportError:  # pragma: no cover - optional dependency of hypothesis
        pass
