"""See what each direction did (docs/EXPLAIN.md).
"""
