"""birnn: bidirectional recurrent networks from first principles.

RNN, GRU and LSTM cells with hand-derived backpropagation through time, unidirectional and
bidirectional, stacked, with variable-length sequences, merge modes and initial states;
numerically identical to PyTorch's ``nn.RNN``, ``nn.GRU`` and ``nn.LSTM``.
"""

from birnn.backend import get_backend, get_num_threads, set_backend, set_num_threads
from birnn.modules import GRU, LSTM, RNN, Bidirectional, Stack
from birnn.recurrent.merge import MERGES
from birnn.recurrent.module import RecurrentModule, Tape
from birnn.recurrent.sequence import flip_sequences

__version__ = "0.1.0"

__all__ = [
    "GRU",
    "LSTM",
    "MERGES",
    "RNN",
    "Bidirectional",
    "RecurrentModule",
    "Stack",
    "Tape",
    "__version__",
    "flip_sequences",
    "get_backend",
    "get_num_threads",
    "set_backend",
    "set_num_threads",
]
