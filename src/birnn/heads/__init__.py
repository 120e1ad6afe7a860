"""Output heads on top of the encoders. See docs/TRAINING-DESIGN.md."""

from birnn.heads.constraints import Constraints, scheme_constraints
from birnn.heads.crf import CRF, CRFCache, viterbi

__all__ = ["CRF", "CRFCache", "Constraints", "scheme_constraints", "viterbi"]
