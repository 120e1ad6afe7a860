"""See what each direction did (docs/EXPLAIN.md).

* ``explain(task_model, words)`` -> ``Explanation``: every output's score split exactly into
  forward + backward + bias, its runner-up's, the CRF paths, the classifier's poolings
  (``attribution``), and the sensitivity maps of every output to every input word through each
  direction's gradient path (``sensitivity``). ``text.lines``, ``html.page`` and ``plots`` show
  one; ``birnn explain`` is the command line.
* For any recurrent module: ``split_output`` (out == forward + backward, for the additive
  merges) and ``path_gradients`` (dx through forward chains only, backward chains only, and
  the rest), both on the module's own tape and backward pass.
* ``GradientTrace`` / ``TrainingTrace``: dL/dh_t per chain and step, in one backward pass or
  during training (``birnn train --trace-gradients``).
* ``trace()``: the seeds' tiny tanh BiRNN, every forward and backward number printed and
  checked against birnn's own modules (``birnn explain --trace``).
"""

from birnn.explain.attribution import Decision, Split, crf_decisions, softmax_decisions
from birnn.explain.directions import OutputSplit, PathGradients, path_gradients, split_output
from birnn.explain.explanation import Explanation, explain
from birnn.explain.gradients import GradientFlow, GradientTrace, TrainingTrace, read_trace
from birnn.explain.readout import ModelRun, run_model
from birnn.explain.sensitivity import Sensitivity, repeat_batch, sensitivity
from birnn.explain.trace import Trace, trace

__all__ = [
    "Decision",
    "Explanation",
    "GradientFlow",
    "GradientTrace",
    "ModelRun",
    "OutputSplit",
    "PathGradients",
    "Sensitivity",
    "Split",
    "Trace",
    "TrainingTrace",
    "crf_decisions",
    "explain",
    "path_gradients",
    "read_trace",
    "repeat_batch",
    "run_model",
    "sensitivity",
    "softmax_decisions",
    "split_output",
    "trace",
]
