"""Pretrained knowledge in ONNX: models with pretrained vectors (words met only in the file read
their fixed rows; a cased vocabulary falls back to the lower-cased form), a tuned word table,
case pattern features and a scheme's constrained decoding give birnn's answers in onnxruntime.

The texts mix training words, file-only words in several cases, unknown words and one word of
each case pattern (``birnn.data.casing``), with ragged lengths, batch 1 and other sizes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from birnn import pipeline
from birnn.data.casing import case_pattern
from test_onnx_models import (
    SIZES,
    WORDS,
    birnn_batch,
    check_tagger,
    class_records,
    exported,
    randomized,
    run,
    tag_records,
    texts,
)

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from birnn.onnx import export  # noqa: E402

DIM = 5
FILE_ONLY = ["obama", "london", "Paris", "nasa", "quickly"]  # "quickly" is a training word too
# a word of every case pattern, as birnn.data.casing lists them (test_case_words_cover_...)
CASE_WORDS = ["https://example.org/a/rather/long/path?q=1",  # longer than onnx.models.SHORT
              "http://x.org", "WWW.A.B", "HTTPS:", "@user", "#tag", "@", "#", "2017", "3.5",
              "1,000", "3pm", "A4", "mp3", ",", "...", ":)", "北京", "don't", "USA", "NASA",
              "I", "Paris", "'Tis", "«Ab»", "-USA-", "iPhone", "McDonald", "eBay", "²", "Ⓐb",
              "ǅx", "ǅungla", "Straße"]  # fmt: skip
POOL = WORDS + FILE_ONLY + ["Obama", "LONDON", "Nasa", "THE", "Dog", "Zebra"] + CASE_WORDS


def vectors_file(tmp_path: Path) -> Path:
    """A GloVe-style text file: some training words, some words only it has."""
    rng = np.random.default_rng(9)
    words = ["the", "dog", "big", *FILE_ONLY]
    path = tmp_path / "vectors.txt"
    path.write_text("".join(w + "".join(f" {x:.6f}" for x in rng.standard_normal(DIM)) + "\n"
                            for w in words), encoding="utf-8")  # fmt: skip
    return path


def build(tmp_path: Path, task: str, records: list[Any], options: dict[str, Any],
          lowercase: bool = False, **encoder: Any) -> Any:  # fmt: skip
    fields = {"char_dim": 4, "hidden": 4, "char_hidden": 0} | encoder
    tm = pipeline.build(pipeline.get_task(task), records, fields, options, 1, lowercase, 0,
                        embeddings=vectors_file(tmp_path), embeddings_max_words=None)  # fmt: skip
    config = tm.model.encoder.config
    assert config.fixed_words > 0 and tm.model.encoder.embed.fixed == config.fixed_words
    return randomized(tm, 1)


def batches(seed: int) -> list[list[list[str]]]:
    rng = np.random.default_rng(seed)
    return [texts(rng, n, longest, POOL) for n, longest in SIZES] + [[CASE_WORDS]]


def test_case_words_cover_every_pattern():
    from birnn.data.casing import CASES

    assert {case_pattern(w) for w in CASE_WORDS} == set(CASES) - {"<pad>"}


TAGGERS = {
    "softmax-iob2-cased-case-tuned-chars": ({"head": "softmax", "scheme": "iob2"}, False,
                                            {"case_dim": 3, "tuned_word_dim": 4,
                                             "char_hidden": 2}),
    "crf-iob2-lowercase-case": ({"head": "crf", "scheme": "iob2"}, True, {"case_dim": 2}),
    "softmax-no-scheme-tuned": ({"head": "softmax"}, False, {"tuned_word_dim": 3}),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(TAGGERS))
def test_pretrained_taggers_equal_birnn(tmp_path: Path, name: str):
    options, lowercase, encoder = TAGGERS[name]
    tm = build(tmp_path, "tag", tag_records(np.random.default_rng(2)), options, lowercase,
               **encoder)  # fmt: skip
    assert tm.vocabs.words.fallback_lowercase is not lowercase  # a cased vocabulary falls back
    check_tagger(tm, exported(tm, tmp_path), batches(len(name)))


def test_a_scheme_changes_the_decoded_tags(tmp_path: Path):
    """Constrained decoding is not a no-op here: the independent argmax would differ."""
    options, lowercase, encoder = TAGGERS["softmax-iob2-cased-case-tuned-chars"]
    tm = build(tmp_path, "tag", tag_records(np.random.default_rng(2)), options, lowercase,
               **encoder)  # fmt: skip
    sess = exported(tm, tmp_path)
    batch = batches(3)[1]
    got = run(sess, batch)
    argmax = got["probabilities"].argmax(-1)
    assert any(got["tags"][i, : len(w)].tolist() != argmax[i, : len(w)].tolist()
               for i, w in enumerate(batch))  # fmt: skip


def test_pretrained_classifier_equals_birnn(tmp_path: Path):
    tm = build(tmp_path, "classify", class_records(np.random.default_rng(4)),
               {"pooling": "final+mean"}, case_dim=3, tuned_word_dim=2)  # fmt: skip
    sess = exported(tm, tmp_path)
    for batch in batches(5):
        got = run(sess, batch)
        want = tm.model.predict_probabilities(birnn_batch(tm, batch))
        np.testing.assert_allclose(got["probabilities"], want, atol=1e-5)
        assert got["label"].tolist() == np.argmax(want, axis=1).tolist()


def test_case_ids_in_the_graph_are_birnns_on_random_unicode_words(tmp_path: Path):
    """``birnn.onnx.casing`` against ``birnn.data.casing.case_id`` on words drawn from ASCII,
    Latin, Greek, Cyrillic, CJK, digits of other scripts, symbols and title-case letters."""
    import onnxruntime as ort

    from birnn.data.casing import CASES, case_id
    from birnn.onnx._graph import INT64, STRING, Graph, model, value
    from birnn.onnx.casing import case_ids

    g = Graph()
    g.output(case_ids(g, "tokens", CASES), "ids")
    proto = model(g, [value("tokens", STRING, ["n"])], [value("ids", INT64, ["n"])], {}, "cases")
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    alphabet = list("aZ09.,:@#-'_/ ") + list("éÉßøÆǅǈ²٣३ΣσДд北京Ⓐⓑ€") + ["http:", "www.", "HTTPS:"]
    rng = np.random.default_rng(0)
    words = CASE_WORDS + ["".join(rng.choice(alphabet, int(rng.integers(1, 6))))
                          for _ in range(3000)]  # fmt: skip
    (got,) = sess.run(None, {"tokens": np.array(words, dtype=object)})
    want = [case_id(w) for w in words]
    wrong = [(w, CASES[a], CASES[b]) for w, a, b in zip(words, got, want) if a != b]
    assert not wrong, wrong[:10]


def test_whole_models_pass_the_checker_with_full_shape_inference(tmp_path: Path):
    options, lowercase, encoder = TAGGERS["softmax-iob2-cased-case-tuned-chars"]
    tm = build(tmp_path, "tag", tag_records(np.random.default_rng(2)), options, lowercase,
               **encoder)  # fmt: skip
    export(tm, tmp_path / "m.onnx")
    proto = onnx.load(str(tmp_path / "m.onnx"))
    onnx.checker.check_model(proto, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    dims = {o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]
            for o in inferred.graph.output}  # fmt: skip
    assert dims["probabilities"] == ["batch", "time", len(tm.vocabs.labels)]
    assert dims["tags"] == dims["tag_names"] == ["batch", "time"]
