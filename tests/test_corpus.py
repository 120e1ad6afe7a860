"""Predicting on a corpus of files: each output is the bytes ``birnn predict --input FILE``
prints, in this process, in pieces, and on a Dask LocalCluster of 2 worker processes, one of
them killed mid-run; a file is never half written; existing outputs are refused.

The Dask tests skip, with the reason, where dask.distributed is absent.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import birnn
from birnn.corpus.layout import expand, pieces
from cli_support import assert_refused, cli, data, pos_sentences, tagger, write_conllu

__all__ = ["data", "tagger"]  # fixtures

try:
    import dask.bag as db
    from distributed import Client, LocalCluster
except ImportError:  # pragma: no cover - the dask extra
    db = None
NO_DASK = "needs dask.distributed: pip install '.[dask]'"
requires_dask = pytest.mark.skipif(db is None, reason=NO_DASK)

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"


def _text(path: Path, count: int, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [" ".join(s.words) for s in pos_sentences(count, seed)]
    lines.insert(count // 2, "")  # a blank line is skipped, as in one process
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Text files in two directories, a CoNLL-U file, and a large file of each kind."""
    root = tmp_path_factory.mktemp("corpus")
    for i in range(6):
        _text(root / ("deep" if i % 2 else ".") / f"doc{i}.txt", 30 + 7 * i, seed=i)
    write_conllu(root / "deep" / "treebank.conllu", pos_sentences(60, seed=7))
    _text(root / "big.txt", 900, seed=8)
    write_conllu(root / "big.conllu", pos_sentences(500, seed=9))
    return root


def _expected(capsys, model: Path, source: Path, output: str) -> str:
    code, out, err = cli(capsys, f"predict --model {model} --input {source} --output {output}")
    assert code == 0, err
    return out


def _same_as_one_process(capsys, model: Path, corpus: Path, out_dir: Path, output: str) -> None:
    sources, _ = expand(str(corpus / "**" / "*.*"))
    for source in sources:
        target = out_dir / source.relative_to(corpus)
        assert target.read_text(encoding="utf-8") == _expected(capsys, model, source, output), (
            target
        )
    left = sorted(p.name for p in out_dir.rglob(".*"))
    assert left == [], f"temporary or part files left: {left}"


@pytest.mark.parametrize("output", ["tsv", "conllu", "json"])
def test_out_dir_holds_what_birnn_predict_prints(capsys, tmp_path, tagger, corpus, output):
    model = tagger[0]
    code, out, err = cli(capsys, f"predict --model {model} --input '{corpus}/**/*.*' "
                                 f"--out-dir {tmp_path / 'tagged'} --output {output}")  # fmt: skip
    assert code == 0, err
    assert out.startswith("wrote 9 files to")
    _same_as_one_process(capsys, model, corpus, tmp_path / "tagged", output)


def test_pieces_of_large_files_join_to_the_whole(capsys, tmp_path, tagger, corpus):
    """Every sentence, token and tag as in one process; the probabilities to float32 rounding:
    a piece's sentences share batches with other sentences than in the whole file, and
    NumPy's OpenBLAS rounds a float32 product's row differently with the number of rows on
    some CPUs (measured on an AVX2 EPYC: x[:m] @ w differs from (x @ w)[:m] in the last bit)."""
    sources, base = expand(str(corpus / "big.*"))
    outs = birnn.predict_corpus(tagger[0], sources, tmp_path / "t", output="json", base=base,
                                chunk_bytes=2000)  # fmt: skip
    assert [o.name for o in outs] == ["big.conllu", "big.txt"]
    for source, out in zip(sources, outs):
        assert len(pieces(source, out, 2000, source.suffix == ".conllu")) > 5  # really cut
        got = out.read_text(encoding="utf-8").splitlines()
        want = _expected(capsys, tagger[0], source, "json").splitlines()
        assert len(got) == len(want)
        for line, expected in zip(got, want):
            ours, theirs = json.loads(line), json.loads(expected)
            assert ours.keys() == theirs.keys() and ours["tags"] == theirs["tags"]
            assert ours["tokens"] == theirs["tokens"]
            np.testing.assert_allclose(ours["probabilities"], theirs["probabilities"], rtol=1e-5)


@pytest.mark.parametrize("workers", [1, 3])
def test_processes_here_write_what_one_process_writes(capsys, tmp_path, tagger, corpus, workers):
    """--workers 3: the 9 files in turns among this process and 2 forked ones."""
    command = f"predict --model {tagger[0]} --input '{corpus}/**/*.*' --out-dir {tmp_path / 't'}"
    code, _, err = cli(capsys, f"{command} --output json --workers {workers}")
    assert code == 0, err
    _same_as_one_process(capsys, tagger[0], corpus, tmp_path / "t", "json")


