"""Bad input is refused at the public boundary with a message that says what was wrong.

Contract (docs/API.md): wrong values or shapes raise ``ValueError``, wrong types or dtypes raise
``TypeError``, and the message names what was expected and what was received. The assertions match
key words only (the argument name, the received value or shape, sometimes the expected one), never
an exact sentence, so the wording stays free.

Every module here is deliberately small and irregular: T=5 steps, N=3 sequences, input size 7,
hidden size 4, two bidirectional layers, so that the numbers in a message identify their source.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import birnn

T, N, IN, H, L, D = 5, 3, 7, 4, 2, 2
DL = D * L  # number of (layer, direction) chains in the state arrays
P = 2  # proj_size used by the LSTM-with-projection cases

CELLS: dict[str, Any] = {"rnn": birnn.RNN, "gru": birnn.GRU, "lstm": birnn.LSTM}
ALL_CELLS = pytest.mark.parametrize("cell", sorted(CELLS))
# ``m.forward(...)`` and ``m(...)`` are both public entry points; both must validate.
VIA: dict[str, Callable[..., Any]] = {
    "forward": lambda m, *a, **k: m.forward(*a, **k),
    "call": lambda m, *a, **k: m(*a, **k),
}
ALL_VIA = pytest.mark.parametrize("via", sorted(VIA))

MISSING_WORDS = r"missing|absent|lack|not found|not present|required"
UNEXPECTED_WORDS = r"unexpected|unknown|extra|unrecognised|unrecognized|not expected|no such"


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def msg(*parts: str) -> str:
    """A regex that matches when every part occurs somewhere in the message (any order or case)."""
    return "(?is)" + "".join(f"(?=.*(?:{p}))" for p in parts)


def num(value: float) -> str:
    """A regex for a number standing on its own: 6 matches in 'max 6.' but not in '16' or '0.6'."""
    texts = [str(value)]
    if isinstance(value, float) and value.is_integer():
        texts.append(str(int(value)))
    alternatives = "|".join(re.escape(t) for t in texts)
    return rf"(?<![\w.-])(?:{alternatives})(?![\w]|\.\d)"


def shape_re(shape: tuple[int, ...]) -> str:
    """A regex for a shape written as (5, 3, 4), [5, 3, 4] or 5x3x4."""
    dims = [str(d) for d in shape]
    inner = r"\s*,\s*".join(dims)
    forms = [rf"\(\s*{inner}\s*,?\s*\)", rf"\[\s*{inner}\s*\]"]
    if len(dims) > 1:
        forms.append(r"\b" + r"\s*x\s*".join(dims) + r"\b")
    return "|".join(forms)


def make(cell: str, **kwargs: Any) -> Any:
    """A small module: two bidirectional layers, input 7, hidden 4, unless overridden."""
    input_size = kwargs.pop("input_size", IN)
    hidden_size = kwargs.pop("hidden_size", H)
    options = {"num_layers": L, "bidirectional": True, "seed": 0, **kwargs}
    return CELLS[cell](input_size, hidden_size, **options)


def data(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def zeros(*shape: int) -> np.ndarray:
    return np.zeros(shape, dtype=np.float32)


def good_state(cell: str, h_out: int = H, hidden: int = H) -> Any:
    """A correctly shaped initial state for ``make(cell)`` (LSTM: h uses h_out, c uses hidden)."""
    if cell == "lstm":
        return zeros(DL, N, h_out), zeros(DL, N, hidden)
    return zeros(DL, N, h_out)


def snapshot(m: Any) -> dict[str, np.ndarray]:
    return {k: np.array(v, copy=True) for k, v in m.state_dict().items()}


def assert_unchanged(m: Any, before: dict[str, np.ndarray]) -> None:
    """Nothing lost and nothing overwritten: same keys in state_dict and params, same values."""
    after = m.state_dict()
    assert sorted(after) == sorted(before)
    assert sorted(m.params) == sorted(before)
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)
        np.testing.assert_array_equal(m.params[key], value, err_msg=key)


def perturbed(sd: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Valid new values for every entry, so that a partial load would be visible."""
    return {k: (v + 1.0).astype(v.dtype) for k, v in sd.items()}


