"""``birnn predict --workers N``: one file cut into pieces, one forked process each. It prints
the bytes one process prints (tags; probabilities to float32 rounding), names a bad line by its
line in the whole file, reports a process that died, and leaves no temporary file behind."""

from __future__ import annotations

import gzip
import itertools
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from birnn import _fork, predict_pieces
from birnn.corpus.layout import cut
from birnn.data._files import STDIN, content_size
from cli_support import assert_refused, cli, data, pos_sentences, tagger, write_conllu

__all__ = ["data", "tagger"]  # fixtures

pytestmark = pytest.mark.skipif(not _fork.can_fork(), reason="forks: Linux only")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """A CoNLL-U file, the same gzip-compressed, and one text per line."""
    root = tmp_path_factory.mktemp("inputs")
    conllu = write_conllu(root / "big.conllu", pos_sentences(400, seed=5))
    packed = root / "big.conllu.gz"
    packed.write_bytes(gzip.compress(conllu.read_bytes()))
    text = root / "big.txt"
    text.write_text("\n".join(" ".join(s.words) for s in pos_sentences(300, seed=6)) + "\n",
                    encoding="utf-8")  # fmt: skip
    return {"conllu": conllu, "gz": packed, "txt": text}


@pytest.fixture(autouse=True)
def own_tempdir(monkeypatch, tmp_path) -> Path:
    """Temporary directories in a folder of the test's own, to see that none is left."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _predict(capsys, model: Path, source: Path, output: str, workers: int) -> tuple[int, str, str]:
    return cli(capsys, f"predict --model {model} --input {source} --output {output} "
                       f"--workers {workers} --threads 2")  # fmt: skip


@pytest.mark.parametrize("kind", ["conllu", "gz", "txt"])
@pytest.mark.parametrize("most", [2, 3, None])
def test_cut_covers_the_file_in_pieces_that_end_with_a_sentence(inputs, kind, most):
    source = inputs[kind]
    content = gzip.decompress(source.read_bytes()) if kind == "gz" else source.read_bytes()
    assert content_size(source) == len(content)
    spans = cut(source, 2000, kind != "txt", most)
    assert len(spans) > 1 and (most is None or len(spans) == most)
    assert spans[0].start == 0 and spans[-1].end == len(content)
    for before, after in itertools.pairwise(spans):
        assert before.end == after.start
        piece = content[before.start : before.end]
        assert piece.endswith(b"\n\n" if kind != "txt" else b"\n"), piece[-40:]
        assert piece.count(b"\n") == after.first_line - before.first_line


@pytest.mark.parametrize(("kind", "output"), [("conllu", "conllu"), ("gz", "conllu"),
                                              ("conllu", "tsv"), ("txt", "tsv")])  # fmt: skip
def test_pieces_print_the_bytes_one_process_prints(capsys, tagger, inputs, kind, output,
                                                   own_tempdir):  # fmt: skip
    code, one, err = _predict(capsys, tagger[0], inputs[kind], output, 1)
    assert code == 0, err
    code, three, err = _predict(capsys, tagger[0], inputs[kind], output, 3)
    assert code == 0 and err == "", err
    assert three == one
    assert list(own_tempdir.iterdir()) == []


def test_pieces_give_the_same_tags_and_probabilities_to_float32_rounding(capsys, tagger, inputs):
    """The probabilities: a piece's texts share batches with other texts than in one process
    (see tests/test_corpus.py for why that can move float32's last digit)."""
    _, one, _ = _predict(capsys, tagger[0], inputs["conllu"], "json", 1)
    code, three, err = _predict(capsys, tagger[0], inputs["conllu"], "json", 3)
    assert code == 0, err
    ones, threes = one.splitlines(), three.splitlines()
    assert len(ones) == len(threes) == 400
    for a, b in zip(map(json.loads, ones), map(json.loads, threes)):
        assert a["tokens"] == b["tokens"] and a["tags"] == b["tags"]
        np.testing.assert_allclose(a["probabilities"], b["probabilities"], rtol=1e-5)


def test_a_bad_line_in_a_later_piece_is_named_by_its_line_in_the_file(capsys, tmp_path, tagger,
                                                                      own_tempdir):  # fmt: skip
    bad = write_conllu(tmp_path / "bad.conllu", pos_sentences(300, seed=3))
    lines = bad.read_text(encoding="utf-8").splitlines()
    at = len(lines) - 40  # in the last of three pieces
    lines[at] = "7\tbroken"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = bad.read_bytes()
    code, out, err = _predict(capsys, tagger[0], bad, "conllu", 3)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert f"{bad}:{at + 1}: expected 10 tab-separated columns" in err
    assert out.count("\n\n") > 150  # the first two pieces, printed before the error
    assert bad.read_bytes() == before
    assert list(own_tempdir.iterdir()) == []


def test_a_process_that_dies_is_one_line_and_leaves_nothing(capsys, monkeypatch, tagger, inputs,
                                                            own_tempdir):  # fmt: skip
    monkeypatch.setattr(predict_pieces, "_piece", lambda *args: os._exit(9))
    code, out, err = _predict(capsys, tagger[0], inputs["conllu"], "conllu", 2)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "stopped without finishing (exit status 9)" in err and "Traceback" not in err
    assert out.count("\n\n") > 150  # this process's piece, the first half
    assert list(own_tempdir.iterdir()) == []


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ("--input - --workers 2", "--workers 2 cuts a file: give --input a file, not -"),
        ("--text 'the dog runs .' --workers 2", "--workers 2 cuts a file: give --input, not"),
        (
            "--input {conllu} --workers 2 --out-dir {conllu}.out --dask tcp://127.0.0.1:9",
            "--workers 2 shares the tasks among processes here; with --dask",
        ),
        ("--input {conllu} --workers 0", "--workers"),
    ],
)
def test_bad_worker_options_are_one_line(capsys, tagger, inputs, options, needle):
    code, out, err = cli(capsys, f"predict --model {tagger[0]} " + options.format(**inputs))
    assert_refused(code, out, err, needle)
    assert not Path(f"{inputs['conllu']}.out").exists()


