"""The main job (README's first command) in a fast mode: the bidirectional model must win."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "quickstart.py"


def test_quickstart_bidirectional_beats_unidirectional():
    quickstart = runpy.run_path(str(SCRIPT))
    uni = quickstart["train"](bidirectional=False, steps=200, seed=0)
    bi = quickstart["train"](bidirectional=True, steps=200, seed=0)
    assert bi > 0.95, bi
    assert uni < 0.5, uni  # the next token is out of a left-to-right model's sight


def test_quickstart_runs_as_a_script(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["quickstart.py", "--steps", "20"])
    runpy.run_path(str(SCRIPT), run_name="__main__")
    printed = capsys.readouterr().out
    assert "bidirectional  GRU: accuracy" in printed
    assert "unidirectional GRU: accuracy" in printed