# ---------------------------------------------------------------------------------------------
# the valid baseline: the inputs the bad cases are derived from are accepted
# ---------------------------------------------------------------------------------------------


@ALL_CELLS
def test_valid_inputs_are_accepted(cell: str) -> None:
    """Guards the rest of the file: each bad case below differs from this in one respect."""
    m = make(cell)
    x = data(T, N, IN)
    lengths = np.array([T, 2, 4])
    out, state, tape = m.forward(x, hx=good_state(cell), lengths=lengths, training=True)
    assert out.shape == (T, N, D * H)
    h_n = state[0] if cell == "lstm" else state
    assert h_n.shape == (DL, N, H)
    dx, _dhx, grads = m.backward(tape, np.ones_like(out), d_state=good_state(cell))
    assert dx.shape == x.shape
    assert sorted(grads) == sorted(m.state_dict())
    out2, _ = m(x.astype(np.float64), lengths=lengths)  # another float precision is cast
    assert out2.dtype == np.float32


# ---------------------------------------------------------------------------------------------
# x
# ---------------------------------------------------------------------------------------------


@ALL_CELLS
@ALL_VIA
@pytest.mark.parametrize(
    "shape",
    [(T, IN), (T, N, 1, IN), (IN,), ()],
    ids=["2d", "4d", "1d", "0d"],
)
def test_x_wrong_rank(cell: str, via: str, shape: tuple[int, ...]) -> None:
    rank = len(shape)
    received = rf"{shape_re(shape)}|{rank}-?d\b|ndim\W*{rank}|{rank} dim"
    with pytest.raises(ValueError, match=msg(r"\bx\b|input", received)):
        VIA[via](make(cell), data(*shape))


@ALL_CELLS
@ALL_VIA
@pytest.mark.parametrize("batch_first", [False, True], ids=["time_major", "batch_first"])
def test_x_wrong_feature_size(cell: str, via: str, batch_first: bool) -> None:
    x = data(N, T, IN + 2) if batch_first else data(T, N, IN + 2)
    with pytest.raises(ValueError, match=msg(r"input_size|feature|\bx\b", num(IN), num(IN + 2))):
        VIA[via](make(cell, batch_first=batch_first), x)


@ALL_CELLS
@ALL_VIA
@pytest.mark.parametrize(
    "dtype", [np.int32, np.int64, np.uint8, np.bool_, np.object_, np.complex64, np.complex128]
)
def test_x_non_float_dtype(cell: str, via: str, dtype: Any) -> None:
    x = data(T, N, IN).astype(dtype)
    name = np.dtype(dtype).name
    with pytest.raises(TypeError, match=msg("float", re.escape(name))):
        VIA[via](make(cell), x)


@ALL_CELLS
@ALL_VIA
def test_x_none(cell: str, via: str) -> None:
    with pytest.raises(TypeError, match=msg(r"\bx\b|input", "None")):
        VIA[via](make(cell), None)


@ALL_CELLS
@pytest.mark.parametrize("dtype", [np.int32, np.bool_, np.complex64])
def test_module_non_float_dtype(cell: str, dtype: Any) -> None:
    with pytest.raises(TypeError, match=msg("dtype", re.escape(np.dtype(dtype).name))):
        make(cell, dtype=dtype)


# ---------------------------------------------------------------------------------------------
# lengths
# ---------------------------------------------------------------------------------------------


@ALL_CELLS
@ALL_VIA
@pytest.mark.parametrize("bad", [0, T + 1, -1], ids=["zero", "longer_than_T", "negative"])
def test_lengths_out_of_range(cell: str, via: str, bad: int) -> None:
    lengths = np.array([T, bad, 2])
    with pytest.raises(ValueError, match=msg("lengths", num(bad))):
        VIA[via](make(cell), data(T, N, IN), lengths=lengths)


