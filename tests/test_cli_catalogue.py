"""A catalogue of bad input at the command line: each case must end with exit status 2 (130 for
Ctrl-C), nothing on stdout, one line on stderr naming the problem, no traceback, and every file
of an existing run (used as --out or --model) and of every input byte-identical afterwards.

Cases: malformed files of each format, data meant for another task or format, bad option
values, output directories that must not be used, broken checkpoints, and resource errors
(out of memory, a full disk, a permission, Ctrl-C, a bug) simulated where they cannot be made.
"""

from __future__ import annotations

import errno
import gzip
import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from birnn.data import TaggedSentence
from cli_support import (
    SMALL,
    assert_refused,
    cli,
    data,
    nan_weights,
    quietly,
    snapshot,
    tagger,
    write_conllu,
)

__all__ = ["data", "tagger"]  # fixtures, imported for pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bad(tmp_path_factory, data) -> dict[str, Path]:
    """Malformed files of each format, and data of one task named like another's."""
    d = tmp_path_factory.mktemp("bad")
    word = "1\tthe\tthe\tDET\t_\t_\t0\troot\t_\t_"
    texts = {
        "bad_id.conllu": f"{word}\nx\tdog\tdog\tNOUN\t_\t_\t1\tdep\t_\t_\n\n",
        "skipped_id.conllu": f"{word}\n3\tdog\tdog\tNOUN\t_\t_\t1\tdep\t_\t_\n\n",
        "empty_form.conllu": f"{word}\n2\t\tdog\tNOUN\t_\t_\t1\tdep\t_\t_\n\n",
        "no_words.conllu": "# sent_id = 1\n# text = nothing\n\n",
        "uneven.txt": "a B-PER x\nb O\n\nc O y\n",
        "empty_token.txt": "john\tB-PER\n\tO\nsmith\tI-PER\n\nmary\tB-PER\nran\tO\n",
        "bad_tag.txt": "a B-PER\nb X-PER\n\nc O\nd O\n",
        "one_column.txt": "a\nb\n\nc\n",
        "label_only.txt": "pos a fine movie\nneg\npos good\n",
        "uneven_cells.tsv": "a fine movie\tpos\nbad\tbad\tneg\n",
        "no_label.tsv": "a fine movie\tpos\na dull one\t\n",
        "two_blanks.tsv": "a ___ b ___\tx\n",
        "mixed.tsv": "a ___ c\tb\na plain sentence\n",
        "cls.tsv": "".join(f"a fine and {w} movie\t{w}\n" for w in ["good", "bad"] * 4),
    }
    files = {}
    for name, text in texts.items():
        (d / name).write_text(text, encoding="utf-8")
        files[Path(name).stem] = d / name
    files["not_utf8"] = d / "not_utf8.conllu"
    files["not_utf8"].write_bytes(f"{word}\n".encode() + b"2\t\xff\xfe\n\n")
    files["truncated"] = d / "truncated.conllu.gz"
    files["truncated"].write_bytes(gzip.compress(data["train"].read_bytes())[:200])
    files["conllu_as_txt"] = d / "ud.txt"
    shutil.copy(data["train"], files["conllu_as_txt"])
    return files


@pytest.fixture(scope="module")
def models(tmp_path_factory, data) -> dict[str, Path]:
    """A classifier and a fill-in-the-blank model, trained through the command line."""
    d = tmp_path_factory.mktemp("models")
    for name, train in (("classifier", "cls_train"), ("filler", "fill_train")):
        task = "classify" if name == "classifier" else "fill"
        quietly(f"train --task {task} --train {{{train}}} --out {{out}} --epochs 1" + SMALL,
                out=d / name, **data)  # fmt: skip
    return {"classifier": d / "classifier", "filler": d / "filler"}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, tagger) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("checkpoints")
    best = tagger[0] / "best"
    garbage = d / "garbage"
    garbage.mkdir()
    (garbage / "model.safetensors").write_bytes(b"\x00\x01 not a safetensors file")
    (garbage / "config.json").write_text("{not json", encoding="utf-8")
    other = d / "other"
    shutil.copytree(best, other)
    (other / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 768}))
    for name, rehash in (("nan", False), ("nan_rehashed", True)):
        shutil.copytree(best, d / name)
        nan_weights(d / name, rehash)
    (d / "a_file").write_text("not a directory", encoding="utf-8")
    names = ("garbage", "other", "nan", "nan_rehashed", "a_file")
    return {name: d / name for name in names} | {"missing": d / "missing"}


