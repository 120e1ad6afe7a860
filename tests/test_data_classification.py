"""read_classification on small files written by the tests."""

from __future__ import annotations

import re

import pytest

from birnn.data import DataError, LabelledText, read_classification


def _write(tmp_path, text: str, name: str = "a.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_label_space_text(tmp_path):
    path = _write(tmp_path, "1 a stirring , funny film\n\n0 wo n't  sit still\n")
    assert read_classification(path) == [
        LabelledText(["a", "stirring", ",", "funny", "film"], "1"),
        LabelledText(["wo", "n't", "sit", "still"], "0"),
    ]
    assert read_classification(path, format="label_text") == read_classification(path)


def test_tsv_with_id_text_label(tmp_path):
    path = _write(tmp_path, "0\twith pale blue berries.\t1\n1\tand so on.\t-1\n")
    assert read_classification(path) == [
        LabelledText(["with", "pale", "blue", "berries."], "1"),
        LabelledText(["and", "so", "on."], "-1"),
    ]


def test_tsv_with_text_label(tmp_path):
    path = _write(tmp_path, "good film\tpos\nbad\tneg\n")
    assert [t.label for t in read_classification(path, format="tsv")] == ["pos", "neg"]


@pytest.mark.parametrize(
    ("text", "fmt", "line", "words"),
    [
        ("1 good\n0\n", "auto", 2, "expected 'LABEL text'.*found only '0'"),
        ("0\tgood\t1\n1\tbad\n", "auto", 2, "expected 3 tab-separated cells.*like line 1; found 2"),
        ("only one cell\n", "tsv", 1, "expected 3 .* or 2 .*found 1"),
        ("0\ta\tb\tc\n", "auto", 1, "found 4"),
        ("0\t \t1\n", "auto", 1, "empty text"),
        ("good\t\n", "auto", 1, "empty label"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, text, fmt, line, words):
    path = _write(tmp_path, text)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}:{line}: .*{words}"):
        read_classification(path, format=fmt)


@pytest.mark.parametrize("text", ["", "\n \n"])
def test_empty_file_is_a_clear_error(tmp_path, text):
    path = _write(tmp_path, text)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: no texts"):
        read_classification(path)


def test_bad_format(tmp_path):
    with pytest.raises(ValueError, match=r"format must be one of.*received 'csv'"):
        read_classification(_write(tmp_path, "1 a\n"), format="csv")
