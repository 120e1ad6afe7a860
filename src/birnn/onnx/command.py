"""``birnn export``: a trained model as one ONNX file (cli.py adds the parser with
``add_arguments`` and runs ``run``; nothing here imports onnx until the command runs).

    birnn export --model RUN --out model.onnx

Bad input (an unknown model directory, a path that cannot be written, a missing onnx package)
is an exception that cli.py turns into one line on stderr and exit status 2; the file is
written to a temporary name and renamed, so nothing is left behind.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ABOUT = (  # the subcommand's help line and description
    "write a trained model as ONNX, to run with onnxruntime alone",
    "Export a tagger, classifier or fill-in-the-blank model, vocabularies included, as one "
    "ONNX file: strings in, tag or label ids, names and probabilities out (docs/ONNX.md). "
    'Needs the onnx package (pip install "birnn[onnx]").',
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, type=Path, help="model directory (a run's --out)")
    p.add_argument("--out", required=True, type=Path, help="the ONNX file to write")


def run(args: argparse.Namespace) -> int:
    from birnn import pipeline
    from birnn.onnx import export

    task_model = pipeline.load(args.model)
    proto = export(task_model, args.out)
    inputs = ", ".join(i.name for i in proto.graph.input)
    outputs = ", ".join(o.name for o in proto.graph.output)
    print(
        f"{task_model.task.name} model exported to {args.out} (inputs {inputs}; outputs {outputs})"
    )
    return 0
