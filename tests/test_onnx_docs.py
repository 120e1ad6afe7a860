"""docs/ONNX.md's snippet, run as written (only the model's file name changed): it tags raw text
with onnxruntime alone, and its tags are birnn's."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import birnn

pytest.importorskip("onnxruntime")
from birnn.onnx import export
from test_onnx_models import make, tag_records

DOC = Path(__file__).resolve().parents[1] / "docs" / "ONNX.md"


def snippet() -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Tagging raw text") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.parametrize("chars", [True, False])
def test_the_documented_snippet_tags_raw_text_as_birnn_does(tmp_path: Path, chars: bool):
    tm = make("tag", tag_records(np.random.default_rng(5)), {"head": "crf"}, hidden=4,
              char_hidden=3 if chars else 0)  # fmt: skip
    path = tmp_path / "tagger.onnx"
    export(tm, path)
    code = snippet().replace('"ewt-upos.onnx"', repr(str(path)))
    namespace: dict = {}
    exec(compile(code.replace("print(tag(", "result = (tag("), str(DOC), "exec"), namespace)
    texts = ["I saw her duck.", "Time flies like an arrow."]
    want = [birnn.Predictor(tm).predict(t) for t in texts]
    assert namespace["result"] == [list(zip(p.tokens, p.tags)) for p in want]
