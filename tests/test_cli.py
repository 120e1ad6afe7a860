"""The ``birnn`` command line, end to end, through ``birnn.cli.main``: round trips for each task
(train -> checkpoint -> evaluate -> predict) on small generated files with a learnable pattern,
and bit-identical resume. Refusals are in test_cli_catalogue.py; the output directory's rules
(lock, overwrite, run.json) in test_cli_runs.py; prediction formats in test_predict.py.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import load_file

from birnn import pipeline
from birnn.data import TaggedSentence, read_columns, read_conllu
from birnn.train.trainer import TIMING_FIELDS
from cli_support import SMALL, cli, data, ok, results_of, tagger

__all__ = ["data", "tagger"]  # fixtures, imported for pytest

# -- tagging -------------------------------------------------------------------------------------


def token_accuracy(predicted: list[list[str]], gold: list[TaggedSentence]) -> tuple[float, int]:
    """(fraction of tokens whose predicted tag is the gold tag, tokens), counted here."""
    pairs = [(p, g) for tags, s in zip(predicted, gold) for p, g in zip(tags, s.tags, strict=True)]
    return sum(p == g for p, g in pairs) / len(pairs), len(pairs)


def test_train_writes_a_run_directory(tagger, data):
    out, printed = tagger
    assert {p.name for p in out.iterdir()} >= {"best", "last", "log.jsonl", "results.json"}
    results = results_of(out)
    assert results["train"]["epochs"] == 5
    assert results["dev"]["accuracy"] >= 0.95  # the pattern was learned
    best = pipeline.load(out / "best")
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert results["dev"]["accuracy"] == max(r["dev_accuracy"] for r in log)
    for split in ("dev", "test"):  # each split's own file, scored with the best model
        gold = read_conllu(data[split])
        accuracy, tokens = token_accuracy(best.predict(gold), gold)
        assert results[split]["tokens"] == tokens
        assert results[split]["accuracy"] == pytest.approx(accuracy)
    assert results["test"]["tokens"] != results["dev"]["tokens"]
    assert results["test"]["accuracy"] <= 1 - 1 / results["test"]["tokens"]  # INTJ: unseen
    assert f"dev: accuracy {100 * results['dev']['accuracy']:.2f}" in printed
    assert str(out) in printed.splitlines()[-1]


MODEL_OPTIONS = {  # EncoderConfig field -> (command-line option, value)
    "cell": ("--cell gru", "gru"),
    "hidden": ("--hidden 6", 6),
    "layers": ("--layers 2", 2),
    "bidirectional": ("--unidirectional", False),
    "word_dim": ("--word-dim 5", 5),
    "char_dim": ("--char-dim 3", 3),
    "char_hidden": ("--char-hidden 2", 2),
    "dropout": ("--dropout 0.2", 0.2),
    "word_dropout": ("--word-dropout 0.1", 0.1),
    "rare_word_dropout": ("--rare-word-dropout 0.25", 0.25),
}
TRAINING_OPTIONS = {  # TrainConfig field -> (command-line option, value)
    "epochs": ("--epochs 2", 2),
    "batch_size": ("--batch-size 4", 4),
    "optimizer": ("--optimizer sgd", "sgd"),
    "lr": ("--lr 0.1", 0.1),
    "momentum": ("--momentum 0.5", 0.5),
    "weight_decay": ("--weight-decay 0.01", 0.01),
    "clip": ("--clip 2", 2.0),
    "schedule": ("--schedule linear", "linear"),
    "warmup": ("--warmup 0.5", 0.5),
    "patience": ("--patience 3", 3),
    "seed": ("--seed 7", 7),
}


def test_every_model_and_training_option_reaches_its_config(capsys, tmp_path, data):
    """The command line builds a typed EncoderConfig and TrainConfig from its options."""
    options = [option for option, _ in (MODEL_OPTIONS | TRAINING_OPTIONS).values()]
    command = "train --task tag --train {train} --out {out} --no-progress " + " ".join(options)
    ok(capsys, command, out=tmp_path, **data)
    config = json.loads((tmp_path / "last" / "config.json").read_text(encoding="utf-8"))
    encoder = config["model"]["encoder"]
    assert {name: encoder[name] for name in MODEL_OPTIONS} == {
        name: value for name, (_, value) in MODEL_OPTIONS.items()
    }
    assert encoder["vocab_size"] == len(config["vocabs"]["words"]["tokens"])
    assert encoder["char_vocab_size"] == len(config["vocabs"]["chars"]["tokens"])
    trained = json.loads((tmp_path / "last" / "trainer.json").read_text(encoding="utf-8"))
    assert {name: trained["train_config"][name] for name in TRAINING_OPTIONS} == {
        name: value for name, (_, value) in TRAINING_OPTIONS.items()
    }


def test_evaluate_prints_text_and_json(capsys, tagger, data):
    out, _ = tagger
    text = ok(capsys, "evaluate --model {out} --data {dev}", out=out, **data)
    metrics = json.loads(ok(capsys, "evaluate --model {out} --data {dev} --json", out=out, **data))
    assert metrics == results_of(out)["dev"]
    assert metrics["tokens"] == sum(len(s.words) for s in read_conllu(data["dev"]))
    assert text == f"accuracy {100 * metrics['accuracy']:.2f}\n"


def test_predict_text_as_tsv_and_conllu(capsys, tagger):
    out, _ = tagger
    tsv = ok(capsys, "predict --model {out} --text 'the big dog eats .'", out=out)
    assert tsv == "the\tDET\nbig\tADJ\ndog\tNOUN\neats\tVERB\n.\tPUNCT\n\n"
    conllu = ok(capsys, "predict --model {out} --text 'a cat runs .' --output conllu", out=out)
    rows = [line.split("\t") for line in conllu.splitlines() if line]
    assert [len(r) for r in rows] == [10] * 4
    assert [(r[0], r[1], r[3]) for r in rows] == [
        ("1", "a", "DET"),
        ("2", "cat", "NOUN"),
        ("3", "runs", "VERB"),
        ("4", ".", "PUNCT"),
    ]


def test_predict_conllu_input_writes_conllu_that_reads_back(capsys, tmp_path, tagger, data):
    out, _ = tagger
    printed = ok(capsys, "predict --model {out} --input {dev} --output conllu", out=out, **data)
    path = tmp_path / "predicted.conllu"
    path.write_text(printed, encoding="utf-8")
    predicted, gold = read_conllu(path), read_conllu(data["dev"])
    assert [s.words for s in predicted] == [s.words for s in gold]
    accuracy, _ = token_accuracy([s.tags for s in predicted], gold)
    assert accuracy == pytest.approx(results_of(out)["dev"]["accuracy"]) and accuracy >= 0.95


def test_predict_plain_text_input_as_tsv(capsys, tagger, data):
    out, _ = tagger
    printed = ok(capsys, "predict --model {out} --input {raw}", out=out, **data)
    blocks = printed.strip("\n").split("\n\n")
    assert len(blocks) == 2  # the blank line of the input is not a text
    words = [line.split("\t")[0] for line in blocks[1].splitlines()]
    assert words == "this cat sees a tree .".split()


def test_predict_input_reads_like_every_data_file(capsys, tmp_path, tagger, data):
    """predict --input goes through the one file reader: gzip, a byte-order mark, CRLF."""
    out, _ = tagger
    text = data["raw"].read_text(encoding="utf-8")
    packed = tmp_path / "raw.txt.gz"
    packed.write_bytes(gzip.compress(("\ufeff" + text.replace("\n", "\r\n")).encode("utf-8")))
    plain = ok(capsys, "predict --model {out} --input {raw}", out=out, **data)
    assert ok(capsys, "predict --model {out} --input {packed}", out=out, packed=packed) == plain


def test_a_run_without_dev_is_usable_by_its_out_directory(capsys, tmp_path, data):
    ok(capsys, "train --task tag --train {train} --out {out} --epochs 1" + SMALL, out=tmp_path,
       **data)  # fmt: skip
    assert not (tmp_path / "best").exists()
    printed = ok(capsys, "evaluate --model {out} --data {dev}", out=tmp_path, **data)
    assert printed.startswith("accuracy")


def test_entity_tagging_with_a_crf_reports_f1(capsys, tmp_path, data):
    printed = ok(
        capsys,
        "train --task tag --train {ner_train} --dev {ner_dev} --scheme iob2 --head crf"
        " --out {out} --epochs 4" + SMALL,
        out=tmp_path,
        **data,
    )
    assert " f1 " in printed.splitlines()[0]
    loaded = pipeline.load(tmp_path)
    assert loaded.model.crf is not None and loaded.options["scheme"] == "iob2"

    js = ok(capsys, "evaluate --model {out} --data {ner_dev} --json", out=tmp_path, **data)
    metrics = json.loads(js)
    assert set(metrics["per_type"]) == {"PER", "LOC"}
    # the entities counted here, from the command line's own predictions of the dev file
    gold = read_columns(data["ner_dev"], scheme="iob2")
    texts = tmp_path / "ner_dev.txt"
    texts.write_text("".join(" ".join(s.words) + "\n" for s in gold), encoding="utf-8")
    printed = ok(capsys, "predict --model {out} --input {texts}", out=tmp_path, texts=texts)
    blocks = [
        [line.split("\t")[1] for line in b.splitlines()] for b in printed.strip("\n").split("\n\n")
    ]
    gold_spans = {(n, *span) for n, s in enumerate(gold) for span in iob2_spans(s.tags)}
    pred_spans = {(n, *span) for n, tags in enumerate(blocks) for span in iob2_spans(tags)}
    right = len(gold_spans & pred_spans)
    assert right > 0
    assert metrics["precision"] == pytest.approx(right / len(pred_spans))
    assert metrics["recall"] == pytest.approx(right / len(gold_spans))
    p, r = metrics["precision"], metrics["recall"]
    assert metrics["score"] == metrics["f1"] == pytest.approx(2 * p * r / (p + r))

    text = ok(capsys, "evaluate --model {out} --data {ner_dev}", out=tmp_path, **data)
    first, *per_type = text.splitlines()
    assert f"f1 {100 * metrics['f1']:.2f}" in first
    assert [line.split()[0] for line in per_type] == ["LOC", "PER"]

    tsv = ok(capsys, "predict --model {out} --text 'mary went to rome'", out=tmp_path)
    tags = [line.split("\t")[1] for line in tsv.splitlines() if line]
    assert len(tags) == 4 and all(t == "O" or t[:2] in ("B-", "I-") for t in tags)


def iob2_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, start, end) of well-formed IOB2 tags (B- starts, I- of the same type continues);
    an I- that continues nothing is its own entity, as conlleval reads it."""
    spans: list[list] = []
    for i, tag in enumerate(tags):
        kind = tag[2:]
        if tag.startswith("I-") and spans and spans[-1][0] == kind and spans[-1][2] == i:
            spans[-1][2] = i + 1
        elif tag != "O":
            spans.append([kind, i, i + 1])
    return [tuple(s) for s in spans]


