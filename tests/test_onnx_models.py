"""Whole models in ONNX: the exported tagger, classifier and fill model give birnn's answers.

Small models of every head and pooling with random (not trained) parameters, on random texts
with unknown and mixed-case words, ragged lengths with 1 and T, batch 1 and other sizes: the
decoded tags and labels are identical, probabilities agree within 1e-5. ``birnn export``'s
command line and its bad input are at the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from birnn import pipeline
from birnn.cli import main
from birnn.data import BLANK, ClozeItem, LabelledText, TaggedSentence
from birnn.functional import softmax
from birnn.tasks.base import FormTable, make_batch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from birnn.onnx import export  # noqa: E402

TOL = 1e-5
WORDS = "the a dog cat saw ran big small red quickly . , ! and of to".split()
UNKNOWN = ["Zebra", "xylophone", "QUIXOTIC", "café", "Dog", "THE", "Antidisestablishmentarianism"]


def texts(rng: np.random.Generator, n: int, longest: int,
          pool: list[str] = WORDS + UNKNOWN) -> list[list[str]]:  # fmt: skip
    """n texts of ragged length (1 and ``longest`` among them when n >= 2) of words from
    ``pool`` (by default, some unknown)."""
    lengths = [longest] if n == 1 else [1, longest, *rng.integers(1, longest + 1, n - 2)]
    rng.shuffle(lengths)
    return [[pool[i] for i in rng.integers(0, len(pool), size=k)] for k in lengths]


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``birnn argv`` in this process: (exit status, stdout, stderr)."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def feeds(sess: Any, batch: list[list[str]]) -> dict[str, np.ndarray]:
    """The graph's inputs for token lists: padded with "", characters one per entry."""
    t = max(map(len, batch))
    c = max(len(w) for words in batch for w in words)
    padded = [words + [""] * (t - len(words)) for words in batch]
    out = {"tokens": np.array(padded, dtype=object),
           "lengths": np.array([len(w) for w in batch], np.int64)}  # fmt: skip
    if "chars" in [i.name for i in sess.get_inputs()]:
        out["chars"] = np.array([[list(w) + [""] * (c - len(w)) for w in words]
                                 for words in padded], dtype=object)  # fmt: skip
    return out


def run(sess: Any, batch: list[list[str]]) -> dict[str, np.ndarray]:
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, feeds(sess, batch))))


def make(task_name: str, records: list[Any], options: dict[str, Any], seed: int = 0,
         lowercase: bool = False, **encoder: Any) -> Any:  # fmt: skip
    """A model of ``task_name`` built as ``birnn train`` builds it (``pipeline.build``), its
    parameters then drawn at random. ``encoder``: EncoderConfig fields."""
    fields = {"word_dim": 6, "char_dim": 4} | encoder
    tm = pipeline.build(pipeline.get_task(task_name), records, fields, options, 1, lowercase, seed)
    return randomized(tm, seed + 1)


def randomized(tm: Any, seed: int) -> Any:
    """``tm`` with every parameter drawn N(0, 0.8): large values, so decisions are not ties."""
    rng = np.random.default_rng(seed)
    for p in tm.model.params.values():
        p[...] = rng.normal(0.0, 0.8, p.shape)
    return tm


def birnn_batch(tm: Any, batch: list[list[str]]) -> Any:
    records = [tm.task.unlabelled(words) for words in batch]
    forms = FormTable(tm.vocabs.chars)
    data = tm.task.encode(records, tm.vocabs, forms)
    return make_batch(data, list(range(len(batch))), forms, tm.task.per_token)