@ALL_CELLS
@ALL_VIA
@pytest.mark.parametrize(
    ("lengths", "received"),
    [
        (np.array([T, 2]), shape_re((2,)) + "|" + num(2)),
        (np.array([T, 2, 4, 1]), shape_re((4,)) + "|" + num(4)),
        (np.array([[T], [2], [4]]), shape_re((3, 1)) + r"|2-?d\b|ndim\W*2"),
    ],
    ids=["too_few", "too_many", "2d"],
)
def test_lengths_wrong_shape(cell: str, via: str, lengths: np.ndarray, received: str) -> None:
    with pytest.raises(ValueError, match=msg("lengths", num(N), received)):
        VIA[via](make(cell), data(T, N, IN), lengths=lengths)


@ALL_CELLS
def test_lengths_scalar(cell: str) -> None:
    with pytest.raises((ValueError, TypeError), match=msg("lengths")):
        make(cell).forward(data(T, N, IN), lengths=np.array(T))


@ALL_CELLS
@ALL_VIA
@pytest.mark.parametrize(
    "lengths",
    [
        np.array([5.0, 3.0, 2.0]),
        np.array([4.5, 3.0, 2.0]),
        np.array([True, True, False]),
        np.array(["5", "3", "2"]),
    ],
    ids=["integral_float", "fractional_float", "bool", "str"],
)
def test_lengths_not_integer(cell: str, via: str, lengths: np.ndarray) -> None:
    with pytest.raises(TypeError, match=msg("lengths", "int", re.escape(str(lengths.dtype)))):
        VIA[via](make(cell), data(T, N, IN), lengths=lengths)


@pytest.mark.parametrize(
    ("lengths", "exc"),
    [
        (np.array([T + 1, 2, 4]), ValueError),
        (np.array([T, 2]), ValueError),
        (np.array([5.0, 2.0, 4.0]), TypeError),
    ],
    ids=["longer_than_T", "wrong_count", "float"],
)
def test_flip_sequences_bad_lengths(lengths: np.ndarray, exc: type[Exception]) -> None:
    with pytest.raises(exc, match=msg("lengths")):
        birnn.flip_sequences(data(T, N, IN), lengths=lengths)


# ---------------------------------------------------------------------------------------------
# hx
# ---------------------------------------------------------------------------------------------

HX_SHAPE_CASES = [(3, N, H), (DL, N + 1, H), (DL, N, H + 1), (N, DL, H), (N, H)]
HX_SHAPE_IDS = ["chains", "batch", "hidden", "batch_major", "2d"]


@pytest.mark.parametrize("cell", ["gru", "rnn"])
@ALL_VIA
@pytest.mark.parametrize("bad", HX_SHAPE_CASES, ids=HX_SHAPE_IDS)
def test_hx_wrong_shape(cell: str, via: str, bad: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=msg("hx", shape_re(bad))):
        VIA[via](make(cell), data(T, N, IN), hx=zeros(*bad))


@ALL_VIA
@pytest.mark.parametrize(
    ("proj_size", "which", "bad"),
    [
        (0, "h", (DL, N, H + 1)),
        (0, "h", (DL, N + 1, H)),
        (0, "c", (DL, N, H + 1)),
        (0, "c", (3, N, H)),
        (P, "h", (DL, N, H)),  # h given the cell size instead of proj_size
        (P, "c", (DL, N, P)),  # c given proj_size instead of the cell size
    ],
    ids=["h_hidden", "h_batch", "c_hidden", "c_chains", "proj_h", "proj_c"],
)
def test_lstm_hx_wrong_shape(via: str, proj_size: int, which: str, bad: tuple[int, ...]) -> None:
    h, c = good_state("lstm", h_out=proj_size or H)
    hx = (zeros(*bad), c) if which == "h" else (h, zeros(*bad))
    m = make("lstm", proj_size=proj_size)
    with pytest.raises(ValueError, match=msg("hx", shape_re(bad))):
        VIA[via](m, data(T, N, IN), hx=hx)