def test_by_default_a_large_file_gets_a_process_per_thread(monkeypatch, inputs):
    conllu = inputs["conllu"]
    monkeypatch.setattr(predict_pieces, "MIN_BYTES", conllu.stat().st_size)
    cores = os.cpu_count() or 1
    assert predict_pieces.workers_for(conllu, None, 2) == min(2, cores)
    assert predict_pieces.workers_for(conllu, None, 1) == 1
    assert predict_pieces.workers_for(STDIN, None, 2) == 1
    assert predict_pieces.workers_for(conllu, 3, 1) == 3  # asked for: as asked
    monkeypatch.setattr(predict_pieces, "MIN_BYTES", conllu.stat().st_size + 1)
    assert predict_pieces.workers_for(conllu, None, 2) == 1  # small: one process


def test_the_progress_bar_counts_the_texts_of_every_piece(capsys, monkeypatch, tagger, inputs):
    from birnn.train import progress

    counts: list[int] = []

    class Bar:  # tqdm's part that the bar uses
        def __init__(self, **options):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n=1):
            counts.append(n)

    monkeypatch.setattr(progress, "on_terminal", lambda: True)
    monkeypatch.setattr(progress, "_tqdm", lambda: Bar)
    code, _, err = _predict(capsys, tagger[0], inputs["conllu"], "conllu", 3)
    assert code == 0, err
    assert sum(counts) == 400 and len(counts) >= 3


def test_a_truncated_gzip_file_is_one_line(capsys, tmp_path, tagger, inputs, own_tempdir):
    cut_short = tmp_path / "short.conllu.gz"
    cut_short.write_bytes(inputs["gz"].read_bytes()[:-200])
    code, out, err = _predict(capsys, tagger[0], cut_short, "conllu", 2)
    assert_refused(code, out, err, f"{cut_short}: cannot read the file")
    assert list(own_tempdir.iterdir()) == []


def test_ctrl_c_stops_every_process_and_leaves_nothing(monkeypatch, tagger, inputs, own_tempdir):
    """Ctrl-C reaches this process (the forked ones ignore it): here while it writes its first
    chunk, the others still busy. Every other process is stopped and the temporary directory
    goes."""
    import multiprocessing
    import time

    from birnn import load

    monkeypatch.setattr(predict_pieces, "_piece", lambda *args: time.sleep(60))

    class Interrupted:
        def write(self, text):
            raise KeyboardInterrupt

        def flush(self):
            pass

    with pytest.raises(KeyboardInterrupt):
        predict_pieces.write_pieces(Interrupted(), load(tagger[0]), inputs["conllu"], "conllu",
                                    False, 3, 3)  # fmt: skip
    assert multiprocessing.active_children() == []  # stopped, not left to sleep
    assert list(own_tempdir.iterdir()) == []