def exported(tm: Any, tmp_path: Path) -> Any:
    path = tmp_path / "model.onnx"
    export(tm, path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def assert_close(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.shape == want.shape, f"{what}: {got.shape} != {want.shape}"
    err = float(np.abs(got - want).max())
    assert err <= TOL, f"{what}: max |onnxruntime - birnn| = {err:.3g}"


SIZES = ((1, 7), (5, 9), (3, 1), (6, 4))  # (batch, longest text): none is the export's own


# ---- taggers -----------------------------------------------------------------------------------


def tag_records(rng: np.random.Generator) -> list[TaggedSentence]:
    tags = ["B-X", "I-X", "O", "B-Y", "I-Y"]
    return [TaggedSentence(words, [tags[i] for i in rng.integers(0, 5, len(words))])
            for words in texts(rng, 30, 8)]  # fmt: skip


TAGGERS = {
    "softmax-chars-lstm": ({"head": "softmax"}, {"char_hidden": 3, "hidden": 5}),
    "crf-chars-gru": ({"head": "crf"}, {"char_hidden": 3, "hidden": 4, "cell": "gru"}),
    "crf-rnn-unidirectional": ({"head": "crf"}, {"char_hidden": 0, "hidden": 4, "cell": "rnn",
                                                 "bidirectional": False, "layers": 1}),
    "softmax-lowercase-3-layers": ({"head": "softmax"}, {"char_hidden": 0, "hidden": 3,
                                                          "layers": 3, "lowercase": True}),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(TAGGERS))
def test_tagger_tags_and_probabilities_equal_birnn(tmp_path: Path, name: str):
    options, encoder = TAGGERS[name]
    rng = np.random.default_rng(len(name))
    lowercase = encoder.pop("lowercase", False) if "lowercase" in encoder else False
    tm = make("tag", tag_records(rng), options, lowercase=lowercase, **dict(encoder))
    check_tagger(tm, exported(tm, tmp_path), [texts(rng, n, longest) for n, longest in SIZES])


def check_tagger(tm: Any, sess: Any, batches: list[list[list[str]]]) -> None:
    """onnxruntime's tags, tag names and probabilities are birnn's on each batch."""
    for batch in batches:
        n = len(batch)
        got = run(sess, batch)
        b = birnn_batch(tm, batch)
        predicted = tm.model.predict(b)
        labels = tm.vocabs.labels
        for i, words in enumerate(batch):
            assert got["tags"][i, : len(words)].tolist() == predicted[i]
            assert got["tags"][i, len(words) :].tolist() == [-1] * (
                got["tags"].shape[1] - len(words)
            )
            assert got["tag_names"][i, : len(words)].tolist() == labels.decode(predicted[i])
        model = tm.model
        scores = model._emissions(b)
        if model.crf is not None:
            want = model.crf.marginals(scores, b.lengths)
        else:
            want = softmax(scores.astype(np.float64)) * b.mask()[..., None]
        assert_close(got["probabilities"], want, f"probabilities (batch {n})")


def test_constrained_crf_never_decodes_a_forbidden_move(tmp_path: Path):
    """Forbidden moves are -inf in the graph's A, s, e: Viterbi avoids them, marginals are 0."""
    rng = np.random.default_rng(3)
    tm = make("tag", tag_records(rng), {"head": "crf"}, hidden=4, char_hidden=0)
    crf = tm.model.crf
    c = crf.num_tags
    crf.allowed = rng.random((c, c)) < 0.6
    np.fill_diagonal(crf.allowed, True)  # every tag can go on: some path always exists
    crf.allowed_start = np.ones(c, bool)
    crf.allowed_start[0] = False
    crf.allowed_end = np.ones(c, bool)
    crf.allowed_end[1] = False
    sess = exported(tm, tmp_path)
    for n, longest in SIZES:
        batch = texts(rng, n, longest)
        got = run(sess, batch)
        b = birnn_batch(tm, batch)
        for i, path in enumerate(tm.model.predict(b)):
            assert got["tags"][i, : len(path)].tolist() == path
            assert path[0] != 0 and path[-1] != 1
        want = crf.marginals(tm.model._emissions(b), b.lengths)
        assert_close(got["probabilities"], want, "constrained marginals")


# ---- classifiers and fill in the blank ----------------------------------------------------------


def class_records(rng: np.random.Generator) -> list[LabelledText]:
    return [LabelledText(words, ["pos", "neg", "mixed"][int(rng.integers(0, 3))])
            for words in texts(rng, 30, 8)]  # fmt: skip


CLASSIFIERS = {
    "final": {}, "mean": {}, "max": {}, "final+max": {"cell": "gru"},
    "mean+max": {"char_hidden": 3}, "final-unidirectional": {"bidirectional": False},
    "max+final+mean": {"cell": "rnn", "layers": 1},
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_classifier_labels_and_probabilities_equal_birnn(tmp_path: Path, name: str):
    rng = np.random.default_rng(len(name))
    pooling = name.removesuffix("-unidirectional")
    encoder = {"char_hidden": 0, "hidden": 4} | CLASSIFIERS[name]
    tm = make("classify", class_records(rng), {"pooling": pooling}, **encoder)
    sess = exported(tm, tmp_path)
    for n, longest in SIZES:
        batch = texts(rng, n, longest)
        got = run(sess, batch)
        want = tm.model.predict_probabilities(birnn_batch(tm, batch))
        assert_close(got["probabilities"], want, f"{name} probabilities (batch {n})")
        assert got["label"].tolist() == np.argmax(want, axis=1).tolist()
        assert got["label_name"].tolist() == tm.vocabs.labels.decode(got["label"])


@pytest.mark.parametrize("bidirectional", [True, False])
def test_fill_model_answers_equal_birnn(tmp_path: Path, bidirectional: bool):
    rng = np.random.default_rng(7)
    items = []
    for words in texts(rng, 30, 8):
        k = int(rng.integers(0, len(words)))
        answer, words[k] = words[k], BLANK
        items.append(ClozeItem(tuple(words), k, answer, False, "test"))
    tm = make("fill", items, {}, hidden=4, char_hidden=3, bidirectional=bidirectional)
    sess = exported(tm, tmp_path)
    for n, longest in SIZES:
        batch = texts(rng, n, longest)
        for words in batch:
            words[int(rng.integers(0, len(words)))] = BLANK
        got = run(sess, batch)
        want = tm.model.predict_probabilities(birnn_batch(tm, batch))
        assert_close(got["probabilities"], want, f"fill probabilities (batch {n})")
        assert got["label"].tolist() == np.argmax(want, axis=1).tolist()


def test_vocabularies_travel_in_the_metadata(tmp_path: Path):
    import json

    rng = np.random.default_rng(0)
    tm = make("tag", tag_records(rng), {"head": "softmax"}, hidden=3, char_hidden=2)
    export(tm, tmp_path / "m.onnx")
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert meta["birnn.task"] == "tag"
    assert json.loads(meta["birnn.vocabs"]) == tm.vocabs.to_json()
    assert meta["birnn.inputs"] == "tokens,lengths,chars"


# ---- the command line -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny tagger trained by ``birnn train`` (one epoch)."""
    root = tmp_path_factory.mktemp("run")
    data = root / "train.tsv"
    rng = np.random.default_rng(0)
    data.write_text("".join("\n".join(f"{w}\t{t}" for w, t in zip(r.words, r.tags)) + "\n\n"
                            for r in tag_records(rng)), encoding="utf-8")  # fmt: skip
    code, _, err = run_cli(["train", "--task", "tag", "--format", "columns", "--train", str(data),
                            "--out", str(root / "run"), "--epochs", "1", "--hidden", "4",
                            "--char-hidden", "2", "--word-dim", "5", "--no-progress"])  # fmt: skip
    assert code == 0, err
    return root / "run"


def test_cli_export_writes_a_model_that_runs(trained_run: Path, tmp_path: Path):
    out = tmp_path / "tagger.onnx"
    code, stdout, err = run_cli(["export", "--model", str(trained_run), "--out", str(out)])
    assert code == 0, err
    assert "inputs tokens, lengths, chars" in stdout
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    tm = pipeline.load(trained_run)
    batch = [["the", "dog", "ran"], ["Zebra"]]
    got = run(sess, batch)
    assert [got["tags"][i, : len(w)].tolist() for i, w in enumerate(batch)] == tm.model.predict(
        birnn_batch(tm, batch)
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "{tmp}/nothing"], "no checkpoint"),
        (["--model", "{run}", "--out", "{tmp}/missing/dir/m.onnx"], "No such file or directory"),
        (["--model", "{run}", "--out", "{tmp}"], "Is a directory"),
    ],
)
def test_cli_export_bad_input_is_one_line_and_no_file(trained_run: Path, tmp_path: Path,
                                                      args: list[str], message: str):  # fmt: skip
    argv = ["export", *[a.format(tmp=tmp_path, run=trained_run) for a in args]]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "m.onnx")]
    before = sorted(tmp_path.rglob("*"))
    code, _, err = run_cli(argv)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert "Traceback" not in err
    assert sorted(tmp_path.rglob("*")) == before
