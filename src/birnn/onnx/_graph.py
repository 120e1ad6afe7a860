"""A small builder of ONNX graphs: every value gets a fresh name, constants become initializers,
and loop bodies (``Scan``) are graphs of their own that read the outer graph's values by name.

    g = Graph()
    y = g.op("MatMul", x, g.const(w))          # one output: its name
    a, b = g.op("Split", y, outputs=2, axis=1)  # several: a list of names
    body = g.body("step", inputs=[...], outputs=[...])   # a Scan body, same naming

Only ``onnx.helper`` builds protos; this module imports onnx, so nothing outside ``birnn.onnx``
imports it (``import birnn`` never needs onnx).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 20  # the default domain: reductions take axes as an input (18), RegexFullMatch (20)
ML_OPSET = 3  # ai.onnx.ml: LabelEncoder from strings to int64 and back
ML = "ai.onnx.ml"
FLOAT = TensorProto.FLOAT
INT64 = TensorProto.INT64
STRING = TensorProto.STRING
BOOL = TensorProto.BOOL

Dim = int | str | None  # a dimension: fixed, symbolic (dynamic, named) or unknown


class Graph:
    """Nodes and initializers of one graph; ``body`` makes a subgraph sharing the names."""

    def __init__(self, counter: itertools.count | None = None) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._counter = counter if counter is not None else itertools.count()

    def name(self, hint: str) -> str:
        """A name no other value of the model has (bodies share the counter)."""
        return f"{hint}_{next(self._counter)}"

    def op(
        self, op_type: str, *inputs: str, outputs: int = 1, domain: str = "", **attrs: Any
    ) -> Any:
        """Add one node; returns its output's name, or a list of names for ``outputs`` > 1.
        An input "" is an omitted optional input (ONNX's convention)."""
        names = [self.name(op_type.lower()) for _ in range(outputs)]
        attributes = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(
            helper.make_node(
                op_type, list(inputs), names, name=self.name(op_type), domain=domain, **attributes
            )
        )
        return names[0] if outputs == 1 else names

    def const(self, value: Any, hint: str = "const", dtype: Any = None) -> str:
        """An initializer holding ``value`` (a NumPy array or what ``np.asarray`` takes)."""
        arr = np.asarray(value, dtype=dtype)
        name = self.name(hint)
        # (np.ascontiguousarray would make a 0-d array 1-d: scalars must stay scalars)
        self.initializers.append(numpy_helper.from_array(arr.copy(order="C"), name))
        return name

    def ints(self, *values: int) -> str:
        """A 1-D int64 constant: axes, shapes, starts and ends."""
        return self.const(np.array(values, dtype=np.int64), "ints")

    def scalar(self, value: float) -> str:
        return self.const(np.array(value, dtype=np.float32), "scalar")

    def output(self, source: str, name: str) -> None:
        """Give the value ``source`` the graph output's ``name`` (an Identity node)."""
        self.nodes.append(helper.make_node("Identity", [source], [name], name=f"out_{name}"))

    def body(
        self,
        hint: str,
        inputs: Sequence[onnx.ValueInfoProto],
        outputs: Sequence[onnx.ValueInfoProto],
    ) -> onnx.GraphProto:
        """This graph's nodes as the body of a loop (call it on a ``Graph`` made by ``sub``)."""
        return helper.make_graph(
            self.nodes, self.name(hint), list(inputs), list(outputs), self.initializers
        )

    def sub(self) -> Graph:
        """An empty graph for a loop body, naming its values in this graph's sequence."""
        return Graph(self._counter)


def value(name: str, elem_type: int, shape: Sequence[Dim] | None) -> onnx.ValueInfoProto:
    """A graph input or output: name, element type and shape (names for dynamic dims)."""
    return helper.make_tensor_value_info(name, elem_type, None if shape is None else list(shape))


def model(
    graph: Graph,
    inputs: Sequence[onnx.ValueInfoProto],
    outputs: Sequence[onnx.ValueInfoProto],
    metadata: dict[str, str],
    doc: str,
) -> onnx.ModelProto:
    """The finished model, checked by ``onnx.checker`` with full (strict) shape inference."""
    main = helper.make_graph(
        graph.nodes, "birnn", list(inputs), list(outputs), graph.initializers, doc_string=doc
    )
    uses_ml = any(n.domain == ML for n in graph.nodes)
    opsets = [helper.make_opsetid("", OPSET)] + ([helper.make_opsetid(ML, ML_OPSET)] * uses_ml)
    proto = helper.make_model(main, opset_imports=opsets, producer_name="birnn")
    proto.ir_version = 9  # what onnxruntime 1.17 and later read (opset 20 needs >= 9)
    helper.set_model_props(proto, metadata)
    onnx.checker.check_model(proto, full_check=True)
    return proto