def test_a_process_here_that_dies_is_one_line_and_leaves_no_part(capsys, monkeypatch, tmp_path,
                                                                 tagger, corpus):  # fmt: skip
    from birnn.corpus import work

    parent, real = os.getpid(), work.predict_piece

    def dies_if_forked(*args):
        if os.getpid() != parent:
            os._exit(7)
        return real(*args)

    monkeypatch.setattr(work, "predict_piece", dies_if_forked)
    out_dir = tmp_path / "t"
    outs = birnn.predict_corpus
    with pytest.raises(OSError, match=r"stopped without finishing \(exit status 7\)"):
        outs(tagger[0], sorted(corpus.glob("*.txt")), out_dir, workers=2, chunk_bytes=2000)
    assert sorted(p.name for p in out_dir.rglob(".*")) == []  # no part, no temporary file
    assert not (out_dir / "doc1.txt").exists()  # the dead process's; this one's are whole


def test_a_bad_file_here_is_named_and_the_files_before_it_are_written(capsys, tmp_path, tagger):
    root = tmp_path / "in"
    root.mkdir()
    for i in range(4):
        write_conllu(root / f"f{i}.conllu", pos_sentences(40, seed=i))
    bad = root / "f2.conllu"
    lines = bad.read_text(encoding="utf-8").splitlines()
    lines[30] = "7\tbroken"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out_dir = tmp_path / "t"
    with pytest.raises(birnn.data.DataError, match=f"{bad}:31:"):
        birnn.predict_corpus(tagger[0], sorted(root.glob("*.conllu")), out_dir, workers=3)
    assert sorted(p.name for p in out_dir.iterdir()) == ["f0.conllu", "f1.conllu"]  # as in one


@pytest.mark.parametrize(("workers", "client"), [(0, None), (True, None), (2, object())])
def test_bad_workers_are_refused(tagger, corpus, tmp_path, workers, client):
    with pytest.raises(ValueError, match="workers"):
        birnn.predict_corpus(tagger[0], [corpus / "doc0.txt"], tmp_path / "t", workers=workers,
                             client=client)  # fmt: skip
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("chunk_bytes", [1500, 1 << 30])  # in pieces, whole
def test_a_bad_line_is_named_as_in_one_process_and_nothing_is_written(
    capsys, tmp_path, tagger, chunk_bytes
):
    bad = tmp_path / "in" / "bad.conllu"
    bad.parent.mkdir()
    write_conllu(bad, pos_sentences(300, seed=3))
    lines = bad.read_text(encoding="utf-8").splitlines()
    lines[1500] = "7\tbroken"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _, _, err = cli(capsys, f"predict --model {tagger[0]} --input {bad}")
    with pytest.raises(birnn.data.DataError) as raised:
        birnn.predict_corpus(tagger[0], [bad], tmp_path / "t", chunk_bytes=chunk_bytes)
    assert f"{bad}:1501:" in str(raised.value) and str(raised.value) in err
    assert list((tmp_path / "t").rglob("*")) == []  # not even the part before the bad line


def test_existing_outputs_are_refused_and_left_alone(capsys, tmp_path, tagger, corpus):
    out_dir = tmp_path / "tagged"
    (out_dir / "deep").mkdir(parents=True)
    (out_dir / "deep" / "doc1.txt").write_text("mine\n", encoding="utf-8")
    code, out, err = cli(capsys, f"predict --model {tagger[0]} --input '{corpus}/**/*.txt' "
                                 f"--out-dir {out_dir}")  # fmt: skip
    assert_refused(code, out, err, "doc1.txt already exists")
    assert [p.name for p in out_dir.rglob("*") if p.is_file()] == ["doc1.txt"]
    assert (out_dir / "deep" / "doc1.txt").read_text(encoding="utf-8") == "mine\n"


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ("--text 'the dog' --out-dir {out}", "--out-dir reads files"),
        ("--input '{corpus}/*.nothing' --out-dir {out}", "matches no file"),
        ("--input {corpus}/big.txt --dask tcp://127.0.0.1:1", "--dask runs a corpus"),
    ],
)
def test_bad_corpus_options_are_one_line(capsys, tmp_path, tagger, corpus, options, needle):
    line = options.format(out=tmp_path / "o", corpus=corpus)
    code, out, err = cli(capsys, f"predict --model {tagger[0]} {line}")
    assert_refused(code, out, err, needle)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("model", ["missing", "empty"])
def test_a_bad_model_is_refused_as_birnn_predict_refuses_it(capsys, tmp_path, corpus, model):
    path = tmp_path / model
    if model == "empty":
        path.mkdir()
    _, _, alone = cli(capsys, f"predict --model {path} --input {corpus}/big.txt")
    code, out, err = cli(capsys, f"predict --model {path} --input '{corpus}/*.txt' "
                                 f"--out-dir {tmp_path / 'o'}")  # fmt: skip
    assert_refused(code, out, err)
    assert err == alone
    assert not (tmp_path / "o").exists()