@pytest.fixture
def existing(tmp_path, tagger) -> Path:
    """A copy of a finished run, to check that a refused command leaves it as it was."""
    out = tmp_path / "existing"
    shutil.copytree(tagger[0], out)
    return out


@dataclass
class Case:
    command: str
    needles: list[str]  # words the one-line message must contain
    status: int = 2
    # before the command: change the run, simulate a fault (monkeypatch), or skip
    prepare: Callable[[Path, pytest.MonkeyPatch], None] | None = None


TRAIN = "train --task tag --train {train} --out {out} --overwrite --epochs 1" + SMALL  # valid
CLS = "train --task classify --train {cls_train} --out {out} --overwrite --epochs 1" + SMALL
FILL = "train --task fill --train {fill_train} --out {out} --overwrite --epochs 1" + SMALL


def _fault(target: str, error: BaseException) -> Callable[[Path, pytest.MonkeyPatch], None]:
    """A prepare step: ``target`` (module.attribute) raises ``error`` when called."""

    def raise_(*args: Any, **kwargs: Any) -> Any:
        raise error

    return lambda out, monkeypatch: monkeypatch.setattr(target, raise_)


def _edit_log(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = out / "log.jsonl"
    log.write_text(log.read_text(encoding="utf-8").replace('"epoch": 1', '"epoch": 7'), "utf-8")


def _drop_trainer_json(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (out / "last" / "trainer.json").unlink()


def _no_overcommit(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--hidden 200000 asks for 600 GB at once: refused at once only where the kernel does
    not overcommit memory (mode 0 or 2, Linux's default)."""
    mode = Path("/proc/sys/vm/overcommit_memory")
    if not mode.exists() or mode.read_text().strip() == "1":
        pytest.skip("this kernel overcommits memory: the allocation would not fail at once")


class _Locked:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def acquire(self) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", "/read-only/out/.lock")


CASES: dict[str, Case] = {
    # -- malformed files of each format
    "conllu: too few columns": Case(TRAIN + " --train {bad}", ["bad.conllu:2:", "10"]),
    "conllu: invalid id": Case(TRAIN + " --train {bad_id}", ["bad_id.conllu:2:", "invalid ID"]),
    "conllu: ids out of order": Case(TRAIN + " --train {skipped_id}", [":2:", "word ID 2"]),
    "conllu: empty form": Case(TRAIN + " --train {empty_form}", [":2:", "empty FORM"]),
    "conllu: no words": Case(TRAIN + " --train {no_words}", ["no_words.conllu:1:", "without"]),
    "not utf-8": Case(TRAIN + " --train {not_utf8}", ["not_utf8.conllu:2:", "UTF-8"]),
    "truncated gzip": Case(TRAIN + " --train {truncated}", ["truncated.conllu.gz", "cannot read"]),
    "empty train file": Case(TRAIN + " --train {empty}", ["empty.conllu", "no sentences"]),
    "missing train file": Case(TRAIN + " --train {nothing}", ["nothing.conllu", "no such file"]),
    "malformed dev file": Case(TRAIN + " --dev {bad}", ["bad.conllu:2:"]),
    "malformed test file": Case(TRAIN + " --test {bad}", ["bad.conllu:2:"]),
    "missing dev file": Case(TRAIN + " --dev {nothing}", ["nothing.conllu"]),
    "columns: uneven": Case(TRAIN + " --train {uneven}", ["uneven.txt:2:", "3 columns like"]),
    "columns: empty token": Case(TRAIN + " --train {empty_token} --scheme iob2",
                                 ["empty_token.txt:2:", "empty token", "delete the line"]),
    "columns: tag outside scheme": Case(TRAIN + " --train {bad_tag} --scheme iob2",
                                        ["bad_tag.txt:2:", "'X-PER' is not valid in IOB2"]),
    "columns: one column": Case(TRAIN + " --train {one_column}", ["one_column.txt:1:", "2 col"]),
    "scheme on pos tags": Case(TRAIN + " --scheme iob2",
                               ["train.conllu:2:", "UPOS", "'DET' is not valid in IOB2"]),
    "label text: no text": Case(CLS + " --train {label_only}", ["label_only.txt:2:", "LABEL"]),
    "tsv: uneven cells": Case(CLS + " --train {uneven_cells}", ["uneven_cells.tsv:2:", "2 tab"]),
    "tsv: empty label": Case(CLS + " --train {no_label}", ["no_label.tsv:2:", "empty label"]),
    "cloze: two blanks": Case(FILL + " --train {two_blanks}", ["two_blanks.tsv:1:", "one ___"]),
    "cloze: mixed lines": Case(FILL + " --train {mixed}", ["mixed.tsv", "mixes"]),
    # -- data meant for another task or format
    "conllu to classify": Case(CLS + " --train {train}", ["train.conllu:2:", "CoNLL-U", "tag"]),
    "columns to classify": Case(CLS + " --train {ner_train}",
                                ["ner_train.txt:1:", "CoNLL column file"]),
    "classification to tag": Case(TRAIN + " --train {cls_train}",
                                  ["cls_train.txt:1:", "classification data"]),
    "cloze to classify": Case(CLS + " --train {fill_train}", ["fill_train.tsv:1:", "--task fill"]),
    "columns to fill": Case(FILL + " --train {ner_train}", ["ner_train.txt:1:", "column file"]),
    "tsv to fill": Case(FILL + " --train {cls}", ["cls.tsv:1:", "--task classify"]),
    "conllu read as columns": Case(TRAIN + " --format columns", ["--format conllu"]),
    "columns read as conllu": Case(TRAIN + " --train {ner_train} --format conllu",
                                   ["ner_train.txt:1:", "--format columns"]),
    "classification to evaluate a tagger": Case("evaluate --model {out} --data {cls_dev}",
                                                ["cls_dev.txt:1:", "classification"]),
    # -- option values
    "lr infinite": Case(TRAIN + " --lr inf", ["lr must be a finite number >= 0; received inf"]),
    "lr negative": Case(TRAIN + " --lr -1", ["lr must be a finite number >= 0; received -1"]),
    "lr nan": Case(TRAIN + " --lr nan", ["lr", "nan"]),
    "clip nan": Case(TRAIN + " --clip nan", ["clip", "nan"]),
    "momentum infinite": Case(TRAIN + " --momentum inf", ["momentum", "inf"]),
    "warmup negative": Case(TRAIN + " --warmup -1", ["warmup", "-1"]),
    "warmup without one": Case(TRAIN + " --schedule exponential --warmup 1", ["no warmup"]),
    "dropout out of range": Case(TRAIN + " --dropout 1.5", ["dropout", "1.5"]),
    "word dropout 1": Case(TRAIN + " --word-dropout 1", ["word_dropout", "[0, 1)"]),
    "no epochs": Case(TRAIN + " --epochs 0", ["epochs must be >= 1; received 0"]),
    "no hidden units": Case(TRAIN + " --hidden 0", ["hidden must be >= 1; received 0"]),
    "hidden not a number": Case(TRAIN + " --hidden many", ["--hidden", "many"]),
    "batch size 0": Case(TRAIN + " --batch-size 0", ["batch_size", "0"]),
    "patience negative": Case(TRAIN + " --patience -1", ["patience", "-1"]),
    "seed negative": Case(TRAIN + " --seed -1", ["seed", "-1"]),
    "min count 0": Case(TRAIN + " --min-count 0", ["min_count", "0"]),
    "threads 0": Case(TRAIN + " --threads 0", ["--threads", "integer >= 1; received 0"]),
    "peer timeout 0": Case(TRAIN + " --peer-timeout 0", ["--peer-timeout", "> 0; received 0"]),
    "peer timeout infinite": Case(TRAIN + " --peer-timeout inf", ["--peer-timeout", "inf"]),
    "threads not a number": Case("predict --model {out} --text a --threads x", ["--threads"]),
    "unknown task": Case("train --task foo --train {train} --out {out}", ["--task", "foo"]),
    "unknown cell": Case(TRAIN + " --cell foo", ["--cell", "foo"]),
    "unknown head": Case(TRAIN + " --head svm", ["--head", "svm"]),
    "unknown scheme": Case(TRAIN + " --scheme bilou", ["bilou"]),
    "unknown pooling": Case(CLS + " --pooling median", ["median"]),
    "unknown schedule": Case(TRAIN + " --schedule zigzag", ["zigzag"]),
    "unknown column": Case(TRAIN + " --column nope", ["column", "nope"]),
    "unknown format": Case(TRAIN + " --format xml", ["--format", "xml"]),
    "missing required option": Case("train --task tag --out {out}", ["--train"]),
    "plateau without dev": Case(TRAIN + " --schedule plateau", ["plateau", "--dev"]),
    # -- output directories
    "out is a file": Case(TRAIN + " --out {a_file}", ["a directory, not a file"]),
    "a run there already": Case(TRAIN.replace(" --overwrite", ""),
                                ["already holds a run", "--resume", "--overwrite"]),
    "resume with another lr": Case(TRAIN + " --dev {dev} --epochs 6 --resume --lr 0.5",
                                   ["differs in ['lr']"]),
    "resume on other data": Case(TRAIN + " --train {dev} --dev {dev} --epochs 6 --resume",
                                 ["vocabs"]),
    "resume with another model": Case(TRAIN + " --dev {dev} --epochs 6 --resume --hidden 9",
                                      ["model"]),
    "resume where there is no run": Case(TRAIN + " --out {missing} --resume", ["no run to cont"]),
    "resume with an edited log": Case(TRAIN + " --dev {dev} --epochs 6 --resume",
                                      ["not the log it was saved with"], prepare=_edit_log),
    "resume without trainer state": Case(TRAIN + " --dev {dev} --epochs 6 --resume",
                                         ["trainer.json"], prepare=_drop_trainer_json),
    # -- broken checkpoints
    "model: garbage": Case("evaluate --model {garbage} --data {dev}", ["garbage"]),
    "model: another program's": Case("predict --model {other} --text hi", ["not a birnn"]),
    "model: missing": Case("predict --model {missing} --text hi", ["missing", "no checkpoint"]),
    "model: a file": Case("evaluate --model {a_file} --data {dev}", ["not a checkpoint dir"]),
    "model: weights overwritten": Case("predict --model {nan} --text hi", ["SHA-256"]),
    "model: NaN weights": Case("evaluate --model {nan_rehashed} --data {dev}",
                               ["embed.weight", "NaN"]),
    # -- evaluate and predict
    "evaluate malformed data": Case("evaluate --model {out} --data {bad}", ["bad.conllu:2:"]),
    "evaluate empty data": Case("evaluate --model {out} --data {empty}", ["empty.conllu"]),
    "evaluate missing data": Case("evaluate --model {out} --data {nothing}", ["nothing.conllu"]),
    "predict empty input": Case("predict --model {out} --input {empty}", ["empty.conllu"]),
    "predict missing input": Case("predict --model {out} --input {nothing}", ["nothing.conllu"]),
    "predict empty text": Case("predict --model {out} --text ' '", ["empty"]),
    "predict text and input": Case("predict --model {out} --text a --input {raw}", ["--input"]),
    "predict unknown output": Case("predict --model {out} --text a --output xml", ["xml"]),
    "predict columns input": Case("predict --model {out} --input {ner_dev}", ["cut -f1"]),
    "predict conllu from a classifier": Case("predict --model {classifier} --text a "
                                             "--output conllu", ["for taggers"]),
    "fill text without a blank": Case("predict --model {filler} --text 'no blank'", ["___"]),
    "fill text with two blanks": Case("predict --model {filler} --text '___ and ___'", ["___"]),
    # -- export
    "export a missing model": Case("export --model {missing} --out {missing}.onnx",
                                   ["no checkpoint"]),
    "export into a missing directory": Case("export --model {out} --out {missing}/m.onnx",
                                            ["No such file or directory", "m.onnx"]),
    "export onto a directory": Case("export --model {out} --out {out}", ["Is a directory"]),
    "export without onnx": Case("export --model {out} --out {missing}.onnx",
                                ["needs the onnx package", "birnn[onnx]"],
                                prepare=lambda out, mp: mp.setitem(sys.modules, "onnx", None)),
    # -- resources, simulated where they cannot be made
    "out of memory": Case(TRAIN + " --hidden 200000 --char-hidden 0",
                          ["out of memory", "Unable to allocate"], prepare=_no_overcommit),
    "disk full": Case(TRAIN, ["No space left on device", "run.json"],
                      prepare=_fault("birnn.train.outdir.write_json",
                                     OSError(errno.ENOSPC, "No space left on device",
                                             "out/run.json"))),
    "permission denied": Case(TRAIN, ["Permission denied", ".lock"],
                              prepare=lambda out, mp: mp.setattr("birnn.train.outdir.FileLock",
                                                                 _Locked)),
    "ctrl-c in the first epoch": Case(TRAIN, ["interrupted"], status=130,
                                      prepare=_fault("birnn.train.trainer.Trainer._loss_and_grads",
                                                     KeyboardInterrupt())),
    "a bug": Case(TRAIN, ["internal error", "RuntimeError", "boom", "please report"],
                  prepare=_fault("birnn.pipeline.create", RuntimeError("boom"))),
    "diverged": Case(TRAIN + " --optimizer sgd --lr 1e38 --clip 0", ["diverged", "lower lr"]),
}  # fmt: skip


def test_the_catalogue_is_large():
    assert len(CASES) >= 50


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the diverging run overflows on its way
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_refused_in_one_line_and_changes_nothing(
    capsys, monkeypatch, data, bad, models, checkpoints, existing, case
):
    c = CASES[case]
    files = data | bad | models | checkpoints
    inputs = [p.parent for p in (data["train"], bad["bad_id"], checkpoints["garbage"])]
    inputs += list(models.values())
    if c.prepare is not None:
        c.prepare(existing, monkeypatch)
    before = snapshot(existing, *inputs)
    assert_refused(*cli(capsys, c.command, out=existing, **files), *c.needles, status=c.status)
    monkeypatch.undo()
    assert snapshot(existing, *inputs) == before


def test_a_run_holding_the_lock_is_named_by_its_pid(capsys, data, existing):
    """Another process holds --out: refused, with its PID, and nothing changes."""
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from birnn.train import outdir
            with outdir.lock(Path({str(existing)!r})):
                print("held", flush=True)
                time.sleep(60)
            """)],
        stdout=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src")},
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        before = snapshot(existing)
        code, out, err = cli(capsys, TRAIN + " --resume --epochs 6", out=existing, **data)
        assert_refused(code, out, err, f"in use by process {holder.pid}")
        assert snapshot(existing) == before
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()


def test_a_broken_pipe_ends_quietly(tmp_path, tagger, data):
    """``birnn predict ... | head -1``: the reader goes away; no error, no traceback."""
    big = tmp_path / "many.conllu"
    write_conllu(big, [TaggedSentence(["the", "dog", "runs", "."], ["_"] * 4)] * 3000)
    command = (
        f"{sys.executable} -m birnn.cli predict --model {tagger[0]} --input {big} "
        f"--output conllu | head -1"
    )
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert done.stdout == "# sent_id = 1\n"  # the input's first line, comments kept
    assert done.stderr == "" and done.returncode == 0
