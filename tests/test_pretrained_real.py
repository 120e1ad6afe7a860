"""GloVe 6B 50d of ``../shared/data`` read in full and attached to WNUT-17's vocabulary (slow:
the file is 200,000 lines); skips when the data is absent."""

from __future__ import annotations

import numpy as np
import pytest

from birnn import pipeline, transfer
from birnn.data.embeddings import iter_vectors
from test_data_real import _data

GLOVE = "glove_6b_50d/glove.6B.50d.200k.txt.gz"


@pytest.mark.slow
def test_glove_reads_whole():
    count, first, last = 0, None, None
    for word, vector in iter_vectors(_data(GLOVE)):
        assert vector.shape == (50,)
        first = first or word
        last, count = word, count + 1
    assert (count, first, last) == (200_000, "the", "soroca")


@pytest.mark.slow
def test_glove_on_wnut17_coverage_and_kept_words():
    task = pipeline.get_task("tag")
    options = {"scheme": "iob2"}
    train = pipeline.read(task, _data("ner_wnut17/wnut17train.conll"), options)
    test = pipeline.read(task, _data("ner_wnut17/emerging.test.annotated"), options)
    vocabs = task.build_vocabs(train, 1, True, False)
    vocabs2, vectors = transfer.with_vectors(vocabs, _data(GLOVE), 100_000)
    report = transfer.vector_report(vectors, {"train": train, "test": test})
    assert report["training_words"] == len(vocabs.words) == 12_842
    assert report["training_words_with_vector"] == 7_340
    assert report["file_only_words"] == vectors.fixed_words == 93_148  # of the first 100k lines
    cov = report["coverage"]
    assert round(100 * cov["train"]["vector"], 1) == 88.5
    assert round(100 * cov["test"]["vector"], 1) == 92.7  # 80.6% without the file's words
    assert round(100 * cov["test"]["in_training"], 1) == 80.6
    assert vectors.vectors.dtype == np.float32 and len(vocabs2.words) == 12_842 + 93_148
