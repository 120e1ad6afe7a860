"""The ``birnn`` command line, end to end, through ``birnn.cli.main``.

Round trips for each task (train -> checkpoint -> evaluate -> predict) on small generated files
with a learnable pattern, bit-identical resume, and the bad-input contract: exit status 2, one
line on stderr naming the problem, no traceback, and no file of an existing run changed.

Commands are written as shell lines (``shlex.split``); ``{name}`` fields are the data files of
the ``data`` fixture (temporary paths, without spaces).
"""

from __future__ import annotations

import gzip
import io
import json
import shlex
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import load_file

from birnn import pipeline
from birnn.cli import main
from birnn.data import TaggedSentence, read_columns, read_conllu
from birnn.train.trainer import TIMING_FIELDS

SMALL = (
    " --hidden 8 --word-dim 8 --char-dim 4 --char-hidden 4 --layers 1 --lr 0.05"
    " --batch-size 8 --no-progress"
)
LEXICON = {
    "DET": ["the", "a", "this"],
    "ADJ": ["big", "red", "old"],
    "NOUN": ["dog", "cat", "bird", "man", "tree"],
    "VERB": ["runs", "sees", "eats", "likes"],
}


def argv(command: str, **paths: Any) -> list[str]:
    return shlex.split(command.format(**paths))


def cli(capsys: pytest.CaptureFixture[str], command: str, **paths: Any) -> tuple[int, str, str]:
    """Run ``birnn command`` as the console script does: (exit status, stdout, stderr)."""
    try:
        code = main(argv(command, **paths))
    except SystemExit as exit_:  # argparse: --help and usage errors
        code = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def ok(capsys: pytest.CaptureFixture[str], command: str, **paths: Any) -> str:
    """``birnn command``, which must succeed silently on stderr; returns its stdout."""
    code, out, err = cli(capsys, command, **paths)
    assert (code, err) == (0, ""), err
    return out


