"""Optimizers by name, for configuration files and the command line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from birnn._checks import describe
from birnn.optim.adam import Adam, AdamW
from birnn.optim.base import Array, Optimizer
from birnn.optim.sgd import SGD

OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


def make_optimizer(name: str, params: Mapping[str, Array], **kwargs: Any) -> Optimizer:
    """The optimizer called ``name`` (a key of ``OPTIMIZERS``) over ``params``.

    ``kwargs`` are that optimizer's own arguments (``lr``, ``weight_decay``, and ``momentum`` /
    ``nesterov`` for SGD or ``betas`` / ``eps`` for Adam and AdamW).
    """
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ValueError(
            f"optimizer must be one of {sorted(OPTIMIZERS)}; received {describe(name)}"
        )
    return OPTIMIZERS[name](params, **kwargs)
