"""The readers on the real data sets of ``../shared/data``, against the counts in SOURCE.md.

Each test skips when its file is absent (a checkout without the shared data), and fails under
``CI=true`` instead (``shared_data.shared_file``).
"""

from __future__ import annotations

from collections import Counter

import pytest

from birnn.data import read_classification, read_columns, read_conllu, to_spans
from shared_data import shared_file as _data


@pytest.mark.parametrize(
    ("split", "sentences", "words"),
    [("train", 12_544, 204_577), ("dev", 2_001, 25_147), ("test", 2_077, 25_094)],
)
def test_ud_english_ewt(split, sentences, words):
    data = read_conllu(_data(f"ud_english_ewt/en_ewt-ud-{split}.conllu.gz"))
    assert len(data) == sentences
    assert sum(len(s) for s in data) == words  # syntactic words: ranges and empty nodes skipped
    if split == "dev":
        counts = Counter(tag for s in data for tag in s.tags)
        assert len(counts) == 17
        assert (counts["NOUN"], counts["PUNCT"], counts["X"]) == (4_210, 3_075, 59)


@pytest.mark.parametrize(
    ("name", "sentences", "tokens", "entities"),
    [
        ("wnut17train.conll", 3_394, 62_730, 1_975),  # breaks include 2,394 TAB-only lines
        ("emerging.dev.conll", 1_009, 15_733, 836),
        ("emerging.test.annotated", 1_287, 23_394, 1_079),
    ],
)
def test_wnut17(name, sentences, tokens, entities):
    data = read_columns(_data(f"ner_wnut17/{name}"), sep="\t", scheme="iob2")
    assert len(data) == sentences
    assert sum(len(s) for s in data) == tokens
    assert sum(len(to_spans(s.tags, "iob2")) for s in data) == entities
    if name == "wnut17train.conll":
        kinds = Counter(kind for s in data for kind, _, _ in to_spans(s.tags, "iob2"))
        assert kinds["person"] == 660 and kinds["creative-work"] == 140


@pytest.mark.parametrize(
    ("name", "labels"),
    [
        ("sentiment_sst/stsa.binary.train", {"0": 3_310, "1": 3_610}),
        ("sentiment_sst/stsa.binary.dev", {"0": 428, "1": 444}),
        ("sentiment_sst/stsa.fine.test", {"0": 279, "1": 633, "2": 389, "3": 510, "4": 399}),
        ("sentiment_poem/train.tsv", {"-1": 155, "0": 555, "1": 133, "2": 49}),
        ("sentiment_poem/dev.tsv", {"-1": 19, "0": 69, "1": 17}),
    ],
)
def test_sentence_classification(name, labels):
    data = read_classification(_data(name))
    assert Counter(t.label for t in data) == labels
    assert all(t.words for t in data)
