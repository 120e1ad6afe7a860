"""CI honesty: under ``CI=true`` slow tests are skipped (``-m slow`` still runs them) and a test
whose real data is missing fails instead of skipping (docs/TESTING.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import shared_data

TESTS = Path(__file__).resolve().parent

# A throwaway project whose conftest is this suite's conftest, with one slow and one plain test.
PROBE_CONFTEST = f"""
import importlib.util
spec = importlib.util.spec_from_file_location("suite_conftest", {str(TESTS / "conftest.py")!r})
suite = importlib.util.module_from_spec(spec)
spec.loader.exec_module(suite)
pytest_collection_modifyitems = suite.pytest_collection_modifyitems
"""
PROBE_TESTS = """
import pytest

@pytest.mark.slow
def test_slow():
    pass

def test_plain():
    pass
"""


def run_probe(tmp_path: Path, ci: str | None, *args: str) -> str:
    (tmp_path / "conftest.py").write_text(PROBE_CONFTEST, encoding="utf-8")
    (tmp_path / "test_probe.py").write_text(PROBE_TESTS, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "markers=slow",
            "-rs",
            *args,
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("ci", "args", "summary"),
    [
        ("true", (), "1 passed, 1 skipped"),
        ("1", ("-m", "slow"), "1 passed, 1 deselected"),
        ("false", (), "2 passed"),
    ],
)
def test_ci_skips_slow_tests_unless_they_are_selected(tmp_path, ci, args, summary):
    assert run_probe(tmp_path, ci, *args).startswith(summary)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("1", True), ("", False), ("false", False), ("0", False)],
)
def test_in_ci_reads_the_ci_variable(monkeypatch, value, expected):
    monkeypatch.setenv("CI", value)
    assert shared_data.in_ci() is expected


def test_missing_real_data_skips_here_and_fails_in_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(shared_data, "DATA", tmp_path)
    (tmp_path / "present.txt").write_text("x", encoding="utf-8")
    monkeypatch.setenv("CI", "true")
    assert shared_data.shared_file("present.txt") == tmp_path / "present.txt"
    with pytest.raises(pytest.fail.Exception, match=r"absent; CI=true needs \.\./shared/data"):
        shared_data.shared_file("missing.txt")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match=r"missing\.txt is absent"):
        shared_data.shared_file("missing.txt")
