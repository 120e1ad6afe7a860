"""Pretrained vectors files: every format reads to the same words and vectors; bad files are
refused with the file and line; reading streams.

Files are written by the tests: GloVe text (no header), word2vec text (``count dim`` header),
fastText ``.vec`` (a header and a trailing space on every line), word2vec binary, each plain
and gzipped.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from birnn.data import DataError
from birnn.data.embeddings import iter_vectors, read_vectors

WORDS = ["the", "Paris", "paris", "naïve", ",", "2017", "@user"]
VECTORS = np.random.default_rng(0).standard_normal((len(WORDS), 5)).astype(np.float32)


def text_lines(header: bool, trailing: str = "") -> list[str]:
    lines = [f"{len(WORDS)} {VECTORS.shape[1]}"] if header else []
    for w, v in zip(WORDS, VECTORS):
        lines.append(w + " " + " ".join(repr(float(x)) for x in v) + trailing)
    return lines


def binary_bytes(newline: bool = True) -> bytes:
    out = f"{len(WORDS)} {VECTORS.shape[1]}\n".encode()
    for w, v in zip(WORDS, VECTORS):
        out += w.encode() + b" " + v.astype("<f4").tobytes() + (b"\n" if newline else b"")
    return out


def write(path: Path, data: bytes | list[str], gz: bool = False) -> Path:
    raw = data if isinstance(data, bytes) else ("\n".join(data) + "\n").encode()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


FORMATS = {
    "glove.txt": lambda: text_lines(header=False),
    "word2vec.txt": lambda: text_lines(header=True),
    "fasttext.vec": lambda: text_lines(header=True, trailing=" "),
    "word2vec.bin": lambda: binary_bytes(),
    "no-newlines.bin": lambda: binary_bytes(newline=False),
}


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_reads_the_same_words_and_vectors(tmp_path, name, gz):
    path = write(tmp_path / (name + (".gz" if gz else "")), FORMATS[name](), gz)
    words, vectors = read_vectors(path)
    assert words == WORDS
    assert vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors, VECTORS)


def test_windows_line_ends_and_a_byte_order_mark_read_too(tmp_path):
    raw = ("\ufeff" + "\r\n".join(text_lines(header=True)) + "\r\n").encode()
    words, vectors = read_vectors(write(tmp_path / "w.vec", raw))
    assert words == WORDS
    np.testing.assert_array_equal(vectors, VECTORS)


def test_reading_streams_one_vector_at_a_time(tmp_path):
    """The words before a bad line come out before the error: nothing waits for the end."""
    lines = text_lines(header=False)
    lines[3] = "broken 1 2"
    got = []
    with pytest.raises(DataError, match=r"v\.txt:4: 2 values; the vectors have 5"):
        for word, _ in iter_vectors(write(tmp_path / "v.txt", lines)):
            got.append(word)
    assert got == WORDS[:3]


def lines_with(index: int, line: str, header: bool = False) -> list[str]:
    lines = text_lines(header)
    lines[index] = line
    return lines


BAD_TEXT = {  # case -> (file lines or bytes, the message's file:line and words)
    "a line of the wrong width": (lines_with(2, "paris 1 2 3 4 5 6"), ":3: 6 values"),
    "a line without values": (lines_with(0, "lonely"), ":1: a word without values"),
    "a value that is not a number": (lines_with(1, "Paris 1 2 x3 4 5"), ":2: the value 'x3'"),
    "a value that is not finite": (lines_with(1, "Paris 1 2 nan 4 5"), ":2: a value is not"),
    "a duplicate word": (lines_with(4, lines_with(0, "")[1]), ":5: the word 'Paris' appears"),
    "a header with more words": (["9 5", *text_lines(False)], ": the header (line 1) gives 9"),
    "a header with fewer words": (["3 5", *text_lines(False)], ":5: more words than the header"),
    "a header of another width": (["7 4", *text_lines(False)], ":2: 5 values; the vectors have 4"),
    "an empty file": (b"", ": no word vectors (the file is empty)"),
    "only a header": (["0 5"], ": no word vectors"),
    "not UTF-8": (b"the 1 2 3 4 5\ncaf\xe9 1 2 3 4 5\n", ":2: not valid UTF-8"),
    "a binary file named as text": (binary_bytes(), "a word2vec binary file? name it *.bin"),
}


@pytest.mark.parametrize("case", sorted(BAD_TEXT))
def test_bad_text_files_are_refused_with_file_and_line(tmp_path, case):
    data, message = BAD_TEXT[case]
    path = write(tmp_path / "vectors.txt", data)
    with pytest.raises(DataError, match=r"vectors\.txt") as err:
        list(iter_vectors(path))
    assert message in str(err.value), str(err.value)


def binary_with(count: int | None = None, cut: int = 0, extra: bytes = b"") -> bytes:
    raw = binary_bytes()
    if count is not None:
        raw = raw.replace(f"{len(WORDS)} 5".encode(), f"{count} 5".encode(), 1)
    return (raw[:-cut] if cut else raw) + extra


BAD_BINARY = {
    "not word2vec at all": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, ":1: not a word2vec"),
    "a text header then no space": (b"2 5\n" + b"x" * 70000, ":2: not a word2vec binary"),
    "a header with more words": (binary_with(count=9), ": the header gives 9 words; the file"),
    "a header with fewer words": (binary_with(count=3), ": data after the 3 words"),
    "cut inside a vector": (binary_with(cut=7), ":8: the file ends inside the vector of"),
    "a duplicate word": (binary_with(count=8, extra=b"the " + bytes(20)), ":9: the word 'the'"),
    "a word that is not UTF-8": (
        binary_bytes().replace(b"the ", b"th\xff ", 1),
        ":2: the word is not valid UTF-8",
    ),
    "a value that is not finite": (
        binary_with(count=8, extra=b"nan " + np.full(5, np.inf, "<f4").tobytes()),
        ":9: a value of 'nan' is not finite",
    ),
    "an empty file": (b"", ": no word vectors"),
}


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("case", sorted(BAD_BINARY))
def test_bad_binary_files_are_refused(tmp_path, case, gz):
    data, message = BAD_BINARY[case]
    path = write(tmp_path / "vectors.bin", data, gz)
    with pytest.raises(DataError, match=r"vectors\.bin") as err:
        list(iter_vectors(path))
    assert message in str(err.value), str(err.value)


def test_a_path_must_be_a_path():
    with pytest.raises(TypeError, match=r"path must be a str or os\.PathLike; received 3"):
        list(iter_vectors(3))  # type: ignore[arg-type]
