"""The corners of the data readers and records that mutation testing found unpinned: column
counts from the end, separator checks, two-word cloze sentences, fill items from CoNLL-U and plain
sentences (seeded), and values compared or typed the way callers rely on."""

from __future__ import annotations

import re

import numpy as np
import pytest

from birnn.data import (
    BLANK,
    ClozeItem,
    DataError,
    Vocab,
    blank_out,
    convert,
    from_spans,
    length_batches,
    read_cloze,
    read_columns,
    read_conllu,
    to_spans,
)
from birnn.layers import unique_words
from birnn.tasks import fill
from refusals import exactly


def test_a_tag_column_counted_from_the_end_needs_that_many_columns(tmp_path):
    path = tmp_path / "three.txt"
    path.write_text("john NNP B-PER\nsmith NNP I-PER\n", encoding="utf-8")
    sentences = read_columns(path, tag_col=-1)
    assert sentences[0].tags == ["B-PER", "I-PER"]
    assert read_columns(path, tag_col=-2, scheme=None)[0].tags == ["NNP", "NNP"]
    short = tmp_path / "two.txt"
    short.write_text("john B-PER\n", encoding="utf-8")
    message = (
        f"{short}:1: expected at least 3 columns (word column 0, tag column -3); "
        "found 2: 'john B-PER'"
    )
    with pytest.raises(DataError, match=exactly(message)):
        read_columns(short, tag_col=-3, scheme=None)


def test_a_word_column_beyond_the_tag_needs_that_many_columns(tmp_path):
    path = tmp_path / "two.txt"
    path.write_text("B-PER john\n", encoding="utf-8")
    assert read_columns(path, word_col=1, tag_col=0)[0].words == ["john"]
    message = (
        f"{path}:1: expected at least 3 columns (word column 2, tag column 0); "
        "found 2: 'B-PER john'"
    )
    with pytest.raises(DataError, match=exactly(message)):
        read_columns(path, word_col=2, tag_col=0)


def test_column_arguments_are_checked_by_name(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("a O\n", encoding="utf-8")
    with pytest.raises(TypeError, match=exactly("word_col must be an int; received '0'")):
        read_columns(path, word_col="0")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=exactly("tag_col must be an int; received 1.0")):
        read_columns(path, tag_col=1.0)  # type: ignore[arg-type]
    for sep in ("", 3):
        wanted = f"sep must be None (any whitespace) or a non-empty str; received {sep!r}"
        with pytest.raises(ValueError, match=exactly(wanted)):
            read_columns(path, sep=sep)  # type: ignore[arg-type]


def test_blank_out_hides_a_word_of_every_sentence_of_two_words_or_more():
    sentences = [["a"], ["a", "b"], ["the", "dog", "runs"]]
    items = blank_out(sentences, np.random.default_rng(0))
    assert len(items) == 2  # the one-word sentence has no context to predict from
    for item, words in zip(items, sentences[1:]):
        assert item.needs_right is False and item.family == "text"
        assert item.words[item.blank] == BLANK and item.answer == words[item.blank]
        restored = list(item.words)
        restored[item.blank] = item.answer
        assert restored == words


def test_fill_items_from_conllu_and_plain_sentences_follow_the_seed(tmp_path):
    words = [f"w{i}" for i in range(12)]
    conllu = tmp_path / "s.conllu"
    rows = [f"{i}\t{w}\t{w}\tX\t_\t_\t0\troot\t_\t_" for i, w in enumerate(words, 1)]
    conllu.write_text(("\n".join(rows) + "\n\n") * 6, encoding="utf-8")
    plain = tmp_path / "s.txt"
    plain.write_text((" ".join(words) + "\n") * 6, encoding="utf-8")
    for path in (conllu, plain):
        default, zero, other = fill.read(path), fill.read(path, seed=0), fill.read(path, seed=5)
        assert default == zero  # the default seed is 0
        if path == plain:
            assert read_cloze(path) == zero
        assert [it.blank for it in zero] != [it.blank for it in other]
        assert len(zero) == 6
        for item in zero:
            assert item.answer == words[item.blank] and item.words[item.blank] == BLANK
            assert item.family == "text" and item.needs_right is False


