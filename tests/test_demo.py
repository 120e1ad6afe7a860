"""``birnn demo``: the bidirectional model solves the blanks that need the words after them.

The fast-mode run goes through ``birnn.demo.run.run`` in a child process started with one BLAS
thread (OPENBLAS_NUM_THREADS=1 must be set before NumPy loads). On these tiny matrices a
multi-threaded OpenBLAS only adds overhead, and on busy shared cores its spinning threads made
the same run take anywhere from 2 to 70 seconds; with one thread it takes about 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import birnn
from birnn.cli import main
from birnn.demo.grammar import generate
from birnn.tasks import fill

TRAIN_SIZE, TEST_SIZE, EPOCHS = 600, 200, 10
FAST_RUN = f"""
import json
from birnn.demo.run import run
results = run(train_size={TRAIN_SIZE}, test_size={TEST_SIZE}, epochs={EPOCHS}, seed=0,
              progress=False)
print("RESULTS " + json.dumps([[r.name, r.scores, len(r.predictions)] for r in results]))
"""


@pytest.fixture(scope="module")
def fast_run() -> tuple[dict[str, Any], str]:
    """({model name: (scores, number of predictions)}, everything the demo printed)."""
    src = str(Path(birnn.__file__).resolve().parents[1])
    env = os.environ | {
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p),
    }
    proc = subprocess.run(
        [sys.executable, "-c", FAST_RUN],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    printed, _, results = proc.stdout.rpartition("RESULTS ")
    return {name: (scores, n) for name, scores, n in json.loads(results)}, printed


def test_bidirectional_beats_unidirectional_on_right_context_blanks(fast_run):
    results, _ = fast_run
    assert list(results) == ["unidirectional", "bidirectional"]
    (uni, n_uni), (bi, n_bi) = results["unidirectional"], results["bidirectional"]
    assert n_uni == n_bi == TEST_SIZE
    # the left-to-right model can only guess where the words after the blank decide ...
    assert uni["accuracy_right_context"] <= 0.6, uni
    # ... the bidirectional one reads them: a clear margin there, and better overall
    assert bi["accuracy_right_context"] >= 0.7, bi
    assert bi["accuracy_right_context"] - uni["accuracy_right_context"] >= 0.25, (uni, bi)
    assert bi["accuracy"] > uni["accuracy"]


def test_the_demo_prints_the_comparison(fast_run):
    _, printed = fast_run
    assert f"Generated {TRAIN_SIZE} training and {TEST_SIZE} test sentences" in printed
    rows = {line.split()[0]: line.split() for line in printed.splitlines() if line.strip()}
    for name in ("unidirectional", "bidirectional"):
        assert name in rows and rows[name][1].endswith("%"), printed
    assert "Blanks that need the words after them" in printed
    assert printed.count("answer:") == 6  # the examples


def test_demo_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--help"])
    out, err = capsys.readouterr()
    assert exit_.value.code == 0 and err == ""
    assert out.startswith("usage: birnn demo") and "--train-size" in out and "--epochs" in out


@pytest.mark.parametrize("option", ["--train-size", "--test-size", "--epochs"])
def test_demo_refuses_sizes_below_one(capsys, option):
    code = main(["demo", option, "0", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and option in err and "Traceback" not in err


def test_save_data_writes_the_items_the_demo_trains_on(capsys, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("birnn.demo.run.run", lambda *a, **k: calls.append((a, k)))
    prefix = tmp_path / "cloze"
    assert main(["demo", "--train-size", "30", "--test-size", "12", "--epochs", "2",
                 "--seed", "4", "--save-data", str(prefix), "--no-progress"]) == 0  # fmt: skip
    assert calls == [((30, 12, 2, 4), {"progress": False})]
    rng = np.random.default_rng(4)  # the draws run() makes
    for split, expected in (("train", generate(30, rng)), ("test", generate(12, rng))):
        saved = fill.read(f"{prefix}.{split}.tsv")
        assert [(it.words, it.blank, it.answer, it.needs_right) for it in saved] == [
            (it.words, it.blank, it.answer, it.needs_right) for it in expected
        ]