@pytest.mark.parametrize(
    ("cell", "hx"),
    [
        ("lstm", zeros(DL, N, H)),  # a bare array where (h, c) is expected
        ("lstm", (zeros(DL, N, H),)),
        ("lstm", (zeros(DL, N, H), zeros(DL, N, H), zeros(DL, N, H))),
        ("gru", (zeros(DL, N, H), zeros(DL, N, H))),  # a tuple where one array is expected
        ("rnn", (zeros(DL, N, H), zeros(DL, N, H))),
    ],
    ids=["lstm_array", "lstm_1_tuple", "lstm_3_tuple", "gru_tuple", "rnn_tuple"],
)
def test_hx_wrong_structure(cell: str, hx: Any) -> None:
    with pytest.raises((TypeError, ValueError), match=msg("hx", "tuple|array|pair|2")):
        make(cell).forward(data(T, N, IN), hx=hx)


@ALL_CELLS
@pytest.mark.parametrize("case", ["swapped", "one_chain"])
def test_hx_wrong_per_direction_sizes(cell: str, case: str) -> None:
    """hidden_size=(4, 5): the state is a list of one (N, H_chain) array per chain.

    A list of the wrong length is a wrong value (like lengths of the wrong length): ValueError.
    """
    m = make(cell, hidden_size=(4, 5), num_layers=1)
    if case == "swapped":
        hs, received = [zeros(N, 5), zeros(N, 4)], shape_re((N, 5))
    else:
        hs, received = [zeros(N, 4)], f"(?=.*{num(1)}).*{num(2)}"  # expected 2, received 1
    hx = (hs, [zeros(N, 4), zeros(N, 5)]) if cell == "lstm" else hs
    with pytest.raises(ValueError, match=msg("hx", received)):
        m.forward(data(T, N, IN), hx=hx)


# ---------------------------------------------------------------------------------------------
# constructor arguments
# ---------------------------------------------------------------------------------------------


@ALL_CELLS
@pytest.mark.parametrize("merge", ["avg", "multiplty", "max"])
def test_unknown_merge(cell: str, merge: str) -> None:
    with pytest.raises(ValueError, match=msg("merge", merge)):
        make(cell, merge=merge)
    fwd = make(cell, num_layers=1, bidirectional=False)
    bwd = make(cell, num_layers=1, bidirectional=False)
    with pytest.raises(ValueError, match=msg("merge", merge)):
        birnn.Bidirectional(fwd, bwd, merge=merge)


@pytest.mark.parametrize("nonlinearity", ["sigmoid", "gelu", "relu6"])
def test_unknown_nonlinearity(nonlinearity: str) -> None:
    with pytest.raises(ValueError, match=msg("nonlinearity", nonlinearity)):
        make("rnn", nonlinearity=nonlinearity)


@pytest.mark.parametrize("proj_size", [H, H + 3, -1])
def test_bad_proj_size(proj_size: int) -> None:
    with pytest.raises(ValueError, match=msg("proj_size", num(proj_size))):
        make("lstm", proj_size=proj_size)


@ALL_CELLS
@pytest.mark.parametrize(
    ("arg", "value", "exc"),
    [
        ("input_size", 0, ValueError),
        ("input_size", -3, ValueError),
        ("hidden_size", 0, ValueError),
        ("hidden_size", -3, ValueError),
        ("num_layers", 0, ValueError),
        ("num_layers", -1, ValueError),
        ("input_size", 7.5, TypeError),
        ("hidden_size", 4.5, TypeError),
        ("num_layers", 1.5, TypeError),
    ],
)
def test_bad_sizes(cell: str, arg: str, value: float, exc: type[Exception]) -> None:
    with pytest.raises(exc, match=msg(arg, num(value))):
        make(cell, **{arg: value})


@ALL_CELLS
@pytest.mark.parametrize("dropout", [-0.1, 1.0, 1.5])
def test_dropout_out_of_range(cell: str, dropout: float) -> None:
    with pytest.raises(ValueError, match=msg("dropout", num(dropout))):
        make(cell, dropout=dropout)
    layers = [make(cell, num_layers=1), make(cell, input_size=D * H, num_layers=1)]
    with pytest.raises(ValueError, match=msg("dropout", num(dropout))):
        birnn.Stack(layers, dropout=dropout)


