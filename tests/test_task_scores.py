"""Every metric a task reports, on hand-built cases whose values are worked out in the comments.

These are the numbers ``birnn evaluate`` prints and ``results.json`` keeps, so each is pinned to a
value computed by hand, not to another call of the code.
"""

from __future__ import annotations

import numpy as np
import pytest

from birnn.data import BLANK, ClozeItem, LabelledText, TaggedSentence, Vocab
from birnn.metrics import classification_scores, confusion_matrix, span_f1
from birnn.tasks import classification, fill, tagging
from refusals import exactly


def item(answer: str, needs_right: bool) -> ClozeItem:
    return ClozeItem(("a", BLANK, "b"), 1, answer, needs_right, "test")


def test_fill_scores_left_and_right_context_separately():
    gold = [item("x", True), item("y", True), item("z", True), item("x", True),  # right: 4
            item("x", False), item("y", False), item("z", False)]  # left: 3  # fmt: skip
    predicted = ["x", "y", "q", "q",  # right: 2 of 4 correct
                 "x", "q", "q"]  # left: 1 of 3 correct  # fmt: skip
    scores = fill.scores(gold, predicted)
    assert scores == {
        "accuracy": pytest.approx(3 / 7),
        "accuracy_right_context": pytest.approx(2 / 4),
        "accuracy_left_context": pytest.approx(1 / 3),
        "items": 7,
        "score": pytest.approx(3 / 7),
    }


def test_fill_scores_without_right_context_items_have_no_split():
    scores = fill.scores([item("x", False), item("y", False)], ["x", "x"])
    assert scores == {"accuracy": 0.5, "items": 2, "score": 0.5}
    only_right = fill.scores([item("x", True), item("y", True)], ["x", "y"])
    assert only_right["accuracy_right_context"] == 1.0
    assert only_right["accuracy_left_context"] is None


def test_tagging_scores_per_entity_type():
    gold = [
        TaggedSentence(["a", "b", "c", "d"], ["B-PER", "I-PER", "O", "B-LOC"]),
        TaggedSentence(["e", "f", "g"], ["B-LOC", "O", "B-ORG"]),
        TaggedSentence(["h", "i"], ["B-PER", "O"]),
    ]
    predicted = [
        ["B-PER", "I-PER", "O", "B-PER"],  # PER right; LOC missed, a wrong PER
        ["B-LOC", "O", "O"],  # LOC right; ORG missed
        ["B-PER", "I-PER"],  # PER with the wrong end: wrong
    ]
    scores = tagging.scores(gold, predicted, "iob2")
    # gold: PER 2, LOC 2, ORG 1; predicted: PER 3 (1 right), LOC 1 (1 right); correct 2 of 4
    third, two_thirds = pytest.approx(1 / 3), pytest.approx(2 / 3)
    assert scores["per_type"] == {
        "LOC": {"precision": 1.0, "recall": 0.5, "f1": two_thirds, "support": 2},
        "ORG": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
        "PER": {"precision": third, "recall": 0.5, "f1": pytest.approx(0.4), "support": 2},
    }
    assert scores["precision"] == pytest.approx(2 / 4)
    assert scores["recall"] == pytest.approx(2 / 5)
    assert scores["f1"] == pytest.approx(2 * 0.5 * 0.4 / 0.9)
    assert scores["score"] == scores["f1"]
    assert scores["accuracy"] == pytest.approx(6 / 9)  # tags equal at 6 of 9 tokens
    assert scores["tokens"] == 9


def test_tagging_scores_without_a_scheme_are_token_accuracy():
    gold = [TaggedSentence(["a", "b"], ["DET", "NOUN"]), TaggedSentence(["c"], ["VERB"])]
    scores = tagging.scores(gold, [["DET", "VERB"], ["VERB"]], None)
    assert scores == {"accuracy": pytest.approx(2 / 3), "tokens": 3, "score": pytest.approx(2 / 3)}


def test_classification_scores_accuracy_and_macro_f1():
    labels = Vocab.build_labels(["neg", "neu", "pos"])
    gold = [LabelledText(["t"], label) for label in ["neg", "neg", "neu", "pos", "pos", "new"]]
    predicted = ["neg", "pos", "neu", "pos", "neg", "pos"]
    # neg: P 1/2 R 1/2 F1 1/2; neu: P 1 R 1 F1 1; pos: P 1/3 R 1/2 F1 2/5 ("new" is unseen)
    scores = classification.scores(gold, predicted, labels)
    assert scores == {
        "accuracy": pytest.approx(3 / 6),
        "macro_f1": pytest.approx((1 / 2 + 1 + 2 / 5) / 3),
        "items": 6,
        "score": pytest.approx(3 / 6),
    }


# -- the corners: empty inputs, single examples, the unseen corner ---------------------------------


def test_scores_of_nothing_are_zero_not_nan():
    assert fill.scores([], []) == {"accuracy": 0.0, "items": 0, "score": 0.0}
    empty = span_f1([], [])
    assert (empty.accuracy, empty.tokens, empty.f1) == (0.0, 0, 0.0)