def quietly(command: str, **paths: Any) -> str:
    """``birnn command`` outside a test's capsys (module fixtures); asserts success."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv(command, **paths))
    assert code == 0, err.getvalue()
    return out.getvalue()


# -- generated data files ------------------------------------------------------------------------


def pos_sentences(count: int, seed: int) -> list[TaggedSentence]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        pattern = ["DET"] + ["ADJ"] * int(rng.integers(0, 2)) + ["NOUN", "VERB"]
        if rng.random() < 0.5:
            pattern += ["DET", "NOUN"]
        words = [LEXICON[t][int(rng.integers(len(LEXICON[t])))] for t in pattern]
        out.append(TaggedSentence([*words, "."], [*pattern, "PUNCT"]))
    return out


def write_conllu(path: Path, sentences: list[TaggedSentence]) -> Path:
    lines = []
    for k, s in enumerate(sentences):
        lines.append(f"# sent_id = {k + 1}")
        for i, (w, t) in enumerate(zip(s.words, s.tags), 1):
            head, rel = ("0", "root") if i == 1 else ("1", "dep")
            lines.append("\t".join([str(i), w, w, t, "_", "_", head, rel, "_", "_"]))
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_ner(path: Path, count: int, seed: int) -> Path:
    """CoNLL columns (word tag), IOB2: a person, some words, a place."""
    rng = np.random.default_rng(seed)
    people = [["john", "smith"], ["mary"], ["anna", "lee"], ["bob"]]
    places = [["paris"], ["new", "york"], ["rome"]]
    other = ["went", "to", "saw", "in", "and", "today", "visited"]
    blocks = []
    for _ in range(count):
        rows = []
        for kind, names in (("PER", people), ("O", None), ("LOC", places), ("O", None)):
            if names is None:
                rows += [f"{other[int(i)]} O" for i in rng.integers(len(other), size=2)]
            else:
                name = names[int(rng.integers(len(names)))]
                rows += [f"{w} {'B' if j == 0 else 'I'}-{kind}" for j, w in enumerate(name)]
        blocks.append("\n".join(rows))
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


def write_classification(path: Path, count: int, seed: int) -> Path:
    """``label text`` lines: the label follows from one cue word."""
    rng = np.random.default_rng(seed)
    cues = {"pos": ["good", "great", "fine"], "neg": ["bad", "awful", "dull"]}
    filler = ["the", "movie", "was", "really", "plot", "and"]
    lines = []
    for i in range(count):
        label = ("neg", "pos")[i % 2]
        words = [filler[int(j)] for j in rng.integers(len(filler), size=int(rng.integers(1, 5)))]
        words.insert(int(rng.integers(len(words) + 1)), cues[label][int(rng.integers(3))])
        lines.append(f"{label} {' '.join(words)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_fill(path: Path, count: int, seed: int) -> Path:
    """``sentence with ___<TAB>answer``: the colour follows from the thing named after it."""
    rng = np.random.default_rng(seed)
    things = {"red": ["rose", "tomato"], "blue": ["sky", "sea"], "green": ["grass", "leaf"]}
    lines = []
    for _ in range(count):
        colour = sorted(things)[int(rng.integers(3))]
        thing = things[colour][int(rng.integers(2))]
        lines.append(f"i saw a ___ {thing} today\t{colour}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("data")
    raw = d / "raw.txt"
    raw.write_text("the big dog eats .\n\nthis cat sees a tree .\n", encoding="utf-8")
    bad = d / "bad.conllu"
    bad.write_text("1\tthe\tthe\tDET\t_\t_\t0\troot\t_\t_\n2\tdog\tdog\tNOUN\n\n", "utf-8")
    (d / "empty.conllu").write_text("", encoding="utf-8")
    return {
        "train": write_conllu(d / "train.conllu", pos_sentences(48, seed=0)),
        "dev": write_conllu(d / "dev.conllu", pos_sentences(16, seed=1)),
        # another file than dev, with a tag never seen in training (always an error)
        "test": write_conllu(
            d / "test.conllu",
            [
                *pos_sentences(9, seed=2),
                TaggedSentence(
                    ["wow", "the", "dog", "runs", "."], ["INTJ", "DET", "NOUN", "VERB", "PUNCT"]
                ),
            ],
        ),
        "raw": raw,
        "bad": bad,
        "empty": d / "empty.conllu",
        "nothing": d / "nothing.conllu",
        "ner_train": write_ner(d / "ner_train.txt", 48, seed=0),
        "ner_dev": write_ner(d / "ner_dev.txt", 16, seed=1),
        "cls_train": write_classification(d / "cls_train.txt", 48, seed=0),
        "cls_dev": write_classification(d / "cls_dev.txt", 20, seed=1),
        "fill_train": write_fill(d / "fill_train.tsv", 48, seed=0),
        "fill_dev": write_fill(d / "fill_dev.tsv", 16, seed=1),
    }


@pytest.fixture(scope="module")
def tagger(tmp_path_factory, data) -> tuple[Path, str]:
    """A POS tagger trained through the command line: (its --out, what train printed)."""
    out = tmp_path_factory.mktemp("tagger")
    printed = quietly(
        "train --task tag --train {train} --dev {dev} --test {test} --out {out} --epochs 5" + SMALL,
        out=out,
        **data,
    )
    return out, printed


def results_of(out: Path) -> dict[str, Any]:
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


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


# -- bad input -----------------------------------------------------------------------------------


def snapshot(*dirs: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for d in dirs for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.fixture
def existing(tmp_path, tagger) -> Path:
    """A copy of a finished run, to check that a refused command leaves it as it was."""
    out = tmp_path / "existing"
    shutil.copytree(tagger[0], out)
    return out


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, tagger) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("checkpoints")
    garbage = d / "garbage"
    garbage.mkdir()
    (garbage / "model.safetensors").write_bytes(b"\x00\x01 not a safetensors file")
    (garbage / "config.json").write_text("{not json", encoding="utf-8")
    other = d / "other"
    shutil.copytree(tagger[0] / "best", other)
    (other / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 768}))
    return {"garbage": garbage, "other": other, "missing": d / "missing"}


def assert_refused(code: int, out: str, err: str, *needles: str) -> None:
    assert code == 2, (code, err)
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err  # exactly one line
    assert "Traceback" not in err and err.startswith("birnn"), err
    for needle in needles:
        assert needle in err, (needle, err)


TRAIN = "train --task tag --train {train} --out {out} --epochs 1" + SMALL  # a valid run
# case -> (command, words the one-line message must contain); later options override earlier
BAD_TRAINING: dict[str, tuple[str, list[str]]] = {
    "malformed train file": (TRAIN + " --train {bad}", ["bad.conllu:2:", "10"]),
    "malformed dev file": (TRAIN + " --dev {bad}", ["bad.conllu:2:"]),
    "malformed test file": (TRAIN + " --test {bad}", ["bad.conllu:2:"]),
    "empty train file": (TRAIN + " --train {empty}", ["empty.conllu"]),
    "missing train file": (TRAIN + " --train {nothing}", ["nothing.conllu"]),
    "missing dev file": (TRAIN + " --dev {nothing}", ["nothing.conllu"]),
    "unknown task": ("train --task foo --train {train} --out {out}", ["--task", "foo"]),
    "unknown cell": (TRAIN + " --cell foo", ["--cell", "foo"]),
    "unknown head": (TRAIN + " --head svm", ["--head", "svm"]),
    "unknown scheme": (TRAIN + " --scheme bilou", ["bilou"]),
    "unknown pooling": (
        "train --task classify --train {cls_train} --out {out} --pooling median" + SMALL,
        ["median"],
    ),
    "unknown schedule": (TRAIN + " --schedule zigzag", ["zigzag"]),
    "not a number": (TRAIN + " --hidden many", ["--hidden", "many"]),
    "dropout out of range": (TRAIN + " --dropout 1.5", ["1.5"]),
    "no epochs": (TRAIN + " --epochs 0", ["epochs"]),
    "no hidden units": (TRAIN + " --hidden 0", ["hidden"]),
    "plateau without dev": (TRAIN + " --schedule plateau", ["plateau", "--dev"]),
    "resume with another lr": (TRAIN + " --dev {dev} --epochs 6 --resume --lr 0.5", ["lr"]),
    "resume on other data": (
        TRAIN + " --train {dev} --dev {dev} --epochs 6 --resume",
        ["vocabs"],
    ),
    "missing required option": ("train --task tag --out {out}", ["--train"]),
}


@pytest.mark.parametrize("case", sorted(BAD_TRAINING))
def test_bad_training_input_is_refused_and_changes_nothing(capsys, data, existing, case):
    command, needles = BAD_TRAINING[case]
    before = snapshot(existing)
    assert_refused(*cli(capsys, command, out=existing, **data), *needles)
    assert snapshot(existing) == before


def test_resuming_where_there_is_no_run_is_refused(capsys, tmp_path, data):
    assert_refused(*cli(capsys, TRAIN + " --resume", out=tmp_path / "new", **data), "new")


def test_out_that_is_a_file_is_refused(capsys, tmp_path, data):
    target = tmp_path / "file"
    target.write_text("keep me", encoding="utf-8")
    assert_refused(*cli(capsys, TRAIN, out=target, **data), "file")
    assert target.read_text(encoding="utf-8") == "keep me"


@pytest.mark.parametrize("which", ["garbage", "other", "missing"])
@pytest.mark.parametrize(
    "command", ["evaluate --model {model} --data {dev}", "predict --model {model} --text hi"]
)
def test_unusable_checkpoints_are_refused(capsys, data, checkpoints, which, command):
    model = checkpoints[which]
    before = snapshot(*checkpoints.values())
    code, out, err = cli(capsys, command, model=model, **data)
    assert_refused(code, out, err, str(model))
    if which == "other":
        assert "not a birnn model" in err
    assert snapshot(*checkpoints.values()) == before


BAD_USE: dict[str, tuple[str, list[str]]] = {
    "evaluate malformed data": ("evaluate --model {out} --data {bad}", ["bad.conllu:2:"]),
    "evaluate empty data": ("evaluate --model {out} --data {empty}", ["empty.conllu"]),
    "evaluate missing data": ("evaluate --model {out} --data {nothing}", ["nothing.conllu"]),
    "predict empty input": ("predict --model {out} --input {empty}", ["empty.conllu"]),
    "predict missing input": ("predict --model {out} --input {nothing}", ["nothing.conllu"]),
    "predict empty text": ("predict --model {out} --text ' '", ["empty"]),
    "predict text and input": ("predict --model {out} --text a --input {raw}", ["--input"]),
    "predict unknown output": ("predict --model {out} --text a --output xml", ["xml"]),
}


@pytest.mark.parametrize("case", sorted(BAD_USE))
def test_bad_evaluate_and_predict_input_is_refused(capsys, data, existing, case):
    command, needles = BAD_USE[case]
    before = snapshot(existing)
    assert_refused(*cli(capsys, command, out=existing, **data), *needles)
    assert snapshot(existing) == before


def test_a_fill_text_without_one_blank_is_refused(capsys, tmp_path, data):
    ok(capsys, "train --task fill --train {fill_train} --out {out} --epochs 1" + SMALL,
       out=tmp_path, **data)  # fmt: skip
    for text in ("no blank here", "___ and ___"):
        command = f"predict --model {{out}} --text '{text}'"
        assert_refused(*cli(capsys, command, out=tmp_path), "___")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow on the way to NaN
def test_a_diverging_run_ends_with_one_line(capsys, tmp_path, data):
    command = TRAIN + " --epochs 3 --optimizer sgd --lr 1e38 --clip 0"
    code, _, err = cli(capsys, command, out=tmp_path, **data)
    assert code == 2 and "diverged" in err and err.count("\n") == 1 and "Traceback" not in err


def test_no_command_is_a_usage_error(capsys):
    code, out, err = cli(capsys, "")
    assert code == 2 and out == "" and err.count("\n") == 1 and "command" in err


@pytest.mark.parametrize("command", ["", "demo", "train", "evaluate", "predict"])
def test_help_on_every_command(capsys, command):
    out = ok(capsys, f"{command} --help")
    assert out.startswith(f"usage: birnn {command}".rstrip())
