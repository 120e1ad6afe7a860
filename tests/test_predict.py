"""Prediction: the Python predictor (``birnn.load``), streaming, probabilities, and the formats
``birnn predict`` writes (TSV, CoNLL-U in place, JSON), raw text through the tokenizer."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import birnn
from birnn import pipeline
from birnn.data import read_conllu
from birnn.predictor import CHUNK_FIRST, CHUNK_LARGEST, Prediction, chunks
from cli_support import SMALL, cli, data, ok, quietly, tagger

__all__ = ["data", "tagger"]  # fixtures, imported for pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def crf(tmp_path_factory, data) -> Path:
    out = tmp_path_factory.mktemp("crf")
    quietly("train --task tag --train {ner_train} --dev {ner_dev} --scheme iob2 --head crf "
            "--out {out} --epochs 3" + SMALL, out=out, **data)  # fmt: skip
    return out


# -- the Python predictor -----------------------------------------------------------------------


def test_load_predicts_strings_and_token_lists_one_or_many(tagger):
    p = birnn.load(tagger[0])
    one = p.predict("the big dog eats.")  # raw text: "eats." is two tokens
    assert isinstance(one, Prediction)
    assert one.tokens == ["the", "big", "dog", "eats", "."]
    assert one.tags == ["DET", "ADJ", "NOUN", "VERB", "PUNCT"]
    assert len(one.probabilities) == 5 and all(0.5 < q <= 1 for q in one.probabilities)
    assert p.predict(["the", "big", "dog", "eats", "."], pretokenized=True) == one
    assert p.predict("the big dog eats .", pretokenized=True) == one
    many = p.predict(["the big dog eats.", "a cat runs."])
    assert isinstance(many, list) and many[0] == one and many[1].tags[-1] == "PUNCT"
    assert p.predict([["a", "cat", "runs", "."], ("the", "dog", "sees", "a", "man")])[1].tags == [
        "DET", "NOUN", "VERB", "DET", "NOUN"]  # fmt: skip
    # the same tags as the pipeline's own prediction on records
    model = pipeline.load(tagger[0])
    assert one.tags == model.predict([model.task.unlabelled(one.tokens)])[0]


def test_probabilities_are_those_of_the_softmax(tagger):
    p = birnn.load(tagger[0])
    words = ["a", "red", "bird", "likes", "the", "tree", "."]
    got = p.predict(words, pretokenized=True)
    tm = p.task_model
    data = tm.encode([tm.task.unlabelled(words)])
    from birnn.tasks.base import make_batch

    batch = make_batch(data, [0], tm.forms, per_token=True)
    y, _ = tm.model.encoder.forward(batch)
    scores, _ = tm.model.out.forward(y)
    s = scores[0].astype(np.float64)
    softmax = np.exp(s - s.max(1, keepdims=True))
    softmax /= softmax.sum(1, keepdims=True)
    ids = tm.vocabs.labels.encode(got.tags)
    np.testing.assert_allclose(got.probabilities, softmax[np.arange(len(words)), ids], rtol=1e-6)
    assert ids == list(softmax.argmax(1))


def test_crf_probabilities_are_the_marginals_of_the_best_path(crf):
    p = birnn.load(crf)
    got = p.predict("mary went to new york", pretokenized=True)
    tm = p.task_model
    from birnn.tasks.base import make_batch

    batch = make_batch(tm.encode([tm.task.unlabelled(got.tokens)]), [0], tm.forms, True)
    y, _ = tm.model.encoder.forward(batch)
    scores, _ = tm.model.out.forward(y)
    marginals = tm.model.crf.marginals(scores, batch.lengths)[0]
    np.testing.assert_allclose(marginals.sum(1), 1.0, rtol=1e-6)
    ids = tm.vocabs.labels.encode(got.tags)
    assert ids == tm.model.crf.decode(scores, batch.lengths)[0].tolist()  # Viterbi, not argmax
    np.testing.assert_allclose(got.probabilities, marginals[np.arange(5), ids], rtol=1e-6)


def test_a_classifier_gives_its_most_probable_labels(tmp_path, data):
    quietly("train --task classify --train {cls_train} --out {out} --epochs 4" + SMALL,
            out=tmp_path, **data)  # fmt: skip
    got = birnn.load(tmp_path).predict("the plot was great")
    assert got.label == "pos" and got.tags is None
    assert list(got.probabilities) == ["pos", "neg"]  # best first
    assert sum(got.probabilities.values()) == pytest.approx(1.0)


def test_streaming_reads_its_input_chunk_by_chunk(tagger):
    """Over an iterator, results come before the input is exhausted, in input order."""
    p = birnn.load(tagger[0])
    pulled = []

    def texts():
        for i in range(10 * CHUNK_LARGEST):
            pulled.append(i)
            yield ["the", "dog", "runs", "."] if i % 2 else ["a", "cat", "."]

    stream = p.predict(texts(), pretokenized=True)
    first = next(stream)
    assert first.tokens == ["a", "cat", "."]
    assert len(pulled) == CHUNK_FIRST  # only the first chunk was read
    for i, prediction in enumerate(stream, start=1):
        assert len(prediction.tokens) == (4 if i % 2 else 3)
        if i == 100:
            break
    assert len(pulled) < 10 * CHUNK_LARGEST


def test_character_features_computed_once_for_all_batches_equal_each_batchs_own(tagger):
    from dataclasses import replace

    from birnn.models.batch import every_form
    from birnn.tasks.base import FormTable, make_batch, predict_all

    model = pipeline.load(tagger[0])
    sentences = [["the", "big", "dog", "eats", "."], ["a", "cat", "runs", "."],
                 ["zebras", "eat", "the", "qwertyuiop", "grass", "."], ["dog"]] * 20  # fmt: skip
    forms = FormTable(model.vocabs.chars)
    data = model.task.encode([model.task.unlabelled(s) for s in sentences], model.vocabs, forms)
    per_batch = predict_all(model.model.predict_probabilities, data, forms, 8, True)
    once = predict_all(model.model.predict_probabilities, data, forms, 8, True, None, None,
                       model.model.encoder.char_features)  # fmt: skip
    for (tags, p), (tags_once, p_once) in zip(per_batch, once):
        assert tags == tags_once
        np.testing.assert_allclose(p_once, p, rtol=1e-6)
    # the batch's own token features are those of its forms, looked up in the shared table
    every = every_form(data.forms, forms.spellings)
    every = replace(every, features=model.model.encoder.char_features(every.chars))
    batch = make_batch(data, [2, 3], forms, True, every)
    own = make_batch(data, [2, 3], forms, True)
    assert batch.chars is not None and own.chars is not None and every.features is not None
    mask = batch.mask()
    feats, _ = model.model.encoder.chars.forward(own.chars.ids, own.chars.lengths, False)
    np.testing.assert_allclose(
        every.features[batch.chars.index][mask], feats[own.chars.index][mask], rtol=1e-6
    )
    with pytest.raises(ValueError, match="for inference only"):
        model.model.encoder.forward(batch, training=True, rng=np.random.default_rng(0))


def test_case_patterns_are_computed_only_for_a_model_that_reads_them(tagger):
    from birnn.data.casing import case_id
    from birnn.tasks.base import FormTable, make_batch

    model = pipeline.load(tagger[0])
    assert model.model.encoder.case is None and model.forms.cases is None
    data = model.encode([model.task.unlabelled(["The", "DOG"])])
    assert make_batch(data, [0], model.forms, True).casing is None
    forms = FormTable(model.vocabs.chars)  # a table for a model that reads them
    data = model.task.encode([model.task.unlabelled(["The", "DOG"])], model.vocabs, forms)
    assert forms.cases == [case_id("The"), case_id("DOG")]
    casing = make_batch(data, [0], forms, True).casing
    assert casing is not None and casing.tolist() == [forms.cases]


def test_texts_to_predict_on_are_encoded_without_targets(tagger):
    """Prediction encodes the inputs alone (its records' labels are placeholders); the ids
    are those of the full encoding, and the batch carries no targets."""
    from birnn.tasks.base import FormTable, make_batch

    model = pipeline.load(tagger[0])
    records = [model.task.unlabelled(["The", "dog", "ran"]), model.task.unlabelled(["Yes"])]
    full = model.task.encode(records, model.vocabs, FormTable(model.vocabs.chars))
    forms = FormTable(model.vocabs.chars)
    inputs = model.task.encode(records, model.vocabs, forms, targets=False)
    assert inputs.targets is None and full.targets is not None
    assert (inputs.words, inputs.forms) == (full.words, full.forms)
    batch = make_batch(inputs, [0, 1], forms, True)
    assert batch.targets is None and batch.words.shape == (2, 3)


def test_the_command_collects_garbage_less_often_then_as_before():
    import gc

    from birnn.predict_io import fewer_collections

    before = gc.get_threshold()
    with pytest.raises(KeyError), fewer_collections(12345):
        assert gc.get_threshold() == (12345, *before[1:])
        raise KeyError("left by an error")
    assert gc.get_threshold() == before


def test_chunks_grow_from_small_to_large():
    total = 4 * CHUNK_LARGEST + 5
    sizes = [len(c) for c in chunks(range(total))]
    assert sizes[0] == CHUNK_FIRST and max(sizes) == CHUNK_LARGEST and sum(sizes) == total
    assert sizes == sorted(sizes[:-1]) + sizes[-1:]


def test_bad_texts_are_refused(tagger):
    p = birnn.load(tagger[0])
    with pytest.raises(TypeError, match="texts must be a str"):
        p.predict(42)
    with pytest.raises(TypeError, match="each text must be a str or a list of str"):
        p.predict([1, 2])
    with pytest.raises(ValueError, match="without tokens"):
        p.predict(["fine", "   "])
    with pytest.raises(TypeError, match="pretokenized must be a bool"):
        p.predict("x", pretokenized="yes")
    with pytest.raises(TypeError, match=r"birnn.load\(path\).predict\(texts\)"):
        pipeline.load(tagger[0]).predict("I saw her duck .")


# -- what birnn predict writes ------------------------------------------------------------------


def test_raw_text_is_split_into_sentences_and_tokens(capsys, tagger):
    out = ok(capsys, "predict --model {out} --text 'the dog runs. a cat sees the man.'",
             out=tagger[0])  # fmt: skip
    sentences = [[line.split("\t")[0] for line in block.splitlines()]
                 for block in out.strip().split("\n\n")]  # fmt: skip
    assert sentences == [["the", "dog", "runs", "."], ["a", "cat", "sees", "the", "man", "."]]
    kept = ok(capsys, "predict --model {out} --text 'the dog runs.' --pretokenized", out=tagger[0])
    assert [line.split("\t")[0] for line in kept.split()[::2]] == ["the", "dog", "runs."]


def test_json_output_one_object_per_text(capsys, tmp_path, tagger):
    texts = tmp_path / "texts.txt"
    texts.write_text("the big dog eats.\n\na cat runs.\n", encoding="utf-8")
    out = ok(capsys, "predict --model {out} --input {texts} --output json", out=tagger[0],
             texts=texts)  # fmt: skip
    objects = [json.loads(line) for line in out.splitlines()]
    assert [o["tokens"] for o in objects] == [["the", "big", "dog", "eats", "."],
                                              ["a", "cat", "runs", "."]]  # fmt: skip
    assert objects[0]["tags"] == ["DET", "ADJ", "NOUN", "VERB", "PUNCT"]
    assert set(objects[0]) == {"tokens", "tags", "probabilities"}
    assert all(0 < q <= 1 for o in objects for q in o["probabilities"])


CONLLU = """\
# newdoc id = d1
# sent_id = s1
# text = The dog don't run.
1\tThe\tthe\tDET\tDT\tDefinite=Def\t2\tdet\t2:det\t_
2\tdog\tdog\tNOUN\tNN\tNumber=Sing\t4\tnsubj\t4:nsubj\t_
3-4\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
3\tdo\tdo\tAUX\tVBP\t_\t5\taux\t5:aux\t_
4\tn't\tnot\tPART\tRB\t_\t5\tadvmod\t5:advmod\t_
5\trun\trun\tVERB\tVB\t_\t0\troot\t0:root\tSpaceAfter=No
5.1\tran\trun\tVERB\tVBD\t_\t_\t_\t2:conj\tCopyOf=5
6\t.\t.\tPUNCT\t.\t_\t5\tpunct\t5:punct\t_

# sent_id = s2
1\tA\ta\tDET\tDT\t_\t2\tdet\t_\t_
2\tcat\tcat\tNOUN\tNN\t_\t0\troot\t_\t_

"""


def _changed_cells(before: list[str], after: list[str]) -> set[tuple[int, int]]:
    """(line, column) of every cell that differs; lines must correspond one to one."""
    assert len(before) == len(after)
    out = set()
    for i, (a, b) in enumerate(zip(before, after)):
        ca, cb = a.split("\t"), b.split("\t")
        assert len(ca) == len(cb), (a, b)
        out |= {(i, j) for j, (x, y) in enumerate(zip(ca, cb)) if x != y}
    return out


def test_conllu_round_trip_changes_only_the_predicted_column(capsys, tmp_path, tagger):
    path = tmp_path / "in.conllu"
    path.write_text(CONLLU, encoding="utf-8")
    out = ok(capsys, "predict --model {out} --input {path} --output conllu", out=tagger[0],
             path=path)  # fmt: skip
    before, after = CONLLU.splitlines(), out.splitlines()
    changed = _changed_cells(before, after)
    assert all(column == 3 for _, column in changed)  # UPOS only
    words = {i for i, line in enumerate(before) if line.split("\t")[0].isdigit()}
    assert {i for i, _ in changed} <= words  # never a comment, a range or an empty node
    predicted = [line.split("\t")[3] for i, line in enumerate(after) if i in words]
    assert predicted[-2:] == ["DET", "NOUN"]
    restored = [a if i not in words else "\t".join(
        [*a.split("\t")[:3], before[i].split("\t")[3], *a.split("\t")[4:]])
        for i, a in enumerate(after)]  # fmt: skip
    assert "\n".join(restored) + "\n" == CONLLU  # byte-identical but for that column


def test_conllu_round_trip_of_a_real_treebank(capsys, tmp_path, tagger):
    source = SHARED / "ud_english_ewt" / "en_ewt-ud-dev.conllu.gz"
    if not source.is_file():
        pytest.skip(f"{source} is absent")
    text = gzip.decompress(source.read_bytes()).decode("utf-8")
    path = tmp_path / "dev.conllu"
    path.write_text(text, encoding="utf-8")
    out = ok(capsys, "predict --model {out} --input {path} --output conllu", out=tagger[0],
             path=path)  # fmt: skip
    changed = _changed_cells(text.splitlines(), out.splitlines())
    assert changed and {column for _, column in changed} == {3}
    assert len(read_conllu(tmp_path / "dev.conllu")) == 2001


def test_predict_reads_standard_input_as_it_arrives(tagger):
    """--input -: the first result comes out while the input is still open (streaming)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "birnn.cli", "predict", "--model", str(tagger[0]), "--input", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src")},
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        for _ in range(CHUNK_FIRST):
            child.stdin.write("the dog runs .\n")
        child.stdin.flush()
        assert child.stdout.readline() == "the\tDET\n"  # before stdin is closed
        child.stdin.close()
        assert child.wait(timeout=60) == 0
    finally:
        child.kill()
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()


# -- memory bounded by the chunk, not the input ------------------------------------------------


def _peak_rss(tagger: Path, sentences: int, tmp_path: Path) -> int:
    """Peak resident memory (kB) of ``birnn predict`` over a generated file of ``sentences``."""
    rng = np.random.default_rng(sentences)
    words = np.array("the a big red dog cat man tree runs sees eats likes .".split())
    path = tmp_path / f"{sentences}.txt"
    with open(path, "w", encoding="utf-8") as f:
        for n in rng.integers(3, 25, size=sentences):
            # fresh forms too (numbers), so that a table of word forms would grow with the input
            f.write(" ".join([*words[rng.integers(len(words), size=n)], str(rng.integers(1e9))]))
            f.write("\n")
    command = [sys.executable, "-m", "birnn.cli", "predict", "--model", str(tagger),
               "--input", str(path), "--pretokenized"]  # fmt: skip
    with open(os.devnull, "w") as sink:
        child = subprocess.Popen(command, stdout=sink, env={"PYTHONPATH": str(ROOT / "src")})
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    assert child.returncode == 0
    return usage.ru_maxrss


@pytest.mark.skipif(not hasattr(os, "wait4"), reason="needs os.wait4 (peak memory of a child)")
def test_predict_memory_does_not_grow_with_the_input(tmp_path, tagger):
    """100,000 sentences take no more memory than 10,000 (within 20%)."""
    small = _peak_rss(tagger[0], 10_000, tmp_path)
    large = _peak_rss(tagger[0], 100_000, tmp_path)
    print(f"peak RSS: {small} kB for 10,000 sentences, {large} kB for 100,000")
    assert large <= 1.2 * small, (small, large)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_only_on_a_terminal(monkeypatch, capsys, tagger):
    args = f"predict --model {tagger[0]} --text 'the dog runs.'"
    monkeypatch.setattr(sys, "stderr", _Terminal())
    ok(capsys, args)
    assert "texts" in sys.stderr.getvalue() and "\r" in sys.stderr.getvalue()
    monkeypatch.setattr(sys, "stderr", _Terminal())
    ok(capsys, args + " --no-progress")
    assert sys.stderr.getvalue() == ""
    monkeypatch.undo()
    code, _, err = cli(capsys, args)  # not a terminal: no bar
    assert code == 0 and err == ""