# -- classification and fill-in-the-blank ------------------------------------------------------


def test_classify_round_trip(capsys, tmp_path, data):
    out = tmp_path / "run"
    printed = ok(
        capsys,
        "train --task classify --train {cls_train} --dev {cls_dev} --pooling final+max"
        " --out {out} --epochs 6" + SMALL,
        out=out,
        **data,
    )
    assert "macro_f1" in printed

    metrics = json.loads(ok(capsys, "evaluate --model {out} --data {cls_dev} --json", out=out,
                            **data))  # fmt: skip
    assert metrics["items"] == 20 and metrics["accuracy"] >= 0.85

    line = ok(capsys, "predict --model {out} --text 'the plot was great'", out=out)
    assert line == "pos\tthe plot was great\n"

    texts = tmp_path / "texts.txt"
    texts.write_text("really awful movie\nthe movie was fine\n", encoding="utf-8")
    printed = ok(capsys, "predict --model {out} --input {texts}", out=out, texts=texts)
    assert printed.splitlines() == ["neg\treally awful movie", "pos\tthe movie was fine"]


def test_fill_round_trip(capsys, tmp_path, data):
    out = tmp_path / "run"
    printed = ok(
        capsys,
        "train --task fill --train {fill_train} --dev {fill_dev} --out {out} --epochs 6" + SMALL,
        out=out,
        **data,
    )
    assert printed.startswith("dev: accuracy")

    metrics = json.loads(ok(capsys, "evaluate --model {out} --data {fill_dev} --json", out=out,
                            **data))  # fmt: skip
    assert metrics["items"] == 16 and metrics["accuracy"] >= 0.9

    line = ok(capsys, "predict --model {out} --text 'i saw a ___ sky today'", out=out)
    assert line == "i saw a ___ sky today\tblue\n"

    # a data file is also an input: its sentences are read, its answers ignored
    printed = ok(capsys, "predict --model {out} --input {fill_dev}", out=out, **data)
    lines = data["fill_dev"].read_text(encoding="utf-8").splitlines()
    assert [p.split("\t")[0] for p in printed.splitlines()] == [x.split("\t")[0] for x in lines]
    right = [p.split("\t")[1] == x.split("\t")[1] for p, x in zip(printed.splitlines(), lines)]
    assert np.mean(right) == pytest.approx(metrics["accuracy"])