def test_an_unlabelled_fill_text_is_an_input_item():
    item = fill.TASK.unlabelled(["the", BLANK, "runs"])
    assert item == ClozeItem(("the", BLANK, "runs"), 1, "", False, "input")
    assert type(item.needs_right) is bool


def test_a_vocab_equals_only_a_vocab():
    v = Vocab.build([["a", "b"]])
    assert v == Vocab.build([["b", "a"]])
    assert (v == "a") is False and (v == 3) is False and v != {"tokens": v.tokens}


def test_unique_words_are_index_arrays():
    uniq, inverse = unique_words(np.array([[4, 2], [2, 9]], dtype=np.int32))
    assert uniq.dtype == np.intp and inverse.dtype == np.intp
    assert uniq.tolist() == [2, 4, 9] and inverse.tolist() == [[1, 0], [0, 2]]


def test_from_spans_and_convert_refuse_bad_spans_and_schemes_by_name():
    schemes = "['bioes', 'iob1', 'iob2']"
    cases = [
        (lambda: from_spans([], 2, scheme="bio"),
         f"scheme must be one of {schemes}; received 'bio'"),
        (lambda: convert(["O"], "bio", "iob2"),
         f"from_scheme must be one of {schemes}; received 'bio'"),
        (lambda: convert(["O"], "iob2", "x"), f"to_scheme must be one of {schemes}; received 'x'"),
        (lambda: from_spans([("A", 1, 1)], 3),
         "a span must be (non-empty type, start, end) with 0 <= start < end <= 3; "
         "received ('A', 1, 1)"),
        (lambda: from_spans([("B", 1, 2), ("A", 0, 5)], 6),
         "spans must not overlap; received ('B', 1, 2) after one ending at 5"),
    ]  # fmt: skip
    for call, message in cases:
        with pytest.raises(ValueError, match=exactly(message)):
            call()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("1\t\tdog\tNOUN\t_\t_\t0\troot\t_\t_", "empty FORM column (CoNLL-U writes '_' for none)"),
        ("1\tdog\tdog\t\t_\t_\t0\troot\t_\t_", "empty UPOS column (CoNLL-U writes '_' for none)"),
    ],
)  # fmt: skip
def test_conllu_empty_cells_are_named(tmp_path, row, message):
    path = tmp_path / "e.conllu"
    path.write_text(row + "\n\n", encoding="utf-8")
    with pytest.raises(DataError, match=exactly(f"{path}:1: {message}")):
        read_conllu(path)


def test_tags_and_spans_by_default_scheme_and_exact_messages():
    assert to_spans(["B-PER", "I-PER", "O"]) == [("PER", 0, 2)]  # iob2 by default
    with pytest.raises(
        ValueError,
        match=exactly("tags[0]: tag 'S-PER' is not valid in IOB2 (expected O, B-TYPE, I-TYPE)"),
    ):
        to_spans(["S-PER"])
    with pytest.raises(
        ValueError, match=exactly("scheme must be one of ['bioes', 'iob1', 'iob2']; received 'bio'")
    ):
        to_spans(["O"], "bio")  # fmt: skip


def test_unseen_ids_decode_to_the_unknown_token_or_unseen():
    assert Vocab.build([["a"]]).decode([2, -1]) == ["a", "<unk>"]
    assert Vocab.build_labels(["x"]).decode([0, -1]) == ["x", "<unseen>"]


def test_a_corrupt_gzip_file_names_its_first_line(tmp_path):
    path = tmp_path / "bad.conllu.gz"
    path.write_bytes(b"\x1f\x8b" + b"not a gzip stream at all")
    with pytest.raises(DataError, match=f"^{re.escape(str(path))}:1: cannot read the file"):
        read_conllu(path)


