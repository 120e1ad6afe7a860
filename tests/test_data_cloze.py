"""read_cloze, blank_out and write_cloze: fill-in-the-blank files through the one file reader."""

from __future__ import annotations

import gzip
import re

import numpy as np
import pytest

from birnn.data import BLANK, ClozeItem, DataError, blank_out, read_cloze, write_cloze


def test_cloze_lines_with_and_without_the_right_cell(tmp_path):
    path = tmp_path / "items.tsv"
    path.write_text(
        f"i am {BLANK} hungry , so i eat\tvery\tright\n\nthe dog {BLANK} .\tbarks\n", "utf-8"
    )
    assert read_cloze(path) == [
        ClozeItem(("i", "am", BLANK, "hungry", ",", "so", "i", "eat"), 2, "very", True, "file"),
        ClozeItem(("the", "dog", BLANK, "."), 2, "barks", False, "file"),
    ]


def test_gzip_bom_and_windows_line_endings_read_like_plain_text(tmp_path):
    text = f"\ufeffthe dog {BLANK} .\tbarks\r\na {BLANK} cat\tsmall\tleft\r\n"
    plain, packed = tmp_path / "a.tsv", tmp_path / "a.tsv.gz"
    plain.write_text(text, encoding="utf-8")
    packed.write_bytes(gzip.compress(text.encode("utf-8")))
    assert read_cloze(packed) == read_cloze(plain)
    assert read_cloze(plain)[0].words[0] == "the"  # the byte-order mark is not part of a word


def test_written_items_read_back(tmp_path):
    items = [
        ClozeItem(("a", BLANK), 1, "b", True, "hunger"),
        ClozeItem((BLANK, "x", "y"), 0, "z", False, "sequence"),
    ]
    write_cloze(items, tmp_path / "out.tsv")
    again = read_cloze(tmp_path / "out.tsv")
    assert [(it.words, it.blank, it.answer, it.needs_right) for it in again] == [
        (it.words, it.blank, it.answer, it.needs_right) for it in items
    ]


def test_plain_sentences_hide_one_word_each_the_same_way_for_a_seed(tmp_path):
    path = tmp_path / "plain.txt"
    path.write_text("the dog runs fast\nhi\nshe saw an owl\n", encoding="utf-8")
    items = read_cloze(path, seed=5)
    assert items == read_cloze(path, seed=5)
    assert items == blank_out([["the", "dog", "runs", "fast"], ["hi"], ["she", "saw", "an", "owl"]],
                              np.random.default_rng(5))  # fmt: skip
    assert len(items) == 2 and all(it.words[it.blank] == BLANK for it in items)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (f"a {BLANK}\tb\nno blank here\tc\n", 2, "one ___"),
        (f"a {BLANK} {BLANK}\tb\n", 1, "one ___"),
        (f"a {BLANK}\t \n", 1, "answer"),
        (f"a {BLANK}\tb\tright\textra\n", 1, "answer"),
    ],
)
def test_bad_cloze_lines_name_file_and_line(tmp_path, text, line, words):
    path = tmp_path / "bad.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}:{line}: .*{re.escape(words)}"):
        read_cloze(path)


def test_mixed_and_empty_files_are_clear_errors(tmp_path):
    mixed = tmp_path / "mixed.tsv"
    mixed.write_text(f"a plain sentence\na {BLANK}\tb\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"mixes cloze lines .*line 2.*plain sentences .*line 1"):
        read_cloze(mixed)
    empty = tmp_path / "empty.tsv"
    empty.write_text("\n \n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"^{re.escape(str(empty))}: no items"):
        read_cloze(empty)
    with pytest.raises(DataError, match=r"bad.tsv:1: not valid UTF-8"):
        (tmp_path / "bad.tsv").write_bytes(b"caf\xe9 \t x\n")
        read_cloze(tmp_path / "bad.tsv")
