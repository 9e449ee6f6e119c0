"""One module of handlers per resource family; importing this package registers them all."""

from . import (  # noqa: F401
    activities,
    events,
    reservations,
    statistics,
    task_channels,
    task_queues,
    tasks,
    workers,
    workflows,
    workspaces,
)
