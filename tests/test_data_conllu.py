"""read_conllu on small CoNLL-U files written by the tests."""

from __future__ import annotations

import gzip
import re

import pytest

from birnn.data import DataError, TaggedSentence, conllu_lines, is_conllu, read_conllu


def _line(*cells: str) -> str:
    return "\t".join(cells)


def _word(i: str, form: str, upos: str, xpos: str = "_", deprel: str = "dep") -> str:
    return _line(i, form, form.lower(), upos, xpos, "_", "0", deprel, "_", "_")


GOOD = "\n".join(
    [
        "# sent_id = 1",
        "# text = I don't know.",
        _word("1", "I", "PRON", "PRP", "nsubj"),
        _line("2-3", "don't", *["_"] * 8),  # multiword token: skipped
        _word("2", "do", "AUX", "VBP", "aux"),
        _word("3", "n't", "PART", "RB", "advmod"),
        _word("4", "know", "VERB", "VB", "root"),
        _word("4.1", "know", "VERB", "_", "_"),  # empty node: skipped
        _word("5", ".", "PUNCT", ".", "punct"),
        "",
        "# sent_id = 2",
        _word("1", "Yes", "INTJ"),
        "",
    ]
)


def test_reads_words_and_skips_ranges_and_empty_nodes(tmp_path):
    path = tmp_path / "a.conllu"
    path.write_text(GOOD, encoding="utf-8")
    sentences = read_conllu(path)
    assert sentences == [
        TaggedSentence(["I", "do", "n't", "know", "."], ["PRON", "AUX", "PART", "VERB", "PUNCT"]),
        TaggedSentence(["Yes"], ["INTJ"]),
    ]


def test_other_columns_and_missing_values(tmp_path):
    path = tmp_path / "a.conllu"
    path.write_text(GOOD, encoding="utf-8")
    assert read_conllu(path, "xpos")[0].tags == ["PRP", "VBP", "RB", "VB", "."]
    assert read_conllu(path, "xpos")[1].tags == ["_"]  # a missing value stays "_"
    assert read_conllu(str(path), "deprel")[0].tags[0] == "nsubj"
    assert read_conllu(path, "lemma")[0].tags[0] == "i"


def test_gzip_is_read_transparently_and_windows_line_endings(tmp_path):
    path = tmp_path / "a.conllu.gz"
    path.write_bytes(gzip.compress(GOOD.replace("\n", "\r\n").encode("utf-8")))
    assert [len(s) for s in read_conllu(path)] == [5, 1]


def test_no_trailing_blank_line_and_many_blank_lines(tmp_path):
    path = tmp_path / "a.conllu"
    path.write_text("\n\n" + GOOD.rstrip("\n") + "\n\n\n\n" + _word("1", "End", "X"), "utf-8")
    assert [len(s) for s in read_conllu(path)] == [5, 1, 1]


def _bad(tmp_path, lines: list[str]):
    path = tmp_path / "bad.conllu"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("lines", "line", "words"),
    [
        ([_word("1", "a", "X"), _line("2", "b", "b", "X")], 2, "10 tab-separated.*found 4"),
        ([_word("1", "a", "X"), _word("1-x", "b", "X")], 2, "invalid ID"),
        (["# c", _word("1", "a", "X"), _word("3", "b", "X")], 3, "expected word ID 2.*'3'"),
        ([_word("2", "a", "X")], 1, "expected word ID 1"),
        ([_word("1", "a", "X"), "", _word("1", "b", "")], 3, "empty UPOS"),
        ([_word("1", "a", "X"), "", "# only a comment", "", _word("1", "b", "X")], 3, "without"),
        (["one  two  spaces"], 1, "found 1"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, lines, line, words):
    path = _bad(tmp_path, lines)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}:{line}: .*{words}"):
        read_conllu(path)


def test_invalid_utf8_names_its_line(tmp_path):
    path = tmp_path / "bad.conllu"
    path.write_bytes(
        _word("1", "a", "X").encode() + b"\n" + _word("2", "\xff", "X").encode("latin-1")
    )
    with pytest.raises(DataError, match=rf"{re.escape(str(path))}:2: not valid UTF-8"):
        read_conllu(path)


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_file_is_a_clear_error(tmp_path, text):
    path = tmp_path / "empty.conllu"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: no sentences"):
        read_conllu(path)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match=r"column must be one of \[.*'upos'.*\]; received 'pos'"):
        read_conllu(tmp_path / "x.conllu", "pos")
    with pytest.raises(TypeError, match=r"path must be a str or os.PathLike; received 3"):
        read_conllu(3)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        read_conllu(tmp_path / "missing.conllu")


def test_is_conllu_goes_by_the_file_name_alone(tmp_path):
    assert is_conllu("a.conllu") and is_conllu(tmp_path / "dev.conllu.gz")
    assert not is_conllu("a.txt") and not is_conllu("conllu") and not is_conllu("a.conllu.txt")


def test_conllu_lines_read_back_in_their_column(tmp_path):
    words, tags = ["I", "do", "."], ["PRP", "VBP", "."]
    path = tmp_path / "out.conllu"
    path.write_text("\n".join([*conllu_lines(words, tags, "xpos"), ""]) + "\n", "utf-8")
    assert read_conllu(path, "xpos") == [TaggedSentence(words, tags)]
    assert read_conllu(path, "upos")[0].tags == ["_"] * 3
    with pytest.raises(ValueError, match=r"column must be one of .*; received 'id'"):
        list(conllu_lines(words, tags, "id"))
