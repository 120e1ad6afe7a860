"""birnn: bidirectional recurrent networks from first principles.

RNN, GRU and LSTM cells with hand-derived backpropagation through time, unidirectional and
bidirectional, stacked, with variable-length sequences, merge modes and initial states;
numerically identical to PyTorch's ``nn.RNN``, ``nn.GRU`` and ``nn.LSTM``.

The training stack on top (docs/TRAINING.md): models (``Tagger``, ``Classifier``, ``FillModel``,
each with its config dataclass), the generic ``Trainer`` and its ``TrainConfig``; the parts live
in ``birnn.layers``, ``birnn.heads``, ``birnn.losses``, ``birnn.optim``, ``birnn.data``,
``birnn.metrics``, ``birnn.train`` and ``birnn.pipeline``; ``birnn.load(path)`` gives a trained
model's ``Predictor``, whose ``predict(texts)`` tags or labels texts; ``predict_corpus`` does
it for many files or a Dask bag (``birnn.corpus``); ``birnn.distributed`` trains over MPI.
"""

from birnn.backend import get_backend, get_num_threads, set_backend, set_num_threads
from birnn.corpus import predict_corpus
from birnn.models.classifier import Classifier, ClassifierConfig
from birnn.models.encoder import EncoderConfig
from birnn.models.fill import FillConfig, FillModel
from birnn.models.tagger import Tagger, TaggerConfig
from birnn.modules import GRU, LSTM, RNN, Bidirectional, Stack
from birnn.predictor import Prediction, Predictor, load
from birnn.recurrent.merge import MERGES
from birnn.recurrent.module import RecurrentModule, Tape
from birnn.recurrent.sequence import flip_sequences
from birnn.train.config import TrainConfig
from birnn.train.trainer import Trainer

__version__ = "0.1.0"

__all__ = [
    "GRU",
    "LSTM",
    "MERGES",
    "RNN",
    "Bidirectional",
    "Classifier",
    "ClassifierConfig",
    "EncoderConfig",
    "FillConfig",
    "FillModel",
    "Prediction",
    "Predictor",
    "RecurrentModule",
    "Stack",
    "Tagger",
    "TaggerConfig",
    "Tape",
    "TrainConfig",
    "Trainer",
    "__version__",
    "flip_sequences",
    "get_backend",
    "get_num_threads",
    "load",
    "predict_corpus",
    "set_backend",
    "set_num_threads",
]
