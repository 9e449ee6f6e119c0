"""What a workspace needs from outside itself: the clock, the SID source, the event sink and the
routing work queue.

A workspace is handed one ``Context`` instead of the whole backend, so the aggregate depends only
on these four things and on the engine's rule modules; the router (which implements
``RoutingHooks``) and the backend sit above it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..clock import Clock
from ..sids import SidSource
from .state import Event, Reservation, Route, Task, TaskQueue, Transfer, Worker, Workflow

if TYPE_CHECKING:
    from .tables import WorkspaceTables
    from .updates import ReservationUpdate


class RoutingHooks(Protocol):
    """What the workspace tells the router after a change (``router.Router`` implements it).

    Each hook keeps the routing index in step and queues the routing the change calls for; the
    queued work runs when the outermost hook returns."""

    def task_created(self, ws: WorkspaceTables, task: Task, route: Route | None) -> None: ...
    def task_updated(self, ws: WorkspaceTables, task: Task, *, attributes_changed: bool) -> None: ...
    def change_task_status(self, ws: WorkspaceTables, task: Task, status: str, reason: str | None) -> None: ...
    def remove_task(self, ws: WorkspaceTables, task_sid: str, *, system: bool, event_type: str | None = None) -> None: ...
    def worker_changed(self, ws: WorkspaceTables, worker: Worker) -> None: ...
    def worker_removed(self, ws: WorkspaceTables, worker: Worker) -> None: ...
    def reject_pending_reservations(self, ws: WorkspaceTables, worker: Worker) -> None: ...
    def queue_changed(self, ws: WorkspaceTables, queue: TaskQueue) -> None: ...
    def queue_removed(self, ws: WorkspaceTables, queue_sid: str) -> None: ...
    def reevaluate_workflow(self, ws: WorkspaceTables, workflow: Workflow) -> None: ...
    def update_reservation(self, ws: WorkspaceTables, reservation: Reservation, update: ReservationUpdate) -> None: ...
    def cancel_reservation(self, ws: WorkspaceTables, reservation: Reservation) -> None: ...
    def create_transfer(self, ws: WorkspaceTables, reservation: Reservation, task: Task, to: str, mode: str,
                        attributes: tuple[str, dict] | None, priority: int | None) -> Transfer: ...
    def cancel_transfer(self, ws: WorkspaceTables, transfer: Transfer) -> None: ...


class WorkQueue:
    """Routing work waiting for the outermost change to finish: ``("task" | "worker", sid)`` ->
    workspace, in the order first asked for. ``depth`` counts the changes in progress."""

    __slots__ = ("items", "depth")

    def __init__(self) -> None:
        self.items: OrderedDict[tuple[str, str], WorkspaceTables] = OrderedDict()
        self.depth = 0

    def want_task(self, ws: WorkspaceTables, task_sid: str) -> None:
        self.items[("task", task_sid)] = ws

    def want_worker(self, ws: WorkspaceTables, worker_sid: str) -> None:
        self.items[("worker", worker_sid)] = ws

    def forget_worker(self, worker_sid: str) -> None:
        self.items.pop(("worker", worker_sid), None)

    def clear(self) -> None:
        self.items.clear()


class Batch:
    """The context of one change (``with batch:``): the work it queues runs (``drain``) when the
    outermost one ends, even by an error. A class rather than a generator: a routed task enters
    it several times."""

    __slots__ = ("work", "drain")

    def __init__(self, work: WorkQueue, drain: Callable[[], None]) -> None:
        self.work = work
        self.drain = drain

    def __enter__(self) -> None:
        self.work.depth += 1

    def __exit__(self, *exc: object) -> None:
        work = self.work
        work.depth -= 1
        if work.depth == 0:
            self.drain()


@dataclass(eq=False)
class Context:
    """The outside world of every workspace of one backend."""

    clock: Clock
    sids: SidSource
    publish: Callable[[WorkspaceTables, Event], None]  # the event sink (webhooks, statistics hang here)
    routing: RoutingHooks
    work: WorkQueue
