"""Recognising a data file's kind from its first lines (``birnn.data.formats``), on small files
of each kind and on the real data sets; what each reader then refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from birnn.data import DataError, read_classification, read_cloze, read_columns, read_conllu
from birnn.data.formats import is_conllu_data, recognise

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

KINDS = {
    "conllu": "# sent_id = 1\n1\tA\ta\tDET\t_\t_\t2\tdet\t_\t_\n"
    "2\tdog\tdog\tNOUN\t_\t_\t0\troot\t_\t_\n",
    "columns": "John B-PER\nran O\n\nMary B-PER\nsat O\n",
    "cloze": "the ___ sat\tcat\na ___ ran\tdog\n",
    "tsv": "".join(f"{i}\ta rather fine movie {i}\tpos\n" for i in range(6)),
    "label_text": "".join(f"pos a {'very ' * i}fine movie\n" for i in range(6)),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_is_recognised(tmp_path, kind):
    path = tmp_path / "data.txt"
    path.write_text(KINDS[kind], encoding="utf-8")
    found = recognise(path)
    assert found is not None and found.kind == kind
    assert found.line == (2 if kind == "conllu" else 1)


@pytest.mark.parametrize(
    "text",
    ["", "a single sentence of words\n", "a O\nb O\n", "same three words\nsame three words\n"],
)
def test_unclear_files_are_not_recognised(tmp_path, text):
    """Too little evidence: no reader refuses such a file on its kind."""
    path = tmp_path / "data.txt"
    path.write_text(text, encoding="utf-8")
    assert recognise(path) is None


READERS = {
    "conllu": read_conllu,
    "columns": lambda p: read_columns(p, scheme=None),
    "cloze": read_cloze,
    "classification": read_classification,
}
ACCEPTS = {  # reader -> the kinds it reads
    "conllu": {"conllu"},
    "columns": {"columns"},
    "cloze": {"cloze", "label_text"},
    "classification": {"tsv", "label_text"},
}


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_reader_refuses_the_kinds_it_does_not_read(tmp_path, reader, kind):
    path = tmp_path / "data.txt"
    path.write_text(KINDS[kind], encoding="utf-8")
    if kind in ACCEPTS[reader]:
        assert READERS[reader](path)
    else:
        with pytest.raises(DataError, match=r"data.txt:\d+: this looks like .*not "):
            READERS[reader](path)


def test_conllu_by_name_or_content(tmp_path):
    path = tmp_path / "treebank.txt"
    path.write_text(KINDS["conllu"], encoding="utf-8")
    assert is_conllu_data(path) and is_conllu_data(tmp_path / "missing.conllu")
    other = tmp_path / "other.txt"
    other.write_text(KINDS["columns"], encoding="utf-8")
    assert not is_conllu_data(other)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("ud_english_ewt/en_ewt-ud-train.conllu.gz", "conllu"),
        ("ner_wnut17/wnut17train.conll", "columns"),
        ("ner_wnut17/emerging.test.annotated", "columns"),
        ("sentiment_sst/stsa.binary.train", "label_text"),
        ("sentiment_sst/stsa.fine.dev", "label_text"),
        ("sentiment_poem/train.tsv", "tsv"),
    ],
)
def test_the_real_data_sets_are_what_they_are(name, kind):
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    found = recognise(path)
    assert found is not None and found.kind == kind
