"""Text that birnn writes for people and files, pinned character for character: the score
tables, the confusion matrix, cloze and CoNLL-U lines, and the reprs of the building blocks."""

from __future__ import annotations

import numpy as np

from birnn.data import BLANK, ClozeItem, Vocab, conllu_lines, write_cloze
from birnn.heads import CRF
from birnn.layers import CharFeatures, Dropout, Embedding, Linear, Pooling
from birnn.metrics import format_confusion, format_span_scores, span_f1


def test_span_score_table():
    scores = span_f1([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-PER"]])
    assert format_span_scores(scores) == (
        "       precision  recall      f1  support  predicted\n"
        "  LOC     0.0000  0.0000  0.0000        1          0\n"
        "  PER     0.5000  1.0000  0.6667        1          2\n"
        "micro     0.5000  0.5000  0.5000        2          2\n"
        "token accuracy 0.7500 over 4 tokens"
    )


def test_confusion_table_is_as_wide_as_its_widest_cell():
    small = np.array([[1, 0, 0], [2, 3, 0], [0, 1, 0]])
    assert format_confusion(small, ["a", "b"]) == (
        "gold\\pred         a         b  <unseen>\n"
        "        a         1         0         0\n"
        "        b         2         3         0\n"
        " <unseen>         0         1         0"
    )
    long_name = format_confusion(small, ["a", "very-positive"]).splitlines()
    assert long_name[0] == "    gold\\pred             a very-positive      <unseen>"
    big = np.array([[12345678901, 0, 0], [0, 0, 0], [0, 0, 0]])
    assert format_confusion(big, ["a", "b"]).splitlines()[1] == (
        "          a 12345678901           0           0"
    )


def test_cloze_file_text(tmp_path):
    items = [
        ClozeItem(("i", "am", BLANK, "hungry"), 2, "very", True, "f"),
        ClozeItem((BLANK, "dog", "runs"), 0, "the", False, "f"),
    ]
    write_cloze(items, tmp_path / "items.tsv")
    assert (tmp_path / "items.tsv").read_bytes() == (
        b"i am ___ hungry\tvery\tright\n___ dog runs\tthe\tleft\n"
    )
    write_cloze([ClozeItem(("ü", BLANK), 1, "ö", False, "f")], tmp_path / "utf8.tsv")
    assert (tmp_path / "utf8.tsv").read_bytes() == "ü ___\tö\tleft\n".encode()


def test_conllu_lines_put_the_tag_in_upos_by_default():
    assert list(conllu_lines(["a", "dog"], ["DET", "NOUN"])) == [
        "1\ta\t_\tDET\t_\t_\t_\t_\t_\t_",
        "2\tdog\t_\tNOUN\t_\t_\t_\t_\t_\t_",
    ]
    assert list(conllu_lines(["a"], ["x"], column="xpos")) == ["1\ta\t_\t_\tx\t_\t_\t_\t_\t_"]


def test_reprs():
    rng = np.random.default_rng(0)
    assert repr(Linear(3, 2, rng)) == "Linear(3, 2, bias=True)"
    assert repr(Linear(3, 2, rng, bias=False)) == "Linear(3, 2, bias=False)"
    assert repr(CRF(4, rng)) == "CRF(4, constrained=False)"
    assert repr(CRF(2, rng, allowed_end=np.array([True, False]))) == "CRF(2, constrained=True)"
    assert repr(Dropout(0.25)) == "Dropout(p=0.25)"
    assert repr(Embedding(5, 3, rng, padding_idx=0)) == "Embedding(5, 3, padding_idx=0)"
    assert repr(CharFeatures(9, 3, 4, rng, cell="gru")) == "CharFeatures(9, 3, 4, cell='gru')"
    assert repr(Pooling("final+max", split=3)) == "Pooling('final+max', split=3)"
    assert (
        repr(Vocab.build([["a"]])) == "Vocab(3 tokens, unk='<unk>', pad='<pad>', lowercase=False)"
    )
