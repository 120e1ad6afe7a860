"""Training: checkpoints, the metrics log and a generic trainer (see docs/TRAINING-DESIGN.md)."""

from birnn.train.checkpoint import (
    Checkpoint,
    CheckpointError,
    TrainerState,
    assign_params,
    check_params,
    load_checkpoint,
    remove_checkpoint,
    save_checkpoint,
)
from birnn.train.config import TrainConfig
from birnn.train.log import MetricsLog
from birnn.train.trainer import TIMING_FIELDS, FitResult, Trainer

__all__ = [
    "TIMING_FIELDS",
    "Checkpoint",
    "CheckpointError",
    "FitResult",
    "MetricsLog",
    "TrainConfig",
    "Trainer",
    "TrainerState",
    "assign_params",
    "check_params",
    "load_checkpoint",
    "remove_checkpoint",
    "save_checkpoint",
]
