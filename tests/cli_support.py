"""What the command-line tests share: running ``birnn`` in-process, generated data files with
a learnable pattern, a trained tagger, and the checks of a refused command.

Commands are written as shell lines (``shlex.split``); ``{name}`` fields are the data files of
the ``data`` fixture (temporary paths, without spaces). The fixtures are imported by the test
modules that use them.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shlex
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from birnn.cli import main
from birnn.data import TaggedSentence

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


EPOCH_LINE = re.compile(r"epoch \d+/\d+: train loss [\d.]+(, dev score [\d.]+( \(best\))?)?, lr ")


def ok(capsys: pytest.CaptureFixture[str], command: str, **paths: Any) -> str:
    """``birnn command``, which must succeed with nothing on stderr but one line per training
    epoch; returns its stdout."""
    code, out, err = cli(capsys, command, **paths)
    assert code == 0, err
    assert all(EPOCH_LINE.match(line) for line in err.splitlines()), err
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


def snapshot(*dirs: Path) -> dict[str, bytes]:
    """Every file under ``dirs`` (hidden ones included) and its bytes."""
    return {str(p): p.read_bytes() for d in dirs for p in sorted(d.rglob("*")) if p.is_file()}


def assert_refused(code: int, out: str, err: str, *needles: str, status: int = 2) -> None:
    """Exit ``status``, nothing on stdout, one line on stderr naming the problem, no traceback."""
    assert code == status, (code, err)
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err  # exactly one line
    assert "Traceback" not in err and err.startswith("birnn"), err
    for needle in needles:
        assert needle in err, (needle, err)


def nan_weights(path: Path, rehash: bool) -> None:
    """The word embedding of checkpoint ``path`` overwritten in place with NaN, bytes in the
    file; with ``rehash`` the recorded SHA-256 is updated too (weights that really are NaN)."""
    file = path / "model.safetensors"
    raw = bytearray(file.read_bytes())
    size = int.from_bytes(raw[:8], "little")
    begin, end = json.loads(raw[8 : 8 + size])["embed.weight"]["data_offsets"]
    at = 8 + size
    raw[at + begin : at + end] = np.full((end - begin) // 4, np.nan, np.float32).tobytes()
    file.write_bytes(bytes(raw))
    if rehash:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        config["sha256"]["model.safetensors"] = hashlib.sha256(bytes(raw)).hexdigest()
        (path / "config.json").write_text(json.dumps(config), encoding="utf-8")
