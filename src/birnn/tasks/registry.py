"""The task table: task name -> its ``Task``, so the command line has no per-task branches.

Each task is defined, whole, in its own module (see ``birnn.tasks.task``); adding one is a
module and an entry here.
"""

from __future__ import annotations

from birnn.tasks import classification, fill, tagging
from birnn.tasks.task import Task

TASKS: dict[str, Task] = {
    task.name: task for task in (tagging.TASK, classification.TASK, fill.TASK)
}