@requires_dask
def test_an_unreachable_scheduler_is_one_line(capsys, monkeypatch, tmp_path, tagger, corpus):
    from birnn.corpus import command

    monkeypatch.setattr(command, "CONNECT_TIMEOUT", 1)  # nobody listens: no use waiting 20 s
    line = f"--input '{corpus}/*.txt' --out-dir {tmp_path / 'o'} --dask tcp://127.0.0.1:9"
    code, out, err = cli(capsys, f"predict --model {tagger[0]} {line}")
    assert_refused(code, out, err, "--dask tcp://127.0.0.1:9: cannot reach the scheduler")
    assert not (tmp_path / "o").exists()


# -- on a Dask cluster --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    if db is None:
        pytest.skip(NO_DASK)
    # the workers are new processes: birnn (and corpus_support) must be importable there too
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(SRC), str(HERE), *([old] if old else [])])
    try:  # the dashboard on a free port (":0"): another cluster may hold 8787
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=":0") as local:  # fmt: skip
            yield local
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = old


@requires_dask
def test_dask_cli_equals_one_process(capsys, tmp_path, tagger, corpus, cluster):
    code, _, err = cli(capsys, f"predict --model {tagger[0]} --input '{corpus}/**/*.*' "
                               f"--out-dir {tmp_path / 't'} --output conllu "
                               f"--dask {cluster.scheduler_address}")  # fmt: skip
    assert code == 0, err
    _same_as_one_process(capsys, tagger[0], corpus, tmp_path / "t", "conllu")
    import corpus_support

    with Client(cluster) as client:  # each worker loaded the model once, for all its tasks
        kept = client.run(corpus_support.loaded_models)
    checkpoint = str(birnn.pipeline.checkpoint_dir(tagger[0]).resolve())
    assert all(models in ([], [checkpoint]) for models in kept.values()), kept
    assert [checkpoint] in kept.values(), kept


@requires_dask
def test_a_bag_of_texts_gives_a_bag_of_predictions(tagger, cluster):
    texts = ["the dog runs .", "a big cat sees this tree .", "the man eats ."] * 5
    with Client(cluster) as client:
        bag = db.from_sequence(texts, npartitions=4)
        found = birnn.predict_corpus(tagger[0], bag).compute(scheduler=client.get)
    expected = birnn.load(tagger[0]).predict(texts)  # other batches: see the pieces' test
    assert len(found) == len(expected)
    for ours, theirs in zip(found, expected):
        assert (ours.tokens, ours.tags, ours.label) == (theirs.tokens, theirs.tags, theirs.label)
        np.testing.assert_allclose(ours.probabilities, theirs.probabilities, rtol=1e-5)


@requires_dask
def test_a_worker_killed_mid_run_changes_nothing(capsys, tmp_path, tagger, corpus, cluster):
    many = tmp_path / "many"
    for i in range(40):
        _text(many / f"part{i:02d}.txt", 150, seed=100 + i)
    out_dir = tmp_path / "t"
    killed: list[int] = []

    def kill_one_worker_once_the_first_output_is_there(client: Client) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(out_dir.glob("part*.txt")):
            time.sleep(0.01)
        pid = next(iter(client.run(os.getpid).values()))
        os.kill(pid, signal.SIGKILL)
        killed.append(len(list(out_dir.glob("part*.txt"))))

    with Client(cluster) as client:
        killer = threading.Thread(target=kill_one_worker_once_the_first_output_is_there,
                                  args=(client,))  # fmt: skip
        killer.start()
        sources = sorted(many.glob("*.txt"))
        birnn.predict_corpus(tagger[0], sources, out_dir, client=client, output="json")
        killer.join()
    assert killed and 0 < killed[0] < 40, killed  # killed mid-run
    _same_as_one_process(capsys, tagger[0], many, out_dir, "json")


@requires_dask
def test_a_task_that_fails_half_written_is_retried(capsys, tmp_path, tagger, corpus, cluster):
    import corpus_support

    out_dir = tmp_path / "t"
    sources = sorted(corpus.glob("*.txt"))  # tasks enough for both workers' first to fail
    with Client(cluster) as client:
        failed = client.run(corpus_support.fail_first_write)
        try:
            birnn.predict_corpus(tagger[0], sources, out_dir, client=client, base=corpus)
        finally:
            client.run(corpus_support.restore)
    assert len(failed) == 2
    for source in sources:  # retried in full: no half written output, no temporary file
        want = _expected(capsys, tagger[0], source, "tsv")
        assert (out_dir / source.name).read_text(encoding="utf-8") == want
    assert sorted(p.name for p in out_dir.rglob(".*")) == []


def test_import_birnn_needs_neither_mpi4py_nor_dask():
    code = ("import sys, birnn, birnn.cli, birnn.corpus, birnn.distributed; "
            "loaded = {'mpi4py', 'dask', 'distributed'} & set(sys.modules); "
            "assert not loaded, loaded")  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(SRC))
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
