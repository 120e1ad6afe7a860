"""Output heads on top of the encoders. See docs/TRAINING-DESIGN.md."""

from birnn.heads.crf import CRF, CRFCache, iob2_constraints

__all__ = ["CRF", "CRFCache", "iob2_constraints"]
