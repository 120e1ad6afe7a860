"""The cells: one time step of each recurrence, forward and hand-derived backward.

Not part of the public API (import the modules from ``birnn``); this package is the place to
read the equations, or to add a cell. A cell declares its parameters, its tape layout
(``extra_widths``, ``grad_widths``), its compiled mirror (``native_step``) and every parameter
gradient (``grad_sums``, ``param_grads``); the time loop (``birnn.recurrent``) knows nothing
cell-specific.
"""

from birnn.cells.base import Cell, Weights
from birnn.cells.gru import GRUCell
from birnn.cells.gru_original import OriginalGRUCell
from birnn.cells.lstm import LSTMCell
from birnn.cells.rnn import RNNCell

__all__ = ["Cell", "GRUCell", "LSTMCell", "OriginalGRUCell", "RNNCell", "Weights"]
