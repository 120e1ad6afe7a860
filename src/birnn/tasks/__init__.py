"""Tasks: what ties a reader, vocabularies, a model and a metric together (see cli.py)."""
