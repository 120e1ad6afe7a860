"""A plain ``pip install .`` in a fresh virtual environment gives a ``birnn`` that works: the
version, every command's help, and a tiny train / evaluate / predict, with no traceback.

Marked ``install``: it builds and installs the package with its dependencies (a few minutes, and
the package index), so it runs in CI (CI=true) and with ``pytest -m install``; see conftest.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from cli_support import pos_sentences, write_conllu

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.install
def test_a_plain_install_gives_a_working_command(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / ("Scripts" if sys.platform == "win32" else "bin")
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}

    def run(*args: str) -> str:
        done = subprocess.run(args, capture_output=True, text=True, env=environ, timeout=900,
                              cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert "Traceback" not in done.stderr, done.stderr
        return done.stdout

    run(str(bin_dir / "python"), "-m", "pip", "install", "-q", str(ROOT))
    birnn = str(bin_dir / "birnn")
    assert run(birnn, "--version").startswith("birnn ")
    for command in ("demo", "train", "evaluate", "predict"):
        assert "--threads" in run(birnn, command, "--help")
    train = write_conllu(tmp_path / "train.conllu", pos_sentences(32, seed=0))
    out = tmp_path / "run"
    run(
        birnn,
        "train",
        "--task",
        "tag",
        "--train",
        str(train),
        "--dev",
        str(train),
        "--out",
        str(out),
        "--epochs",
        "2",
        "--hidden",
        "8",
        "--word-dim",
        "8",
        "--char-hidden",
        "4",
    )
    assert run(birnn, "evaluate", "--model", str(out), "--data", str(train)).startswith("accuracy")
    tagged = run(birnn, "predict", "--model", str(out), "--text", "The dog runs.")
    assert [line.split("\t")[0] for line in tagged.split("\n") if line] == [
        "The",
        "dog",
        "runs",
        ".",
    ]
    # the compiled time loop was built, and the installed package is the one that ran
    probe = "import birnn, sys; print(birnn.__file__, birnn.backend.native_available())"
    where, native = run(str(bin_dir / "python"), "-c", probe).split()
    assert where.startswith(str(env_dir)) and native == "True"
