"""Scheme constraints (IOB1, IOB2, BIOES) against brute-force enumeration, and decoders that
never emit an invalid sequence.

The oracle is independent of the masks: a sequence is valid when writing its own spans back
(``birnn.data.tags.convert``, conlleval's reading and the scheme's writing) changes nothing.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from birnn.data import TaggedSentence, Vocab, convert
from birnn.heads import CRF, scheme_constraints, viterbi
from birnn.models.encoder import EncoderConfig
from birnn.models.tagger import Tagger, TaggerConfig
from birnn.tasks import tagging
from birnn.tasks.base import FormTable, Vocabs, make_batch

TAGS = {
    "iob1": ["O", "B-a", "I-a", "B-b", "I-b"],
    "iob2": ["O", "B-a", "I-a", "B-b", "I-b"],
    "bioes": ["O", "B-a", "I-a", "E-a", "S-a", "B-b", "I-b", "E-b", "S-b"],
}


def valid(tags: list[str], scheme: str) -> bool:
    return convert(tags, scheme, scheme) == list(tags)


def allowed_by(masks, path: tuple[int, ...]) -> bool:
    return bool(
        masks.start[path[0]]
        and masks.end[path[-1]]
        and all(masks.allowed[i, j] for i, j in itertools.pairwise(path))
    )


@pytest.mark.parametrize("scheme", sorted(TAGS))
def test_masks_allow_exactly_the_valid_sequences(scheme):
    names = TAGS[scheme]
    masks = scheme_constraints(names, scheme)
    longest = 4 if scheme == "bioes" else 5
    for length in range(1, longest + 1):
        for path in itertools.product(range(len(names)), repeat=length):
            tags = [names[i] for i in path]
            assert allowed_by(masks, path) == valid(tags, scheme), (scheme, tags)


def test_the_masks_of_each_scheme_read_as_the_scheme_says():
    iob1 = scheme_constraints(TAGS["iob1"], "iob1")
    assert not iob1.start[1] and iob1.start[2]  # B-a never first; I-a may be
    assert iob1.allowed[2, 1] and not iob1.allowed[0, 1] and not iob1.allowed[4, 1]
    iob2 = scheme_constraints(TAGS["iob2"], "iob2")
    assert not iob2.start[2] and iob2.allowed[1, 2] and not iob2.allowed[3, 2]
    assert iob2.end.all()
    bioes = scheme_constraints(TAGS["bioes"], "bioes")
    assert not bioes.end[1] and not bioes.end[2] and bioes.end[3] and bioes.end[4]
    assert not bioes.allowed[1, 0] and bioes.allowed[1, 3] and not bioes.allowed[1, 7]


def test_bad_input():
    with pytest.raises(ValueError, match="scheme must be one of"):
        scheme_constraints(["O"], "bilou")
    with pytest.raises(TypeError, match="tags must be strings"):
        scheme_constraints(["O", 3], "iob2")  # type: ignore[list-item]


def random_scores(seed: int, num_tags: int, n: int = 40, t: int = 7):
    rng = np.random.default_rng(seed)
    scores = 3 * rng.standard_normal((n, t, num_tags))
    lengths = rng.integers(1, t + 1, n)
    return scores, lengths


@pytest.mark.parametrize("scheme", sorted(TAGS))
def test_constrained_crf_never_decodes_an_invalid_sequence(scheme):
    names = TAGS[scheme]
    m = scheme_constraints(names, scheme)
    for seed in range(5):
        crf = CRF(len(names), np.random.default_rng(seed), np.float64, m.allowed, m.start, m.end)
        for p in crf.params.values():
            p[...] = 2 * np.random.default_rng(seed + 9).standard_normal(p.shape)
        scores, lengths = random_scores(seed, len(names))
        for row, n in zip(crf.decode(scores, lengths), lengths):
            assert valid([names[i] for i in row[:n]], scheme)


def test_viterbi_under_masks_is_the_best_valid_path():
    names = TAGS["bioes"]
    m = scheme_constraints(names, "bioes")
    a, s, e = (np.where(x, 0.0, -np.inf) for x in m)
    scores, lengths = random_scores(3, len(names), n=12, t=4)
    for row, em, n in zip(viterbi(scores, lengths, a, s, e), scores, lengths):
        best = max(
            (p for p in itertools.product(range(len(names)), repeat=int(n)) if allowed_by(m, p)),
            key=lambda p: sum(em[t, j] for t, j in enumerate(p)),
        )
        assert tuple(row[:n]) == best


@pytest.mark.parametrize("scheme", sorted(TAGS))
@pytest.mark.parametrize("head", ["softmax", "crf"])
def test_a_tagger_with_a_scheme_never_predicts_an_invalid_sequence(scheme, head):
    names = TAGS[scheme]
    rng = np.random.default_rng(1)
    words = ["w0", "w1", "w2", "w3"]
    records = [
        TaggedSentence([words[int(i)] for i in rng.integers(4, size=n)], ["O"] * n)
        for n in rng.integers(1, 9, 60)
    ]
    labels = Vocab(names, unk=None, pad=None)
    vocabs = Vocabs(Vocab.build([words]), labels)
    enc = EncoderConfig(vocab_size=len(vocabs.words), word_dim=4, hidden=4, layers=1)
    options = {"scheme": scheme, "head": head}
    model = Tagger(TaggerConfig(enc, **tagging.head(options, vocabs)), rng)
    for p in model.params.values():  # a model with strong, random opinions
        p[...] = 3 * rng.standard_normal(p.shape)
    forms = FormTable(None)
    data = tagging.TASK.encode(records, vocabs, forms)
    batch = make_batch(data, list(range(len(data))), forms, per_token=True)
    predicted = model.predict(batch)
    assert all(valid([names[i] for i in p], scheme) for p in predicted)
    # predictions with probabilities decode the same way
    assert [tags for tags, _ in model.predict_probabilities(batch)] == predicted
    # ... where the same model without the scheme does produce invalid ones
    free = Tagger(TaggerConfig(enc, len(names), head), np.random.default_rng(1))
    for name, p in free.params.items():
        p[...] = model.params[name]
    assert not all(valid([names[i] for i in p], scheme) for p in free.predict(batch))


def test_option_constraints_false_turns_them_off():
    vocabs = Vocabs(Vocab.build([["a"]]), Vocab(TAGS["iob2"], unk=None, pad=None))
    on = tagging.head({"scheme": "iob2"}, vocabs)
    assert on["scheme"] == "iob2" and on["tags"] == TAGS["iob2"]
    off = tagging.head({"scheme": "iob2", "constraints": False}, vocabs)
    assert off["scheme"] is None and off["tags"] is None
    with pytest.raises(ValueError, match="a scheme needs the names of the 5 tags"):
        TaggerConfig(EncoderConfig(vocab_size=3), 5, scheme="iob2")


def test_ill_formed_gold_is_read_as_conlleval_reads_it(tmp_path):
    path = tmp_path / "ner.txt"
    path.write_text("a O\nb I-x\nc I-x\n\nd B-x\n", encoding="utf-8")
    options = tagging.TaggingOptions(format="columns", scheme="iob2")
    sentences = tagging.read(path, options)
    assert [s.tags for s in sentences] == [["O", "B-x", "I-x"], ["B-x"]]
