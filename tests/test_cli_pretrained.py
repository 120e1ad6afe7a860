"""The command line's pretrained-knowledge options, end to end: --embeddings (tag, classify,
fill), --embeddings-max-words, --freeze-embeddings, --init-from, --case-dim, the init choices
and --no-constraints; and their bad input (exit 2, one line, nothing changed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from birnn import pipeline
from cli_support import (
    SMALL,
    assert_refused,
    cli,
    ok,
    quietly,
    results_of,
    snapshot,
    write_classification,
    write_fill,
    write_ner,
)

NO_WIDTH = SMALL.replace(" --word-dim 8", "")  # the vectors set the width
DIM = 6


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pretrained")
    rng = np.random.default_rng(0)
    words = ["paris", "rome", "london", "john", "mary", "went", "to", "good", "bad", "the"]
    vectors = d / "vectors.txt"
    lines = [w + " " + " ".join(f"{x:.4f}" for x in rng.standard_normal(DIM)) for w in words]
    vectors.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bad = d / "bad.vec"
    bad.write_text(f"2 {DIM}\n" + lines[0] + "\nrome 1 2\n", encoding="utf-8")
    return {
        "vectors": vectors,
        "bad_vectors": bad,
        "ner_train": write_ner(d / "ner_train.txt", 40, seed=0),
        "ner_dev": write_ner(d / "ner_dev.txt", 12, seed=1),
        "cls_train": write_classification(d / "cls_train.txt", 40, seed=0),
        "fill_train": write_fill(d / "fill_train.tsv", 40, seed=0),
    }


NER = "train --task tag --train {ner_train} --dev {ner_dev} --scheme iob2 --out {out} --epochs 2"


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory, files) -> Path:
    out = tmp_path_factory.mktemp("ner")
    quietly(NER + " --embeddings {vectors} --case-dim 3" + NO_WIDTH, out=out, **files)
    return out


def test_embeddings_report_coverage_and_reach_the_model(capsys, tmp_path, files):
    printed = ok(
        capsys, NER + " --embeddings {vectors} --test {ner_dev}" + NO_WIDTH, out=tmp_path, **files
    )
    first = printed.splitlines()[0]
    assert first.startswith(f"embeddings {files['vectors']}: dim {DIM}")
    assert "train " in first and "dev " in first and "test " in first
    report = results_of(tmp_path)["embeddings"]
    assert set(report["coverage"]) == {"train", "dev", "test"}
    assert 0.3 < report["coverage"]["train"]["vector"] < 1.0  # "smith", "york", ... have none
    encoder = json.loads((tmp_path / "best" / "config.json").read_text())["model"]["encoder"]
    assert encoder["word_dim"] == DIM and encoder["fixed_words"] == 4  # london, good, bad, the
    words = pipeline.load(tmp_path).vocabs.words
    assert words.index("good") >= len(words) - 4  # a word of the file alone


def test_an_unseen_word_is_tagged_from_its_vector(capsys, ner_run, files):
    model = pipeline.load(ner_run)
    assert model.vocabs.words.index("London") != model.vocabs.words.unk_index  # from the file
    tsv = ok(capsys, "predict --model {out} --text 'Mary went to London'", out=ner_run)
    assert len([line for line in tsv.splitlines() if line]) == 4


def test_embeddings_max_words_and_freezing(capsys, tmp_path, files):
    ok(
        capsys,
        NER + " --embeddings {vectors} --embeddings-max-words 0 --freeze-embeddings"
        " --tuned-word-dim 3" + NO_WIDTH,
        out=tmp_path,
        **files,
    )
    model = pipeline.load(tmp_path)
    encoder = model.model.config.encoder
    assert encoder.fixed_words == 0 and encoder.freeze_embeddings and encoder.tuned_word_dim == 3
    vectors = dict(
        (line.split(" ", 1)[0], np.array(line.split()[1:], dtype=np.float32))
        for line in files["vectors"].read_text().splitlines()
    )
    row = model.model.params["embed.weight"][model.vocabs.words.index("paris")]
    np.testing.assert_array_equal(row, vectors["paris"])  # frozen: as in the file


@pytest.mark.parametrize(
    "command",
    [
        "train --task classify --train {cls_train} --out {out} --epochs 1 --embeddings {vectors}",
        "train --task fill --train {fill_train} --out {out} --epochs 1 --embeddings {vectors}",
    ],
)
def test_classify_and_fill_read_embeddings_too(capsys, tmp_path, files, command):
    ok(capsys, command + NO_WIDTH, out=tmp_path, **files)
    assert pipeline.load(tmp_path).model.config.encoder.word_dim == DIM


def test_case_dim_inits_and_constraints_reach_the_config(ner_run, capsys, tmp_path, files):
    config = json.loads((ner_run / "best" / "config.json").read_text())
    assert config["model"]["encoder"]["case_dim"] == 3
    assert config["model"]["scheme"] == "iob2" and config["model"]["tags"][0] == "B-LOC"
    ok(
        capsys,
        NER + " --no-constraints --word-init normal --char-init normal" + SMALL,
        out=tmp_path,
        **files,
    )
    config = json.loads((tmp_path / "best" / "config.json").read_text())
    assert config["model"]["scheme"] is None
    assert (
        config["model"]["encoder"]["word_init"]
        == config["model"]["encoder"]["char_init"]
        == "normal"
    )


def test_init_from_a_fill_run(capsys, tmp_path, files):
    fill = "train --task fill --train {fill_train} --out {fill} --epochs 1" + SMALL
    ok(capsys, fill, fill=tmp_path / "fill", **files)
    tag = NER + " --init-from {fill}" + SMALL
    printed = ok(capsys, tag, out=tmp_path / "tag", fill=tmp_path / "fill", **files)
    line = next(x for x in printed.splitlines() if x.startswith("init-from"))
    assert "loaded" in line and "rnn.weight_ih_l0" not in line  # a count, not a list


@pytest.fixture
def existing(tmp_path, ner_run) -> Path:
    out = tmp_path / "existing"
    shutil.copytree(ner_run, out)
    return out


BAD = {
    "a malformed vectors file": (
        NER + " --embeddings {bad_vectors}" + NO_WIDTH,
        ["bad.vec:3:", "2 values"],
    ),
    "a missing vectors file": (NER + " --embeddings {out}/nothing.txt" + NO_WIDTH, ["nothing.txt"]),
    "a conflicting --word-dim": (
        NER + " --embeddings {vectors}" + SMALL,
        ["--word-dim 8", f"{DIM}-dimensional"],
    ),
    "negative --embeddings-max-words": (
        NER + " --embeddings {vectors} --embeddings-max-words -1" + NO_WIDTH,
        ["--embeddings-max-words", "-1"],
    ),
    "--init-from a run that is not there": (NER + " --init-from {out}/none" + SMALL, ["none"]),
    "--init-from an incompatible run": (
        NER + " --init-from {out} --hidden 5" + SMALL.replace(" --hidden 8", ""),
        ["rnn.weight_hh_l0", "here", "in"],
    ),
    "unknown --char-init": (NER + " --char-init zeros" + SMALL, ["--char-init", "zeros"]),
    "negative --case-dim": (NER + " --case-dim -2" + SMALL, ["case_dim", "-2"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_refused_and_changes_nothing(capsys, files, existing, case):
    command, needles = BAD[case]
    before = snapshot(existing)
    # --overwrite: the run in --out is replaceable, so only the bad option can stop the command
    code, out, err = cli(capsys, command + " --overwrite", out=existing, **files)
    out = "\n".join(x for x in out.splitlines() if not x.startswith("embeddings "))
    assert_refused(code, out, err, *needles)
    assert snapshot(existing) == before
