"""read_columns on small CoNLL column files written by the tests."""

from __future__ import annotations

import re

import pytest

from birnn.data import DataError, TaggedSentence, read_columns


def _write(tmp_path, text: str, name: str = "a.conll"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_whitespace_only_lines_break_sentences(tmp_path):
    # WNUT-17 style: TAB separated, sentences broken by an empty line or by a lone TAB
    text = "Paris\tB-location\nis\tO\n\t\nnice\tO\n   \nBob\tB-person\n\nok\tO\n"
    sentences = read_columns(_write(tmp_path, text), sep="\t")
    assert sentences == [
        TaggedSentence(["Paris", "is"], ["B-location", "O"]),
        TaggedSentence(["nice"], ["O"]),
        TaggedSentence(["Bob"], ["B-person"]),
        TaggedSentence(["ok"], ["O"]),
    ]
    assert read_columns(_write(tmp_path, text)) == sentences  # any whitespace as separator


def test_conll2003_columns_and_docstart(tmp_path):
    text = (
        "-DOCSTART- -X- -X- O\n\n"
        "EU NNP B-NP I-ORG\nrejects VBZ B-VP O\n\n"
        "-DOCSTART- -X- -X- O\n"
        "Peter NNP B-NP I-PER\n"
    )
    path = _write(tmp_path, text)
    assert read_columns(path, scheme="iob1") == [
        TaggedSentence(["EU", "rejects"], ["I-ORG", "O"]),
        TaggedSentence(["Peter"], ["I-PER"]),
    ]
    chunks = read_columns(path, word_col=0, tag_col=2)
    assert chunks[0].tags == ["B-NP", "B-VP"]
    pos = read_columns(path, tag_col=1, scheme=None)  # any tag set without a scheme
    assert pos[0].tags == ["NNP", "VBZ"]


def test_bioes_tags(tmp_path):
    path = _write(tmp_path, "a S-X\nb B-Y\nc E-Y\n")
    assert read_columns(path, scheme="bioes")[0].tags == ["S-X", "B-Y", "E-Y"]


@pytest.mark.parametrize(
    ("text", "kwargs", "line", "words"),
    [
        ("a O\nb\n", {}, 2, "at least 2 columns.*found 1: 'b'"),
        ("a x O\nb O\n", {}, 2, "expected 3 columns like line 1; found 2"),
        ("a O\n\nb X-foo\n", {}, 3, "'X-foo' is not valid in IOB2"),
        ("a O\nb S-PER\n", {"scheme": "iob2"}, 2, "'S-PER' is not valid in IOB2"),
        ("a B-\n", {}, 1, "'B-' is not valid"),
        ("a\tO\n\tO\n", {"sep": "\t"}, 2, "empty token"),
        ("a b c O\nd e O\n", {"tag_col": 3}, 2, "at least 4 columns"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, text, kwargs, line, words):
    path = _write(tmp_path, text)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}:{line}: .*{words}"):
        read_columns(path, **kwargs)


@pytest.mark.parametrize("text", ["", "\n\t\n", "-DOCSTART- O\n\n"])
def test_empty_file_is_a_clear_error(tmp_path, text):
    path = _write(tmp_path, text)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: no sentences"):
        read_columns(path)


def test_bad_arguments(tmp_path):
    path = _write(tmp_path, "a O\n")
    with pytest.raises(ValueError, match=r"scheme must be one of.*received 'bio'"):
        read_columns(path, scheme="bio")
    with pytest.raises(TypeError, match="tag_col must be an int; received '1'"):
        read_columns(path, tag_col="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="differ"):
        read_columns(path, word_col=1, tag_col=1)
    with pytest.raises(ValueError, match="sep"):
        read_columns(path, sep="")


def test_tab_separated_files_split_on_tabs_only(tmp_path):
    """A token may hold a space where the columns are TAB-separated (a public Twitter NER
    corpus has ``ke s<TAB>O``); a file separated by spaces splits on any whitespace."""
    path = tmp_path / "tweets.conll"
    path.write_text("@user\tO\nke s\tO\nParis\tB-loc\n\nok\tO\nbye \tO\n", encoding="utf-8")
    sentences = read_columns(path, scheme="iob2")
    assert sentences[0].words == ["@user", "ke s", "Paris"]
    assert sentences[1].words == ["ok", "bye"]  # surrounding spaces are not part of a token
    spaced = tmp_path / "conll2003.txt"
    spaced.write_text("EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n", encoding="utf-8")
    assert read_columns(spaced, scheme="iob2")[0].tags == ["B-ORG", "O"]


def test_an_empty_token_names_its_line_and_the_fix(tmp_path):
    path = tmp_path / "tweets.conll"
    path.write_text("a\tO\n\tO\nb\tO\n", encoding="utf-8")
    with pytest.raises(
        DataError, match=r"tweets.conll:2: empty token .*delete the line .*sed -i '2d'"
    ):
        read_columns(path, scheme="iob2")
