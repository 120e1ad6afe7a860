"""Metrics against hand-computed cases and against a line-by-line transcription of conlleval.

All scores are fractions (conlleval prints percentages).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from birnn.metrics import (
    accuracy,
    classification_scores,
    confusion_matrix,
    format_confusion,
    format_span_scores,
    macro_f1,
    span_f1,
)

# -- token accuracy ----------------------------------------------------------------------------


def test_accuracy_over_a_mask():
    pred = np.array([[1, 2, 0], [3, 3, 3]])
    gold = np.array([[1, 0, 0], [3, 9, 9]])
    mask = np.array([[True, True, True], [True, False, False]])
    assert accuracy(pred, gold, mask) == pytest.approx(3 / 4)
    assert accuracy(pred, gold) == pytest.approx(3 / 6)
    assert accuracy(["a", "b"], ["a", "c"]) == 0.5


def test_accuracy_counts_an_unseen_gold_label_as_an_error():
    assert accuracy([-1, 0], [-1, 0]) == 0.5


def test_accuracy_refuses_bad_input():
    with pytest.raises(ValueError, match=r"\(2,\) and \(3,\)"):
        accuracy([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="mask"):
        accuracy([1, 2], [1, 2], mask=[1, 0])
    with pytest.raises(ValueError, match="at least one"):
        accuracy([1], [1], mask=np.array([False]))


# -- entity spans: hand-computed ---------------------------------------------------------------

IOB2_GOLD = [
    ["B-PER", "I-PER", "O", "B-LOC"],
    ["O", "I-ORG", "I-ORG", "O"],  # I- without B-: an ORG entity of two words
    ["B-LOC", "B-LOC"],  # two one-word entities
    ["O", "O"],
]
IOB2_PRED = [
    ["B-PER", "I-PER", "O", "B-ORG"],  # PER right; ORG wrong type
    ["O", "B-ORG", "I-ORG", "O"],  # right: the same span as the gold I- I-
    ["B-LOC", "I-LOC"],  # one two-word entity: neither gold entity
    ["I-PER", "O"],  # a false positive
]


def test_span_f1_hand_computed_iob2():
    s = span_f1(IOB2_GOLD, IOB2_PRED, "iob2")
    # gold: PER 1, LOC 3, ORG 1; predicted: PER 2, ORG 2, LOC 1; correct: PER 1, ORG 1
    assert (s.micro.correct, s.micro.predicted, s.micro.support) == (2, 5, 5)
    assert s.micro.precision == pytest.approx(2 / 5)
    assert s.micro.recall == pytest.approx(2 / 5)
    assert s.f1 == pytest.approx(2 / 5)
    assert list(s.per_type) == ["LOC", "ORG", "PER"]
    loc, org, per = s.per_type["LOC"], s.per_type["ORG"], s.per_type["PER"]
    assert (loc.precision, loc.recall, loc.f1, loc.support) == (0.0, 0.0, 0.0, 3)
    assert (org.precision, org.recall, org.support) == (0.5, 1.0, 1)
    assert org.f1 == pytest.approx(2 / 3)
    assert per.f1 == pytest.approx(2 / 3)
    assert s.accuracy == pytest.approx(8 / 12)
    assert s.tokens == 12


def test_span_f1_hand_computed_bioes():
    gold = [["S-PER", "O", "B-LOC", "E-LOC"], ["B-X", "E-X", "I-X", "E-X"]]
    pred = [["S-PER", "O", "B-LOC", "I-LOC"], ["B-X", "I-X", "I-X", "E-X"]]
    # B-LOC I-LOC at the sentence end is LOC(2, 4): right. X(0, 4) matches neither gold X.
    s = span_f1(gold, pred, "bioes")
    assert (s.micro.correct, s.micro.predicted, s.micro.support) == (2, 3, 4)
    assert s.micro.precision == pytest.approx(2 / 3)
    assert s.micro.recall == pytest.approx(1 / 2)
    assert s.f1 == pytest.approx(4 / 7)
    assert s.per_type["X"].f1 == 0.0


def test_span_f1_type_change_inside_an_entity():
    # gold I-PER I-LOC is PER(0, 1) + LOC(1, 2); a prediction B-PER B-LOC is the same spans
    s = span_f1([["I-PER", "I-LOC"]], [["B-PER", "B-LOC"]], "iob2")
    assert s.f1 == 1.0
    assert s.accuracy == 0.0  # no tag is equal, though every entity is right


def test_entities_do_not_cross_sentences():
    # gold I-PER opens a new entity in the second sentence instead of continuing the first
    s = span_f1([["B-PER"], ["I-PER"]], [["B-PER"], ["B-PER"]], "iob2")
    assert (s.micro.correct, s.micro.support) == (2, 2)


def test_span_f1_without_entities_is_zero_not_an_error():
    s = span_f1([["O"]], [["O"]], "iob2")
    assert (s.micro.precision, s.micro.recall, s.f1, s.accuracy) == (0.0, 0.0, 0.0, 1.0)
    assert s.per_type == {}


def test_a_gold_type_never_seen_in_training_is_a_miss():
    s = span_f1([["B-NEW", "O"]], [["O", "O"]], "iob2")
    assert s.per_type["NEW"].recall == 0.0
    assert s.micro.support == 1


def test_span_f1_refuses_mismatched_input():
    with pytest.raises(ValueError, match="2 and 1 sentences"):
        span_f1([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="sentence 1: gold has 2 tags but prediction has 1"):
        span_f1([["O"], ["O", "O"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match=r"sentence 0: tags\[0\]"):
        span_f1([["O"]], [["E-PER"]], "iob2")


def test_format_span_scores_lists_types_and_micro():
    text = format_span_scores(span_f1(IOB2_GOLD, IOB2_PRED))
    assert "PER" in text and "micro" in text and "0.4000" in text


# -- entity spans: conlleval transcribed ---------------------------------------------------------
# The main loop of conlleval.pl (with the usual BIOES extension of endOfChunk/startOfChunk),
# transcribed statement by statement: an independent reference for span_f1's set-based counting.

_END = {
    ("B", "B"), ("B", "O"), ("B", "S"), ("I", "B"), ("I", "S"), ("I", "O"),
    ("E", "E"), ("E", "I"), ("E", "O"), ("E", "S"), ("E", "B"),
    ("S", "E"), ("S", "I"), ("S", "O"), ("S", "S"), ("S", "B"),
}  # fmt: skip
_START = {
    ("B", "B"), ("I", "B"), ("O", "B"), ("S", "B"), ("E", "B"),
    ("B", "S"), ("I", "S"), ("O", "S"), ("S", "S"), ("E", "S"),
    ("O", "I"), ("S", "I"), ("E", "I"), ("S", "E"), ("E", "E"), ("O", "E"),
}  # fmt: skip


def _end_of_chunk(prev_tag, tag, prev_type, type_):
    return (prev_tag, tag) in _END or (prev_tag != "O" and prev_type != type_)


def _start_of_chunk(prev_tag, tag, prev_type, type_):
    return (prev_tag, tag) in _START or (tag != "O" and prev_type != type_)


def _conlleval(gold_sentences, pred_sentences):
    correct_chunk, found_correct, found_guessed = Counter(), Counter(), Counter()
    correct_tags = token_counter = 0
    in_correct = False
    last_correct, last_correct_type, last_guessed, last_guessed_type = "O", "", "O", ""
    lines = []
    for gold, pred in zip(gold_sentences, pred_sentences):
        lines += [(False, g, p) for g, p in zip(gold, pred)] + [(True, "O", "O")]
    for boundary, gold_tag, pred_tag in lines:
        correct, _, correct_type = gold_tag.partition("-")
        guessed, _, guessed_type = pred_tag.partition("-")
        end_c = _end_of_chunk(last_correct, correct, last_correct_type, correct_type)
        end_g = _end_of_chunk(last_guessed, guessed, last_guessed_type, guessed_type)
        if in_correct:
            if end_c and end_g and last_guessed_type == last_correct_type:
                in_correct = False
                correct_chunk[last_correct_type] += 1
            elif end_c != end_g or guessed_type != correct_type:
                in_correct = False
        start_c = _start_of_chunk(last_correct, correct, last_correct_type, correct_type)
        start_g = _start_of_chunk(last_guessed, guessed, last_guessed_type, guessed_type)
        if start_c and start_g and guessed_type == correct_type:
            in_correct = True
        if start_c:
            found_correct[correct_type] += 1
        if start_g:
            found_guessed[guessed_type] += 1
        if not boundary:
            correct_tags += correct == guessed and guessed_type == correct_type
            token_counter += 1
        last_guessed, last_correct = guessed, correct
        last_guessed_type, last_correct_type = guessed_type, correct_type
    if in_correct:
        correct_chunk[last_correct_type] += 1
    return correct_chunk, found_correct, found_guessed, correct_tags / token_counter


@pytest.mark.parametrize("scheme", ["iob2", "bioes"])
def test_span_f1_counts_exactly_as_conlleval(scheme):
    rng = np.random.default_rng(7)
    prefixes = "BIES" if scheme == "bioes" else "BI"
    tags = ["O"] + [f"{p}-{t}" for p in prefixes for t in ("PER", "LOC", "creative-work")]
    for _ in range(40):  # ill-formed sequences on purpose: random tags, not random spans
        lengths = rng.integers(1, 9, size=int(rng.integers(1, 6)))
        gold = [list(rng.choice(tags, size=n, p=_weights(tags))) for n in lengths]
        pred = [list(rng.choice(tags, size=n, p=_weights(tags))) for n in lengths]
        right, found_gold, found_pred, token_accuracy = _conlleval(gold, pred)
        s = span_f1(gold, pred, scheme)
        assert s.micro.correct == sum(right.values())
        assert s.micro.support == sum(found_gold.values())
        assert s.micro.predicted == sum(found_pred.values())
        for kind, scores in s.per_type.items():
            assert (scores.correct, scores.support, scores.predicted) == (
                right[kind], found_gold[kind], found_pred[kind])  # fmt: skip
        assert s.accuracy == pytest.approx(token_accuracy)


def _weights(tags):
    w = np.array([6.0] + [1.0] * (len(tags) - 1))
    return w / w.sum()


# -- classification ----------------------------------------------------------------------------

PRED = [0, 1, 1, 2, 0, 0]
GOLD = [0, 1, 2, 2, -1, 1]  # -1: a label seen only in evaluation data


def test_confusion_matrix_has_an_unseen_row_and_column():
    c = confusion_matrix(PRED, GOLD, 3)
    expected = [
        [1, 0, 0, 0],
        [1, 1, 0, 0],
        [0, 1, 1, 0],
        [1, 0, 0, 0],  # the unseen gold label, predicted as 0
    ]
    np.testing.assert_array_equal(c, expected)
    assert c.sum() == len(GOLD)
    np.testing.assert_array_equal(
        confusion_matrix([-1], [-1], 2), [[0, 0, 0], [0, 0, 0], [0, 0, 1]]
    )


def test_classification_scores_hand_computed():
    s = classification_scores(PRED, GOLD, 3)
    assert s.accuracy == pytest.approx(3 / 6)
    assert s.per_class[0].precision == pytest.approx(1 / 3)
    assert s.per_class[0].f1 == pytest.approx(1 / 2)  # P 1/3, R 1
    assert s.per_class[1].f1 == pytest.approx(1 / 2)  # P 1/2, R 1/2
    assert s.per_class[2].f1 == pytest.approx(2 / 3)  # P 1, R 1/2
    assert s.macro_f1 == pytest.approx(5 / 9)
    assert s.unseen == 1
    assert macro_f1(PRED, GOLD, 3) == pytest.approx(5 / 9)
    assert accuracy(PRED, GOLD) == pytest.approx(3 / 6)


def test_macro_f1_leaves_out_classes_absent_from_both_sides():
    assert macro_f1([0, 0, 1], [0, 0, 1], 5) == 1.0


def test_classification_refuses_bad_ids():
    with pytest.raises(ValueError, match=r"\[0, 3\).*max 3"):
        confusion_matrix([3], [0], 3)
    with pytest.raises(ValueError, match="min -2"):
        macro_f1([0], [-2], 3)
    with pytest.raises(TypeError, match="dtype"):
        confusion_matrix([0.5], [0], 3)


def test_format_confusion():
    text = format_confusion(confusion_matrix(PRED, GOLD, 3), ["neg", "neu", "pos"])
    lines = text.splitlines()
    assert len(lines) == 5
    assert lines[-1].split() == ["<unseen>", "1", "0", "0", "0"]
