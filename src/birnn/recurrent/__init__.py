"""The recurrent core under ``birnn.RNN`` / ``GRU`` / ``LSTM``: time loop, layer, stack.

Not part of the public API (``birnn`` re-exports what users need: the modules, ``MERGES``,
``flip_sequences``, ``RecurrentModule`` and ``Tape``). The layering, one idea per file:

    sequence.py   the batch sorted by length, and the flip within lengths
    scan.py       the time loop over one cell (NumPy, or the compiled ``birnn._native``)
    merge.py      how two directions' outputs combine, forward and backward (one table)
    layer.py      one layer: one or two directions over the same input, merged
    states.py     the caller's layout of initial and final states
    workspace.py  scratch and tape memory reused between calls
    module.py     a stack of layers behind PyTorch's interface, dropout between layers
"""

from birnn.recurrent.layer import Layer, LayerTape
from birnn.recurrent.merge import MERGES
from birnn.recurrent.module import RecurrentModule, Tape
from birnn.recurrent.scan import ScanTape, scan_backward, scan_forward
from birnn.recurrent.sequence import Batch, flip_sequences

__all__ = [
    "MERGES",
    "Batch",
    "Layer",
    "LayerTape",
    "RecurrentModule",
    "ScanTape",
    "Tape",
    "flip_sequences",
    "scan_backward",
    "scan_forward",
]
