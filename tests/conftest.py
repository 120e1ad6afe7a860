"""pytest configuration: make ``birnn`` (src layout) and ``helpers`` importable, pin torch,
run the core suite once per time-loop backend ("numpy" and "native"), and keep CI honest:

* under ``CI=true`` tests marked ``slow`` are skipped, unless the run selects markers itself
  (``pytest -m slow`` runs exactly them, anywhere);
* tests marked ``install`` (a fresh venv and ``pip install .``) run only in CI or with
  ``-m install``;
* a test that reads ``../shared/data`` through ``shared_data.shared_file`` skips when the data
  are absent, except under ``CI=true``, where it fails (CI always has the data beside it).

See docs/TESTING.md.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))
if importlib.util.find_spec("birnn") is None:  # not installed and not on PYTHONPATH
    sys.path.insert(0, str(ROOT / "src"))

from shared_data import in_ci  # noqa: E402  (tests/ is on sys.path from here on)

# The core equivalence suite runs against both backends (test ids end in -numpy / -native);
# every other test uses the default backend (native when it was built).
CORE_TEST_FILES = {
    "test_torch_equivalence.py",
    "test_finite_differences.py",
    "test_composition.py",
    "test_bad_input.py",
    "test_reuse.py",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Two markers that depend on where the suite runs (docs/TESTING.md).

    ``slow`` (long evaluations on real data) skip in CI (CI=true) unless ``-m`` chose the tests;
    ``install`` (a fresh venv and ``pip install .``: minutes, and the package index) run in CI
    or when asked for with ``-m install``, and skip otherwise.
    """
    markexpr = config.getoption("markexpr") or ""
    skip_slow = pytest.mark.skip(reason="slow: skipped in CI (CI=true); run them with -m slow")
    skip_install = pytest.mark.skip(
        reason="plain-install test: runs in CI (CI=true) or with -m install"
    )
    for item in items:
        if item.get_closest_marker("slow") is not None and in_ci() and not markexpr:
            item.add_marker(skip_slow)
        if "install" in item.keywords and not (in_ci() or "install" in markexpr):
            item.add_marker(skip_install)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "birnn_backend" in metafunc.fixturenames and metafunc.definition.path.name in (
        CORE_TEST_FILES
    ):
        metafunc.parametrize("birnn_backend", ["numpy", "native"], indirect=True)


@pytest.fixture(autouse=True)
def birnn_backend(request: pytest.FixtureRequest):
    """Select the backend a parametrised test asks for; put the previous one back after."""
    import birnn  # after the sys.path set-up above

    name = getattr(request, "param", None)
    if name is None:
        yield birnn.get_backend()
        return
    if name == "native" and not birnn.backend.native_available():
        pytest.skip(f"native backend unavailable: {birnn.backend.unavailable_reason()}")
    previous = birnn.get_backend()
    birnn.set_backend(name)
    try:
        yield name
    finally:
        birnn.set_backend(previous)


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