@ALL_CELLS
@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"bidirectional": False}, "bidirectional|direction"),
        ({"merge": "sum"}, "merge|concat"),
        ({"merge": "mean"}, "merge|concat"),
        ({"merge": "mul"}, "merge|concat"),
        ({"hidden_size": (0, 5)}, num(0)),
        ({"hidden_size": (4, 5, 6)}, r"pair|two|\b2\b|\(4, 5, 6\)"),
    ],
    ids=["unidirectional", "sum", "mean", "mul", "zero", "triple"],
)
def test_per_direction_hidden_sizes(cell: str, kwargs: dict[str, Any], reason: str) -> None:
    """hidden_size=(h_fwd, h_bwd) is for bidirectional, merge="concat" modules only."""
    options = {"hidden_size": (4, 5), "num_layers": 1, **kwargs}
    with pytest.raises(ValueError, match=msg("hidden_size", reason)):
        make(cell, **options)


@ALL_CELLS
@pytest.mark.parametrize("init_state", ["random", "learnt", ""])
def test_unknown_init_state(cell: str, init_state: str) -> None:
    with pytest.raises(
        ValueError, match=msg("init_state", re.escape(repr(init_state)) + "|" + init_state)
    ):
        make(cell, init_state=init_state)


# ---------------------------------------------------------------------------------------------
# composition: Bidirectional(fwd, bwd) and Stack(layers)
# ---------------------------------------------------------------------------------------------


def one_way(cell: str, **kwargs: Any) -> Any:
    return make(cell, num_layers=1, bidirectional=False, **kwargs)


@pytest.mark.parametrize(
    ("build", "exc", "parts"),
    [
        (lambda: birnn.Bidirectional(one_way("lstm"), one_way("gru")), TypeError, ["LSTM", "GRU"]),
        (
            lambda: birnn.Bidirectional(one_way("gru"), make("gru", num_layers=1)),
            ValueError,
            ["bidirectional|unidirectional|direction"],
        ),
        (
            lambda: birnn.Bidirectional(one_way("rnn"), make("rnn", bidirectional=False)),
            ValueError,
            ["num_layers|layer"],
        ),
        (
            lambda: birnn.Bidirectional(one_way("lstm"), one_way("lstm", input_size=IN + 2)),
            ValueError,
            ["input|feature", num(IN), num(IN + 2)],
        ),
        (
            lambda: birnn.Stack([one_way("lstm"), one_way("gru", input_size=H)]),
            TypeError,
            ["LSTM", "GRU"],
        ),
        (lambda: birnn.Stack([]), ValueError, ["layers|empty"]),
        (
            lambda: birnn.Stack([one_way("gru"), one_way("gru", input_size=H + 1)]),
            ValueError,
            ["input|feature|layer", num(H), num(H + 1)],
        ),
    ],
    ids=[
        "bi_mixed_cells",
        "bi_bidirectional_part",
        "bi_multilayer_part",
        "bi_input_sizes_differ",
        "stack_mixed_cells",
        "stack_empty",
        "stack_sizes_do_not_chain",
    ],
)
def test_bad_composition(build: Callable[[], Any], exc: type[Exception], parts: list[str]) -> None:
    with pytest.raises(exc, match=msg(*parts)):
        build()


# ---------------------------------------------------------------------------------------------
# load_state_dict: refuses bad dicts and changes nothing when it does
# ---------------------------------------------------------------------------------------------

LOAD_MODULES = {
    "rnn": {},
    "gru": {},
    "lstm": {},
    "lstm_proj": {"proj_size": P},
    "gru_learned": {"init_state": "learned"},
}


def make_for_load(name: str) -> Any:
    return make(name.split("_")[0], **LOAD_MODULES[name])


