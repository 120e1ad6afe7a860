"""Tasks: what ties a reader, vocabularies, a model and a metric together.

One module per task (``tagging``, ``classification``, ``fill``), each ending with its ``Task``
(``task.py``); ``registry.TASKS`` lists them by name; ``base`` is what they share (vocabularies,
encoding, batching). The pipeline (``birnn.pipeline``) and the command line use them.
"""