def test_token_budget_batches_have_exact_sizes_and_are_never_empty():
    sizes = [len(b) for b in length_batches([2] * 10, 4, shuffle=False, max_tokens=8)]
    assert sizes == [4, 4, 2]  # 4 sentences x 2 tokens fill the budget exactly
    assert [len(b) for b in length_batches([2] * 10, 4, shuffle=False, max_tokens=7)] == [3] * 3 + [
        1
    ]
    long_one = length_batches([1, 10, 1], 8, shuffle=False, max_tokens=5)
    assert [b.tolist() for b in long_one] == [[0, 2], [1]]  # too long alone: its own batch
    assert [len(b) for b in length_batches([3] * 7, 3, shuffle=False)] == [3, 3, 1]


def test_length_batches_keep_the_input_order_among_equal_lengths():
    lengths = np.random.default_rng(0).integers(1, 4, 300)
    (batch,) = length_batches(lengths, 300, shuffle=False)
    expected = [i for length in (1, 2, 3) for i in range(300) if lengths[i] == length]
    assert batch.tolist() == expected
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    shuffled = length_batches(lengths, 300, rng_a, pool=1)
    order = rng_b.permutation(300)  # the draw length_batches makes first
    assert shuffled[0].tolist() == sorted(order, key=lambda i: lengths[i])  # stable within


def test_length_batches_pool_and_budget_arguments():
    lengths = np.random.default_rng(2).integers(1, 30, 300)
    default = length_batches(lengths, 2, np.random.default_rng(3))
    fifty = length_batches(lengths, 2, np.random.default_rng(3), pool=50)
    assert [b.tolist() for b in default] == [b.tolist() for b in fifty]  # pool 50 by default
    assert len(length_batches(lengths, 2, np.random.default_rng(3), pool=1)) == 150
    alone = length_batches([10, 12], 4, shuffle=False, max_tokens=5)
    assert [b.tolist() for b in alone] == [[0], [1]]  # each too long: a batch each, none empty
    assert [b.tolist() for b in length_batches([1, 1], 4, shuffle=False, max_tokens=1)] == [
        [0],
        [1],
    ]
    for kwargs, message in [
        ({"pool": 0}, "pool must be >= 1; received 0"),
        ({"max_tokens": 0}, "max_tokens must be >= 1; received 0"),
    ]:
        with pytest.raises(ValueError, match=exactly(message)):
            length_batches(lengths, 2, np.random.default_rng(0), **kwargs)


@pytest.mark.parametrize("block", [1, 2, 7, 64, 1 << 16])
@pytest.mark.parametrize("compressed", [False, True])
def test_lines_read_in_blocks_are_the_files_lines_whatever_the_block_size(
    tmp_path, monkeypatch, block, compressed
):
    import gzip

    from birnn.data import _files

    monkeypatch.setattr(_files, "BLOCK", block)
    lines = ["\ufeffFirst", "", "a long line " * 40, "café ünïcode ☃", "crlf", "", "last"]
    raw = ("\n".join(lines[:4]) + "\n" + lines[4] + "\r\n\n" + lines[6]).encode()
    path = tmp_path / "f.txt"
    path.write_bytes(gzip.compress(raw) if compressed else raw)
    got = list(_files.numbered_lines(path))
    assert got == list(enumerate(["First", *lines[1:]], 1))  # no line end; BOM dropped
    # a piece of the file, numbered as in the whole file
    start = len(("\n".join(lines[:3]) + "\n").encode())
    if not compressed:
        span = _files.Span(start, start + len((lines[3] + "\n").encode()), 4)
        assert list(_files.numbered_lines(path, span)) == [(4, lines[3])]
    # a bad byte on line 5: lines 1-4 come out first, then the error names line 5
    bad = raw.replace(b"crlf", b"cr\xfflf")
    path.write_bytes(gzip.compress(bad) if compressed else bad)
    seen = []
    with pytest.raises(DataError, match=r"f\.txt:5: not valid UTF-8"):
        for number, _ in _files.numbered_lines(path):
            seen.append(number)
    assert seen == [1, 2, 3, 4]
