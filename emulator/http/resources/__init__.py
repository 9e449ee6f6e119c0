"""One module of handlers per resource family; importing this package registers them all."""

from . import activities, events, reservations, task_channels, task_queues, tasks, workers, workflows, workspaces  # noqa: F401
from . import statistics  # noqa: F401
