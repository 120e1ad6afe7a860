"""birnn.onnx.export of recurrent modules: onnxruntime's outputs equal birnn's.

A hypothesis sweep over random modules of every kind the exporter takes (one-call RNN/GRU/LSTM,
Bidirectional from two halves, Stack of mixed layers; merges, per-direction sizes, proj_size,
reset_after, relu, no bias, batch-first, zeros/constant/learned/given initial states), each
exported once and run on two batches of different sizes (never the size it was built with),
ragged and unsorted lengths that include 1 and T, batch 1 included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import birnn
from helpers import random_lengths, randomize_parameters
from refusals import assert_refused

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from birnn.onnx import export  # noqa: E402

TOL = 1e-5  # float32: |onnxruntime - birnn| <= TOL * max(1, max |birnn|)
MERGES = ("concat", "sum", "mean", "mul")


def session(path: Path) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def assert_close(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    err = float(np.abs(got - want).max(initial=0.0))
    assert err <= TOL * scale, f"{what}: max |onnxruntime - birnn| = {err:.3g} (scale {scale:.3g})"


def feeds_for(m: Any, x: np.ndarray, lengths: np.ndarray, hx: Any) -> dict[str, np.ndarray]:
    feeds = {"x": x, "lengths": lengths.astype(np.int64)}
    if hx is None:
        return feeds
    states = hx if m.num_states == 2 else (hx,)
    names = [_suffix_names(m)]
    for name, s in zip(("h0", "c0"), states):
        if isinstance(s, list):
            feeds |= {f"{name}_{c}": a for c, a in zip(names[0], s)}
        else:
            feeds[name] = s
    return feeds


def _suffix_names(m: Any) -> list[str]:
    return [f"l{k}{'_reverse' if d else ''}" for k, d in m.chains]


def birnn_outputs(m: Any, state: Any) -> list[np.ndarray]:
    """birnn's final states in the order of the graph's outputs."""
    out = []
    for s in state if m.num_states == 2 else (state,):
        out.extend(s if isinstance(s, list) else [s])
    return out


def check_module(m: Any, path: Path, rng: np.random.Generator, sizes: tuple[int, ...],
                 steps: int, given_states: bool) -> None:  # fmt: skip
    """Export ``m`` once, then compare onnxruntime and birnn on batches of ``sizes``."""
    export(m, path, initial_states=given_states)
    sess = session(path)
    for n in sizes:
        shape = (n, steps, m.input_size) if m.batch_first else (steps, n, m.input_size)
        x = rng.standard_normal(shape).astype(np.float32)
        lengths = random_lengths(rng, n, steps) if n >= 2 else np.array([steps])
        hx = None
        if given_states:
            _, like = m(x, lengths=lengths)
            hx = _map(lambda a: (0.7 * rng.standard_normal(a.shape)).astype(np.float32), like)
        out, state = m(x, hx, lengths)
        got = sess.run(None, feeds_for(m, x, lengths, hx))
        assert_close(got[0], out, f"output (batch {n})")
        for i, (g, w) in enumerate(zip(got[1:], birnn_outputs(m, state), strict=True)):
            assert_close(g, w, f"final state {i} (batch {n})")


def _map(fn: Any, tree: Any) -> Any:
    if isinstance(tree, (tuple, list)):
        return type(tree)(_map(fn, t) for t in tree)
    return fn(tree)


# ---- random modules ---------------------------------------------------------------------------


@st.composite
def cell_options(draw: Any, kind: str) -> dict[str, Any]:
    opts: dict[str, Any] = {"bias": draw(st.booleans())}
    if kind == "RNN":
        opts["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    if kind == "GRU":
        opts["reset_after"] = draw(st.booleans())
    return opts


@st.composite
def one_call(draw: Any, kind: str, input_size: int, opts: dict[str, Any], **kw: Any) -> Any:
    bidirectional = draw(st.booleans())
    merge = draw(st.sampled_from(MERGES)) if bidirectional else "concat"
    hidden: Any = draw(st.integers(2, 5))
    if bidirectional and merge == "concat" and draw(st.booleans()):
        hidden = (hidden, draw(st.integers(2, 5)))  # per-direction sizes
    extra = dict(opts) | kw
    if kind == "LSTM" and draw(st.booleans()):
        extra["proj_size"] = draw(st.integers(1, min(np.atleast_1d(hidden)) - 1))
    return getattr(birnn, kind)(input_size, hidden, num_layers=draw(st.integers(1, 2)),
                                bidirectional=bidirectional, merge=merge, **extra)  # fmt: skip


@st.composite
def pair(draw: Any, kind: str, input_size: int, opts: dict[str, Any], **kw: Any) -> Any:
    """Bidirectional(fwd, bwd), the halves possibly of different sizes."""
    cls = getattr(birnn, kind)
    h_f, h_b = draw(st.integers(2, 5)), draw(st.integers(2, 5))
    merge = draw(st.sampled_from(MERGES)) if h_f == h_b else "concat"
    halves = cls(input_size, h_f, **opts), cls(input_size, h_b, **opts)
    return birnn.Bidirectional(*halves, merge, **kw)


@st.composite
def modules(draw: Any) -> Any:
    kind = draw(st.sampled_from(["RNN", "GRU", "LSTM"]))
    opts = draw(cell_options(kind))
    input_size = draw(st.integers(1, 4))
    kw = {
        "batch_first": draw(st.booleans()),
        "init_state": draw(st.sampled_from(["zeros", "learned", 0.3])),
    }
    style = draw(st.sampled_from(["one-call", "pair", "stack"]))
    if style == "one-call":
        m = draw(one_call(kind, input_size, opts, **kw))
    elif style == "pair":
        m = draw(pair(kind, input_size, opts, **kw))
    else:
        layers, width = [], input_size
        for _ in range(draw(st.integers(1, 3))):
            layer = draw(st.one_of(one_call(kind, width, opts), pair(kind, width, opts)))
            layers.append(layer)
            width = layer.output_size
        m = birnn.Stack(layers, **kw)
    randomize_parameters(m, np.random.default_rng(draw(st.integers(0, 2**16))))
    return m


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(m=modules(), given_states=st.booleans(), steps=st.integers(1, 6), seed=st.integers(0, 99))
def test_random_modules_match_birnn(tmp_path: Path, m: Any, given_states: bool, steps: int,
                                    seed: int) -> None:  # fmt: skip
    rng = np.random.default_rng(seed)
    check_module(m, tmp_path / "m.onnx", rng, sizes=(1, 5, 3), steps=steps,
                 given_states=given_states)  # fmt: skip


# ---- what the graph is made of ---------------------------------------------------------------


def _nodes(proto: Any) -> list[Any]:
    return list(proto.graph.node)


def _attr(node: Any, name: str) -> Any:
    return next(onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == name)


@pytest.mark.parametrize("kind, op", [("LSTM", "LSTM"), ("GRU", "GRU"), ("RNN", "RNN")])
def test_bidirectional_layers_are_one_onnx_operator_each(tmp_path: Path, kind: str, op: str):
    m = getattr(birnn, kind)(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    proto = export(m, tmp_path / "m.onnx")
    ops = [n for n in _nodes(proto) if n.op_type == op]
    assert len(ops) == 2
    for node in ops:
        assert _attr(node, "direction") == b"bidirectional"
        assert node.input[4], "sequence_lens must be given"
        assert all(a.name != "layout" for a in node.attribute)  # batch_first by transposes
    dims = [d.dim_param for d in proto.graph.input[0].type.tensor_type.shape.dim[:2]]
    assert dims == ["batch", "time"]  # dynamic batch and sequence length


def test_gru_forms_set_linear_before_reset(tmp_path: Path):
    for reset_after, flag in ((True, 1), (False, 0)):
        proto = export(birnn.GRU(3, 4, reset_after=reset_after), tmp_path / "g.onnx")
        (node,) = [n for n in _nodes(proto) if n.op_type == "GRU"]
        assert _attr(node, "linear_before_reset") == flag


def test_per_direction_sizes_are_two_forward_operators_over_reversed_sequences(tmp_path: Path):
    proto = export(birnn.LSTM(3, (4, 2), bidirectional=True), tmp_path / "m.onnx")
    ops = [n for n in _nodes(proto) if n.op_type == "LSTM"]
    assert [_attr(n, "direction") for n in ops] == [b"forward", b"forward"]
    assert sum(n.op_type == "ReverseSequence" for n in _nodes(proto)) == 2
    names = [o.name for o in proto.graph.output]
    assert names == ["output", "h_n_l0", "h_n_l0_reverse", "c_n_l0", "c_n_l0_reverse"]


def test_projection_is_a_scan(tmp_path: Path):
    proto = export(birnn.LSTM(3, 4, proj_size=2, bidirectional=True), tmp_path / "m.onnx")
    assert [n.op_type for n in _nodes(proto)].count("Scan") == 2
    assert not any(n.op_type == "LSTM" for n in _nodes(proto))


def test_the_model_passes_the_checker_with_full_shape_inference(tmp_path: Path):
    m = birnn.Stack([birnn.GRU(3, 4, bidirectional=True, merge="mean"), birnn.GRU(4, 2)])
    export(m, tmp_path / "m.onnx")
    model = onnx.load(str(tmp_path / "m.onnx"))
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    assert [d.dim_value for d in inferred.graph.output[0].type.tensor_type.shape.dim][2] == 2


def test_float64_modules_export_as_float32(tmp_path: Path):
    m = birnn.LSTM(3, 4, bidirectional=True, dtype=np.float64, seed=0)
    rng = np.random.default_rng(0)
    check_module(m, tmp_path / "m.onnx", rng, sizes=(4,), steps=5, given_states=False)


# ---- bad input ---------------------------------------------------------------------------------


def test_refuses_what_it_cannot_export(tmp_path: Path):
    gru = birnn.GRU(2, 3)
    assert_refused(lambda: export(np.zeros(3), tmp_path / "m.onnx"), TypeError,
                   "obj must be a birnn recurrent module (RNN, GRU, LSTM, Bidirectional, Stack) "
                   "or a trained model (birnn.load(path)); received array of shape (3,) and "
                   "dtype float64")  # fmt: skip
    assert_refused(lambda: export(gru, tmp_path / "m.onnx", initial_states="yes"), TypeError,
                   "initial_states must be a bool; received 'yes'")  # fmt: skip
    assert_refused(lambda: export(gru, 42), TypeError,
                   "path must be a file name (str or Path); received 42")  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_unwritable_path_leaves_nothing_behind(tmp_path: Path):
    with pytest.raises(OSError):
        export(birnn.GRU(2, 3), tmp_path / "missing" / "m.onnx")
    target = tmp_path / "m.onnx"
    target.mkdir()  # a directory where the file should go: the rename fails
    with pytest.raises(OSError):
        export(birnn.GRU(2, 3), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
    assert list(target.iterdir()) == []


def test_import_birnn_never_imports_onnx():
    import subprocess
    import sys

    code = "import sys, birnn, birnn.cli; assert 'onnx' not in sys.modules, 'onnx imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
