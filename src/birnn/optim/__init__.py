"""See docs/TRAINING-DESIGN.md."""