# -- resume --------------------------------------------------------------------------------------


def test_resume_gives_the_run_that_was_never_interrupted(capsys, tmp_path, data):
    train = (
        "train --task tag --train {train} --dev {dev} --dropout 0.2 --word-dropout 0.1"
        " --seed 3 --out {out}" + SMALL
    )
    straight, split = tmp_path / "straight", tmp_path / "split"
    ok(capsys, train + " --epochs 4", out=straight, **data)
    ok(capsys, train + " --epochs 2", out=split, **data)
    assert len((split / "log.jsonl").read_text(encoding="utf-8").splitlines()) == 2
    ok(capsys, train + " --epochs 4 --resume", out=split, **data)

    for ckpt in ("last", "best"):
        a = load_file(straight / ckpt / "model.safetensors")
        b = load_file(split / ckpt / "model.safetensors")
        assert a.keys() == b.keys()
        for name in a:
            assert np.array_equal(a[name], b[name]), f"{ckpt}: {name}"

    def records(run: Path) -> list[dict[str, Any]]:
        lines = (run / "log.jsonl").read_text(encoding="utf-8").splitlines()
        return [{k: v for k, v in json.loads(x).items() if k not in TIMING_FIELDS} for x in lines]

    assert len(records(straight)) == 4
    assert records(split) == records(straight)


@pytest.mark.parametrize("command", ["", "demo", "train", "evaluate", "predict"])
def test_help_on_every_command_shows_the_defaults(capsys, command):
    out = ok(capsys, f"{command} --help")
    assert out.startswith(f"usage: birnn {command}".rstrip())
    if command:
        assert "--threads" in out and "(default: " in out
    if command == "train":
        assert "units per direction (default: 128)" in " ".join(out.split())


def test_version(capsys):
    import birnn

    code, out, _ = cli(capsys, "--version")
    assert (code, out) == (0, f"birnn {birnn.__version__}\n")


def test_starting_the_command_line_imports_neither_tqdm_nor_segtok():
    """They load where they are used (a bar on a terminal, raw text to split): together they
    were 0.3 of the 0.7 s `birnn --version` took."""
    code = "import sys, birnn.cli; loaded = {'tqdm', 'segtok'} & set(sys.modules); print(loaded)"
    src = Path(__file__).resolve().parent.parent / "src"
    env = dict(os.environ, PYTHONPATH=str(src))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "set()", done.stdout