@pytest.mark.parametrize("name", sorted(LOAD_MODULES))
@pytest.mark.parametrize("key", ["weight_ih_l0", "bias_hh_l1_reverse", "extra"])
def test_load_state_dict_missing_key(name: str, key: str) -> None:
    m = make_for_load(name)
    before = snapshot(m)
    sd = perturbed(before)
    if key == "extra":  # the key only the proj / learned variants have
        key = {"lstm_proj": "weight_hr_l1", "gru_learned": "h0_l1_reverse"}.get(
            name, "weight_hh_l0"
        )
    del sd[key]
    with pytest.raises(ValueError, match=msg(re.escape(key), MISSING_WORDS)):
        m.load_state_dict(sd)
    assert_unchanged(m, before)


@pytest.mark.parametrize("name", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("key", ["weight_ih_l2", "weight_hr_l0", "h0_l0", "bogus"])
def test_load_state_dict_unexpected_key(name: str, key: str) -> None:
    """A deeper layer, a projection, a learned state the module lacks, or a stray name."""
    m = make_for_load(name)
    before = snapshot(m)
    sd = perturbed(before)
    sd[key] = np.zeros(H, dtype=np.float32)  # placed last: a partial load would already have run
    with pytest.raises(ValueError, match=msg(re.escape(key), UNEXPECTED_WORDS)):
        m.load_state_dict(sd)
    assert_unchanged(m, before)


@pytest.mark.parametrize("name", sorted(LOAD_MODULES))
@pytest.mark.parametrize("pick", ["weight", "bias", "extra"])
@pytest.mark.parametrize("how", ["transposed", "extra_row", "flattened", "scalar"])
def test_load_state_dict_misshaped(name: str, pick: str, how: str) -> None:
    m = make_for_load(name)
    before = snapshot(m)
    sd = perturbed(before)
    key = {
        "weight": "weight_hh_l1_reverse",
        "bias": "bias_ih_l0",
        "extra": {"lstm_proj": "weight_hr_l1", "gru_learned": "h0_l0_reverse"}.get(
            name, "weight_ih_l1"
        ),
    }[pick]
    value = sd.pop(key)  # re-inserted last: a partial load would already have written the rest
    bad = {
        "transposed": value.T if value.shape[::-1] != value.shape else value[None],
        "extra_row": np.concatenate([value, value[:1]]),
        "flattened": value.reshape(-1)[:-1],
        "scalar": np.ones((), dtype=value.dtype),
    }[how]
    sd[key] = bad
    parts = [re.escape(key), shape_re(bad.shape), shape_re(value.shape)]
    with pytest.raises(ValueError, match=msg(*parts)):
        m.load_state_dict(sd)
    assert_unchanged(m, before)


@pytest.mark.parametrize("name", sorted(LOAD_MODULES))
def test_load_state_dict_round_trip_after_failure(name: str) -> None:
    """After a refused load the module still takes a good dict, which then does apply."""
    m = make_for_load(name)
    sd = perturbed(snapshot(m))
    broken = dict(sd)
    broken.pop(sorted(broken)[0])
    with pytest.raises(ValueError):
        m.load_state_dict(broken)
    m.load_state_dict(sd)
    for key, value in sd.items():
        np.testing.assert_array_equal(m.state_dict()[key], value, err_msg=key)


# ---------------------------------------------------------------------------------------------
# backward: the tape, d_out and d_state
# ---------------------------------------------------------------------------------------------


def forward_for_backward(cell: str, **kwargs: Any) -> tuple[Any, np.ndarray, Any]:
    m = make(cell, **kwargs)
    out, _, tape = m.forward(data(T, N, IN), training=True)
    return m, out, tape


@ALL_CELLS
@pytest.mark.parametrize("source", ["same_config", "other_cell", "other_sizes"])
def test_backward_foreign_tape(cell: str, source: str) -> None:
    """A tape belongs to the module whose forward made it, even an identically built twin."""
    m, out, _ = forward_for_backward(cell)
    if source == "same_config":
        other = make(cell, seed=1)
        x = data(T, N, IN)
    elif source == "other_cell":
        other = make({"rnn": "gru", "gru": "lstm", "lstm": "rnn"}[cell])
        x = data(T, N, IN)
    else:
        other = make(cell, input_size=IN + 2)
        x = data(T, N, IN + 2)
    _, _, foreign = other.forward(x, training=True)
    with pytest.raises((ValueError, TypeError), match=msg("tape")):
        m.backward(foreign, np.ones_like(out))


@ALL_CELLS
@pytest.mark.parametrize("tape", [None, "tape", {}], ids=["none", "str", "dict"])
def test_backward_not_a_tape(cell: str, tape: Any) -> None:
    m, out, _ = forward_for_backward(cell)
    with pytest.raises(TypeError, match=msg("tape")):
        m.backward(tape, np.ones_like(out))


@ALL_CELLS
@pytest.mark.parametrize(
    ("merge", "bad"),
    [
        ("concat", (T, N, D * H + 1)),
        ("concat", (T + 1, N, D * H)),
        ("concat", (T, N + 1, D * H)),
        ("concat", (N, T, D * H)),  # batch-first layout given to a time-major module
        ("concat", (T, N)),
        ("sum", (T, N, D * H)),  # the concat width given to a sum-merged module
    ],
    ids=["width", "time", "batch", "transposed", "2d", "sum_width"],
)
def test_backward_bad_d_out(cell: str, merge: str, bad: tuple[int, ...]) -> None:
    m, out, tape = forward_for_backward(cell, merge=merge)
    assert out.shape != bad
    with pytest.raises(ValueError, match=msg("d_out", shape_re(bad))):
        m.backward(tape, np.ones(bad, dtype=np.float32))


@pytest.mark.parametrize("cell", ["gru", "rnn"])
@pytest.mark.parametrize("bad", HX_SHAPE_CASES, ids=HX_SHAPE_IDS)
def test_backward_bad_d_state(cell: str, bad: tuple[int, ...]) -> None:
    m, out, tape = forward_for_backward(cell)
    with pytest.raises(ValueError, match=msg("d_state", shape_re(bad))):
        m.backward(tape, np.ones_like(out), d_state=zeros(*bad))


@pytest.mark.parametrize(
    ("proj_size", "which", "bad"),
    [
        (0, "h", (DL, N, H + 1)),
        (0, "c", (DL, N + 1, H)),
        (P, "h", (DL, N, H)),  # dh given the cell size instead of proj_size
        (P, "c", (DL, N, P)),  # dc given proj_size instead of the cell size
    ],
    ids=["h", "c", "proj_h", "proj_c"],
)
@pytest.mark.parametrize("other_none", [False, True], ids=["other_given", "other_none"])
def test_lstm_backward_bad_d_state(
    proj_size: int, which: str, bad: tuple[int, ...], other_none: bool
) -> None:
    m, out, tape = forward_for_backward("lstm", proj_size=proj_size)
    dh, dc = good_state("lstm", h_out=proj_size or H)
    if other_none:
        dh, dc = None, None
    d_state = (zeros(*bad), dc) if which == "h" else (dh, zeros(*bad))
    with pytest.raises(ValueError, match=msg("d_state", shape_re(bad))):
        m.backward(tape, np.ones_like(out), d_state=d_state)


@pytest.mark.parametrize(
    ("cell", "d_state"),
    [
        ("lstm", zeros(DL, N, H)),
        ("lstm", (zeros(DL, N, H), zeros(DL, N, H), zeros(DL, N, H))),
        ("gru", (zeros(DL, N, H), zeros(DL, N, H))),
    ],
    ids=["lstm_array", "lstm_3_tuple", "gru_tuple"],
)
def test_backward_d_state_wrong_structure(cell: str, d_state: Any) -> None:
    m, out, tape = forward_for_backward(cell)
    with pytest.raises((TypeError, ValueError), match=msg("d_state", "tuple|array|pair|2")):
        m.backward(tape, np.ones_like(out), d_state=d_state)