def test_classification_scores_of_one_example_and_of_unseen_labels_only():
    one = classification_scores([1], [1], 2)
    assert (one.accuracy, one.macro_f1) == (1.0, 1.0)
    unseen = classification_scores([-1], [-1], 2)  # no class of the vocabulary involved
    assert (unseen.accuracy, unseen.macro_f1, unseen.per_class, unseen.unseen) == (0.0, 0.0, {}, 1)
    assert confusion_matrix([0], [0], 1).tolist() == [[1, 0], [0, 0]]
    assert confusion_matrix([0, 1], [1, 1], 2).dtype == np.int64
    with pytest.raises(
        ValueError, match=exactly("classification scores need at least one example; received none")
    ):
        classification_scores(np.array([], int), np.array([], int), 2)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: confusion_matrix([0], [0], 0), ValueError, "n_labels must be >= 1; received 0"),
        (lambda: confusion_matrix([3], [0], 3), ValueError,
         "pred must hold ids in [0, 3) or -1 (unseen label); received min 3 and max 3"),
        (lambda: confusion_matrix([0], [-2], 3), ValueError,
         "gold must hold ids in [0, 3) or -1 (unseen label); received min -2 and max -2"),
        (lambda: span_f1(["B-PER"], [["B-PER"]]), TypeError,
         "sentence 0: expected a list of tags; received a string"),
        (lambda: span_f1([["B-PER"]], ["B-PER"]), TypeError,
         "sentence 0: expected a list of tags; received a string"),
    ],
)  # fmt: skip
def test_metric_inputs_are_refused_by_name(call, error, message):
    with pytest.raises(error, match=exactly(message)):
        call()


def test_tagging_output_lines_and_unlabelled_records():
    record = tagging.TASK.unlabelled(["a", "dog"])
    assert record == TaggedSentence(["a", "dog"], ["_", "_"])
    tags = [["DET", "NOUN"]]
    assert list(tagging.lines([record], tags, {})) == ["a\tDET", "dog\tNOUN", ""]
    conllu = list(tagging.lines([record], tags, {"output": "conllu"}))
    assert [line.split("\t")[3] for line in conllu[:2]] == ["DET", "NOUN"]  # upos
    xpos = list(tagging.lines([record], tags, {"output": "conllu", "column": "xpos"}))
    assert [line.split("\t")[3:5] for line in xpos[:2]] == [["_", "DET"], ["_", "NOUN"]]
    assert conllu[-1] == xpos[-1] == ""


def test_tagging_reads_with_the_task_options(tmp_path):
    conllu = tmp_path / "s.conllu"
    conllu.write_text("1\tDogs\tdog\tNOUN\tNNS\t_\t0\troot\t_\t_\n\n", encoding="utf-8")
    read = tagging.TASK.read
    assert read(conllu, {})[0].tags == ["NOUN"]  # upos by default
    assert read(conllu, {"column": "xpos"})[0].tags == ["NNS"]
    assert read(conllu, {"column": "lemma", "format": "conllu"})[0].tags == ["dog"]
    columns = tmp_path / "s.txt"
    columns.write_text("john X-PER\n", encoding="utf-8")
    assert read(columns, {})[0].tags == ["X-PER"]  # no scheme: any tag
    with pytest.raises(ValueError, match=r"s\.txt:1: tag 'X-PER' is not valid in IOB2"):
        read(columns, {"scheme": "iob2"})
    with pytest.raises(ValueError, match=r"expected 10 tab-separated columns"):
        read(columns, {"format": "conllu"})


def test_tagging_scores_read_spans_in_the_options_scheme():
    gold = [TaggedSentence(["a", "b", "c"], ["S-PER", "B-LOC", "E-LOC"])]
    scores = tagging.scores(gold, [["S-PER", "O", "S-LOC"]], "bioes")
    assert (scores["precision"], scores["recall"]) == (0.5, 0.5)
    assert tagging.scores([], [], None) == {"accuracy": 0.0, "tokens": 0, "score": 0.0}


def test_accuracy_of_ids_against_strings_is_zero_not_an_error():
    from birnn.metrics import accuracy

    assert accuracy([1, 2], ["a", "b"]) == 0.0


def test_vocabularies_follow_min_count_and_lowercase_and_round_trip():
    from birnn.tasks.base import Vocabs

    records = [LabelledText(["The", "the", "cat"], "a"), LabelledText(["THE", "dog"], "b")]
    task = classification.TASK
    folded = task.build_vocabs(records, min_count=2, lowercase=True, chars=False)
    assert folded.words.tokens == ["<pad>", "<unk>", "the"] and folded.words.lowercase
    cased = task.build_vocabs(records, min_count=1, lowercase=False, chars=True)
    assert "The" in cased.words.tokens and "THE" in cased.words.tokens
    assert cased.chars is not None and "T" in cased.chars.tokens
    for vocabs in (folded, cased):
        again = Vocabs.from_json(vocabs.to_json())
        assert again.to_json() == vocabs.to_json()
    assert Vocabs.from_json(folded.to_json()).chars is None


def test_sequence_batches_have_one_target_per_sequence_by_default():
    from birnn.tasks.base import FormTable, batches

    records = [LabelledText(["a", "b"], "x"), LabelledText(["c"], "y")]
    vocabs = classification.TASK.build_vocabs(records, 1, False, chars=False)
    forms = FormTable(None)
    data = classification.TASK.encode(records, vocabs, forms)
    (batch,) = batches(data, forms, 8)
    assert batch.targets.tolist() == [1, 0]  # in length order: "c" (y), then "a b" (x)
