"""The CRF at its boundary: every argument refused by name with the exact message, one tag,
one sequence, and its initialisation (what mutation testing found unpinned)."""

from __future__ import annotations

import numpy as np
import pytest

from birnn.heads import CRF
from refusals import assert_refused, exactly


def crf(c: int = 3, **kw) -> CRF:
    return CRF(c, np.random.default_rng(0), dtype=np.float64, **kw)


EM = np.zeros((2, 4, 3))
TAGS = np.zeros((2, 4), np.int64)
LENGTHS = np.array([4, 2])

REFUSALS = [
    (lambda: crf(0), ValueError, "num_tags must be >= 1; received 0"),
    (lambda: crf(allowed=np.ones((2, 2), bool)), ValueError,
     "allowed must have shape (3, 3); received shape (2, 2)"),
    (lambda: crf(allowed_start=np.ones(2, bool)), ValueError,
     "allowed_start must have shape (3,); received shape (2,)"),
    (lambda: crf(allowed_end=np.ones(2, bool)), ValueError,
     "allowed_end must have shape (3,); received shape (2,)"),
    (lambda: crf().nll(np.zeros((2, 0, 3)), TAGS[:, :0], LENGTHS), ValueError,
     "emissions must have shape (N, T, 3) with T >= 1; received shape (2, 0, 3)"),
    (lambda: crf().nll(EM.astype(np.int64), TAGS, LENGTHS), TypeError,
     "emissions must be an array of a floating dtype; received dtype int64"),
    (lambda: crf().nll(EM, TAGS, LENGTHS, reduction="none"), ValueError,
     "reduction must be one of ['mean', 'sum']; received 'none'"),
    (lambda: crf().nll(EM, TAGS[:, :3], LENGTHS), ValueError,
     "tags must have shape (2, 4); received shape (2, 3)"),
]  # fmt: skip


@pytest.mark.parametrize("case", range(len(REFUSALS)))
def test_refusals_name_the_argument(case):
    assert_refused(*REFUSALS[case])


def test_a_forbidden_gold_path_names_its_sequence():
    model = crf(allowed_end=np.array([True, True, False]))
    tags = TAGS.copy()
    tags[1, 1] = 2  # sequence 1 (length 2) ends with the forbidden tag 2
    with pytest.raises(ValueError, match=exactly(
            "tags of sequences [1] use a forbidden start, transition or end")):  # fmt: skip
        model.nll(EM, tags, LENGTHS)


def test_one_tag_and_one_sequence():
    one_tag = crf(1)
    em = np.random.default_rng(1).standard_normal((2, 3, 1))
    tags = np.array([[0, 0, 0], [0, -1, -1]])
    loss, _ = one_tag.nll(em, tags, np.array([3, 1]))
    assert loss == pytest.approx(0.0, abs=1e-12)  # a single path has probability 1
    model = crf()
    em = np.random.default_rng(2).standard_normal((1, 4, 3))
    mean, _ = model.nll(em, TAGS[:1], LENGTHS[:1])
    total, _ = model.nll(em, TAGS[:1], LENGTHS[:1], reduction="sum")
    assert mean == total  # the mean over one sequence


def test_parameters_start_uniform_in_plus_minus_a_tenth():
    model = CRF(30, np.random.default_rng(3))
    for name, value in model.params.items():
        assert -0.1 <= value.min() < -0.05 and 0.05 < value.max() <= 0.1, name
