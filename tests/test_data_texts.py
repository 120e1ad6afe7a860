"""read_texts: the texts predict reads from a file, through the one file reader."""

from __future__ import annotations

import gzip
import re

import pytest

from birnn.data import DataError, read_texts


def test_one_text_per_line_and_labels_after_a_tab_ignored(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("the big dog .\n\n  \na ___ cat\tsmall\tright\n", encoding="utf-8")
    assert read_texts(path) == [["the", "big", "dog", "."], ["a", "___", "cat"]]


def test_gzip_bom_and_windows_line_endings(tmp_path):
    path = tmp_path / "texts.txt.gz"
    path.write_bytes(gzip.compress("\ufeffhello world\r\nbye\r\n".encode("utf-8")))
    assert read_texts(path) == [["hello", "world"], ["bye"]]


def test_errors_name_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("fine\n\tonly a label\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}:2: no words before the first"):
        read_texts(path)
    path.write_bytes(b"fine\n\xff\n")
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}:2: not valid UTF-8"):
        read_texts(path)
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: no texts"):
        read_texts(path)
