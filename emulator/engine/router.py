"""Task and Reservation lifecycles, and the routing engine that matches tasks to workers.

The lifecycle rules follow https://www.twilio.com/docs/taskrouter/lifecycle-task-state: a task is
created ``pending``, is canceled from ``pending``/``reserved``, wraps up from ``assigned`` and
completes from ``assigned``/``wrapping``; finished tasks are deleted five minutes later; a task
still ``pending``/``reserved`` when its ``Timeout`` (TTL) runs out is canceled with the reason
"Task TTL Exceeded".

Routing (https://www.twilio.com/docs/taskrouter/workflow-configuration): a task enters the first
target of the first workflow filter its attributes match (or the default filter), i.e. a queue;
workers of that queue who are available, have free capacity on the task's channel and match the
target's expression get Reservations (up to the queue's ``MaxReservedWorkers``). A target's
``timeout`` moves the task on to the next target; the last target's timeout cancels the task.

Work is driven by hooks the workspace calls (``task_created``, ``worker_changed``, ...). Routing
that a hook triggers is queued and run when the outermost hook returns, so nested changes (a
reservation moving a worker to another activity, which is itself a hook) never re-enter a pass.
"""

from __future__ import annotations

import functools

from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import errors
from . import events as ev
from .expressions import time_variables
from .models import (ASSIGNED, CANCELED, COMPLETED, PENDING, RESERVED, WRAPPING, Reservation, Task, Worker,
                     Workflow)
from .workflow_config import Target

if TYPE_CHECKING:
    from .backend import Backend
    from .workspace import Workspace

TTL_REASON = "Task TTL Exceeded"
# "If the final target's timeout expires the task is canceled" (https://www.twilio.com/docs/taskrouter/workflow-configuration)
WORKFLOW_TIMEOUT_REASON = "Workflow Timeout"
# [I] the reason a task gets when skip_if makes it leave the final target of its workflow
# ("workflow.skipped ... is removed from the workspace", https://www.twilio.com/docs/taskrouter/api/event/reference).
WORKFLOW_SKIPPED_REASON = "Workflow Skipped"
DEFAULT_FILTER_NAME = "Default Filter"
# A task that keeps failing to be assigned is canceled after 1,000 reservations
# (https://www.twilio.com/docs/taskrouter/lifecycle-task-state).
MAX_RESERVATION_ATTEMPTS = 1000
ATTEMPTS_REASON = "Task reservation attempts exceeded"
DEFAULT_RESERVATION_TIMEOUT = 120
LOAD_STATUSES = ("pending", "accepted", "wrapping")


@dataclass
class Route:
    """Where a task is in its routing: the targets it walks and the current step."""

    targets: list
    workflow_sid: str | None = None
    filter_name: str | None = None
    index: int = 0
    worker_sid: str | None = None  # RoutingTarget = a worker


@dataclass
class _TaskState:
    route: Route | None = None
    target_timer: object = None
    excluded: set = field(default_factory=set)  # workers who rejected the task
    attempts: int = 0


class Router:
    def __init__(self, backend: "Backend") -> None:
        self.backend = backend
        self._ttl_timers: dict[str, object] = {}
        self._state: dict[str, _TaskState] = {}
        self._reservation_timers: dict[str, object] = {}
        self._last_assigned: dict[str, object] = {}
        self._work: OrderedDict = OrderedDict()
        self._depth = 0

    # --- batching -------------------------------------------------------------------------------
    @contextmanager
    def _batch(self):
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._drain()

    def _drain(self) -> None:
        self._depth += 1
        try:
            while self._work:
                (kind, sid), ws = self._work.popitem(last=False)
                if not self.backend.workspace_alive(ws):
                    continue
                if kind == "task":
                    task = ws.tasks.get(sid)
                    if task is not None:
                        self._assign_task(ws, task)
                else:
                    worker = ws.workers.get(sid)
                    if worker is not None:
                        self._offer_worker(ws, worker)
        finally:
            self._depth -= 1

    def _want_task(self, ws: "Workspace", task_sid: str) -> None:
        self._work[("task", task_sid)] = ws

    def _want_worker(self, ws: "Workspace", worker_sid: str) -> None:
        self._work[("worker", worker_sid)] = ws

    # --- hooks called by the workspace ---------------------------------------------------------
    def task_created(self, ws: "Workspace", task: Task) -> None:
        with self._batch():
            self._ttl_timers[task.sid] = ws.clock.call_later(
                task.timeout, functools.partial(self._ttl_expired, ws, task.sid), name=f"ttl {task.sid}")
            self._start_routing(ws, task)

    def task_updated(self, ws: "Workspace", task: Task, *, attributes_changed: bool) -> None:
        """A pending task whose attributes change goes through its workflow again (age kept)."""
        with self._batch():
            if task.assignment_status != PENDING:
                return
            if attributes_changed and task.workflow_sid and not task.routing_target and not task.requested_queue_sid:
                self._start_routing(ws, task)
            else:
                self._want_task(ws, task.sid)

    def worker_changed(self, ws: "Workspace", worker: Worker) -> None:
        """A worker's activity, attributes or channels changed: offer it waiting work."""
        with self._batch():
            self._want_worker(ws, worker.sid)

    def queue_changed(self, ws: "Workspace", queue) -> None:
        """A queue's TargetWorkers or MaxReservedWorkers changed: its waiting tasks look again."""
        with self._batch():
            for task in ws.tasks.values():
                if task.task_queue_sid == queue.sid and task.assignment_status in (PENDING, RESERVED):
                    self._want_task(ws, task.sid)

    def reevaluate_workflow(self, ws: "Workspace", workflow: Workflow) -> None:
        """``ReEvaluateTasks=true``: the workflow's pending tasks are routed again from the start."""
        with self._batch():
            for task in list(ws.tasks.values()):
                if task.workflow_sid == workflow.sid and task.assignment_status == PENDING \
                        and not task.routing_target and not task.requested_queue_sid:
                    self._start_routing(ws, task)

    def reject_pending_reservations(self, ws: "Workspace", worker: Worker, activity_sid: str) -> None:
        with self._batch():
            for reservation in [r for r in ws.reservations.values()
                                if r.worker_sid == worker.sid and r.reservation_status == "pending"]:
                self._release(ws, reservation, "rejected", exclude=True)

    def cancel_reservation(self, ws: "Workspace", reservation) -> None:
        """A pending reservation whose assignment callback and fallback both failed is canceled
        (https://www.twilio.com/docs/taskrouter/api/workflow); the task goes back to routing.
        [I] The worker is passed over for this task from then on, as after a rejection, so an
        unreachable callback does not re-offer the same worker in a loop."""
        with self._batch():
            if reservation.reservation_status == "pending":
                self._release(ws, reservation, "canceled", exclude=True)

    def worker_removed(self, ws: "Workspace", worker: Worker) -> None:
        with self._batch():
            for reservation in [r for r in ws.reservations.values()
                                if r.worker_sid == worker.sid and r.reservation_status == "pending"]:
                self._release(ws, reservation, "canceled", exclude=True)
            self._last_assigned.pop(worker.sid, None)

    def forget_workspace(self, ws: "Workspace") -> None:
        for sid in list(ws.tasks):
            self._cancel_ttl(sid)
            self._forget_task(sid)
            ws._cancel_deletion(sid)
        for sid in list(ws.reservations):
            self._cancel_reservation_timer(sid)
        for sid in ws.workers:
            self._last_assigned.pop(sid, None)

    # --- task status changes ----------------------------------------------------------------------
    def change_task_status(self, ws: "Workspace", task: Task, status: str, reason: str | None) -> None:
        """Apply a validated ``AssignmentStatus`` change and log its events."""
        with self._batch():
            if status == CANCELED:
                self.cancel_task(ws, task, reason)
            elif status == WRAPPING:
                task.assignment_status = WRAPPING
                for reservation in self._task_reservations(ws, task, "accepted"):
                    self._set_reservation(ws, reservation, "wrapping", "reservation.wrapup", "wrapped up")
                self._task_event(ws, task, "task.wrapup", "Task wrapping up")
            elif status == COMPLETED:
                task.assignment_status = COMPLETED
                for reservation in self._task_reservations(ws, task, "accepted", "wrapping"):
                    self._set_reservation(ws, reservation, "completed", "reservation.completed", "completed")
                    channel = self._channel_for(ws, reservation.worker_sid, task)
                    if channel is not None and channel.assigned_tasks > 0:
                        channel.assigned_tasks -= 1
                    # the freed capacity is offered to waiting work
                    self._want_worker(ws, reservation.worker_sid)
                self._task_event(ws, task, "task.completed", "Task completed")
                self._finish(ws, task)

    def cancel_task(self, ws: "Workspace", task: Task, reason: str | None) -> None:
        with self._batch():
            for reservation in self._task_reservations(ws, task, "pending"):
                self._end_reservation(ws, reservation, "canceled")
                self._want_worker(ws, reservation.worker_sid)
            task.assignment_status = CANCELED
            if reason is not None:
                task.reason = reason
            task.date_updated = ws.now()
            self._task_event(ws, task, "task.canceled",
                             f"Task canceled: {task.reason}" if task.reason else "Task canceled")
            self._finish(ws, task)

    def remove_task(self, ws: "Workspace", task_sid: str, *, system: bool) -> None:
        """Delete a task (API delete, or the system's clean-up of a finished task)."""
        with self._batch():
            task = ws.tasks.get(task_sid)
            if task is None:
                return
            if not system:
                for reservation in self._task_reservations(ws, task, "pending"):
                    self._end_reservation(ws, reservation, "canceled")
                for reservation in self._task_reservations(ws, task, "accepted", "wrapping"):
                    # [I] deleting an assigned task frees the worker's capacity
                    channel = self._channel_for(ws, reservation.worker_sid, task)
                    if channel is not None and channel.assigned_tasks > 0:
                        channel.assigned_tasks -= 1
            self._cancel_ttl(task_sid)
            self._forget_task(task_sid)
            for sid in [r.sid for r in ws.reservations.values() if r.task_sid == task_sid]:
                reservation = ws.reservations.pop(sid)
                self._cancel_reservation_timer(sid)
                if reservation.worker_sid in ws.workers:
                    self._want_worker(ws, reservation.worker_sid)
            del ws.tasks[task_sid]
            # https://www.twilio.com/docs/taskrouter/api/event/reference: task.deleted is an API delete and
            # "does not include auto-deleted Tasks after cancelation/completion"; task.system-deleted is
            # "deleted via the system, after the task reaches its TTL". [I] So the system's clean-up logs
            # it for a task that ended by its TTL, or one still assigned, and not for the ordinary
            # clean-up of tasks canceled or completed otherwise.
            if not system:
                self._task_event(ws, task, "task.deleted", "Task deleted")
            elif task.reason == TTL_REASON or task.assignment_status in (ASSIGNED, WRAPPING):
                self._task_event(ws, task, "task.system-deleted", "Task deleted by the system")

    # --- routing: where a task goes ------------------------------------------------------------------
    def _start_routing(self, ws: "Workspace", task: Task) -> None:
        """Choose the task's targets (RoutingTarget, TaskQueueSid or its workflow) and enter the first."""
        state = self._state.setdefault(task.sid, _TaskState())
        self._cancel_target_timer(state)
        route = None
        target = task.routing_target
        if target and target.startswith("WK") and target in ws.workers:
            route = Route([Target(queue_sid=None)], worker_sid=target)
        elif target and target.startswith("WQ") and target in ws.task_queues:
            route = Route([Target(queue_sid=target)])
        elif task.requested_queue_sid and task.requested_queue_sid in ws.task_queues:
            route = Route([Target(queue_sid=task.requested_queue_sid)])
        elif task.workflow_sid and task.workflow_sid in ws.workflows:
            route = self._workflow_route(ws, task)
        state.route = route
        if route is None:
            task.task_queue_sid = None
            return
        if route.workflow_sid:
            workflow = ws.workflows[route.workflow_sid]
            self._routing_event(ws, task, "workflow.entered", f"Task {task.sid} entered workflow {workflow.friendly_name}",
                                None)
        self._enter_step(ws, task, 0)

    def _workflow_route(self, ws: "Workspace", task: Task) -> Route | None:
        config = ws.workflow_configurations.get(task.workflow_sid)
        if config is None:
            return None
        root = {**task.attributes_data, **time_variables(ws.now())}
        for flt in config.filters:
            if flt.expression.evaluate(root):
                return Route(list(flt.targets), workflow_sid=task.workflow_sid, filter_name=flt.name)
        if config.default_target is not None:
            return Route([config.default_target], workflow_sid=task.workflow_sid, filter_name=DEFAULT_FILTER_NAME)
        return None

    def _enter_step(self, ws: "Workspace", task: Task, index: int) -> None:
        state = self._state[task.sid]
        route = state.route
        self._cancel_target_timer(state)
        target = route.targets[index]
        # skip_if: move past a target whose condition holds (e.g. "workers.available == 0")
        while target.skip_if is not None and index + 1 < len(route.targets) and \
                target.skip_if.evaluate(self._skip_root(ws, task, target)):
            index += 1
            target = route.targets[index]
        if route.workflow_sid and target.skip_if is not None and index + 1 == len(route.targets) and \
                target.skip_if.evaluate(self._skip_root(ws, task, target)):
            self._skip_out(ws, task, route)
            return
        route.index = index
        now = ws.now()
        task.task_queue_sid = target.queue_sid
        task.task_queue_entered_date = now if target.queue_sid else None
        if target.priority is not None:
            task.priority = target.priority
        if route.workflow_sid:
            self._routing_event(ws, task, "workflow.target-matched",
                                f"Task {task.sid} matched a workflow target", route.filter_name)
        if target.queue_sid:
            queue = ws.task_queues.get(target.queue_sid)
            self._routing_event(ws, task, "task-queue.entered",
                                f"Task {task.sid} entered TaskQueue {queue.friendly_name if queue else ''}", None)
        if target.timeout:
            sid = task.sid
            state.target_timer = ws.clock.call_later(
                target.timeout, functools.partial(self._target_expired, ws, sid, index), name=f"target {sid}")
        self._want_task(ws, task.sid)

    def _skip_out(self, ws: "Workspace", task: Task, route: Route) -> None:
        """skip_if held on the final target: a skipped filter counts as not matched, so the
        default_filter applies (https://www.twilio.com/docs/taskrouter/worker-presence); skipping out
        of the default filter (or with none) logs ``workflow.skipped`` and removes the task."""
        config = ws.workflow_configurations.get(route.workflow_sid)
        if route.filter_name != DEFAULT_FILTER_NAME and config is not None and config.default_target is not None:
            self._state[task.sid].route = Route([config.default_target], workflow_sid=route.workflow_sid,
                                                filter_name=DEFAULT_FILTER_NAME)
            self._enter_step(ws, task, 0)
            return
        self._routing_event(ws, task, "workflow.skipped", f"Task {task.sid} skipped out of its workflow", None)
        self.cancel_task(ws, task, WORKFLOW_SKIPPED_REASON)

    def _skip_root(self, ws: "Workspace", task: Task, target: Target) -> dict:
        queue = ws.task_queues.get(target.queue_sid)
        available = 0
        if queue is not None:
            available = sum(1 for w in ws.workers.values()
                            if ws.worker_available(w) and ws.queue_matches_worker(queue, w))
        return {"task": task.attributes_data, "workers": {"available": available},
                **time_variables(ws.now())}

    def _target_expired(self, ws: "Workspace", task_sid: str, index: int) -> None:
        with self._batch():
            task = ws.tasks.get(task_sid)
            state = self._state.get(task_sid)
            if task is None or state is None or state.route is None or not self.backend.workspace_alive(ws):
                return
            state.target_timer = None
            if state.route.index != index or task.assignment_status not in (PENDING, RESERVED):
                return
            route = state.route
            self._routing_event(ws, task, "task-queue.timeout", f"Task {task.sid} timed out of its TaskQueue", None)
            # [I] offers still pending in the old queue are withdrawn when the task moves on
            for reservation in self._task_reservations(ws, task, "pending"):
                self._end_reservation(ws, reservation, "rescinded")
                self._want_worker(ws, reservation.worker_sid)
            task.assignment_status = PENDING
            if index + 1 < len(route.targets):
                self._routing_event(ws, task, "task-queue.moved", f"Task {task.sid} moved to the next target", None)
                self._enter_step(ws, task, index + 1)
            else:
                if route.workflow_sid:
                    self._routing_event(ws, task, "workflow.timeout", f"Task {task.sid} timed out of its workflow",
                                        None)
                self.cancel_task(ws, task, WORKFLOW_TIMEOUT_REASON)

    def _routing_event(self, ws: "Workspace", task: Task, event_type: str, description: str,
                       filter_name: str | None) -> None:
        queue = ws.task_queues.get(task.task_queue_sid) if task.task_queue_sid else None
        workflow = ws.workflows.get(task.workflow_sid) if task.workflow_sid else None
        data = {**ev.task_fields(ws, task), "TaskQueueSid": task.task_queue_sid,
                "TaskQueueName": queue.friendly_name if queue else None,
                "WorkflowSid": task.workflow_sid, "WorkflowName": workflow.friendly_name if workflow else None}
        if filter_name is not None:
            data["WorkflowFilterName"] = filter_name
        resource = ("taskqueue", queue.sid, f"TaskQueues/{queue.sid}") if event_type.startswith("task-queue") and queue \
            else ("task", task.sid, f"Tasks/{task.sid}")
        ws.record(event_type, description, resource[0], resource[1], resource[2], data)

    # --- routing: matching ----------------------------------------------------------------------------
    def _current(self, task: Task):
        state = self._state.get(task.sid)
        if state is None or state.route is None:
            return None, None
        return state, state.route.targets[state.route.index]

    def _max_reservations(self, ws: "Workspace", task: Task, state: _TaskState) -> int:
        if state.route.worker_sid:
            return 1
        queue = ws.task_queues.get(task.task_queue_sid)
        return queue.max_reserved_workers if queue else 0

    def _worker_free(self, ws: "Workspace", worker: Worker, task: Task) -> bool:
        if not ws.worker_available(worker):
            return False
        channel = worker.channels.get(task.task_channel_sid)
        if channel is None or not channel.available or channel.configured_capacity <= 0:
            return False
        if not ws.multi_task_enabled:
            # single-tasking: one reservation or task at a time
            return not any(r.worker_sid == worker.sid and r.reservation_status in LOAD_STATUSES
                           for r in ws.reservations.values())
        return ws.channel_load(channel) < channel.configured_capacity

    def _worker_root(self, ws: "Workspace", worker: Worker, task: Task) -> dict:
        doc = ws.worker_document(worker)
        channels = {}
        for channel in worker.channels.values():
            task_channel = ws.task_channels.get(channel.task_channel_sid)
            if task_channel is not None:
                channels[task_channel.unique_name] = {
                    "configured_capacity": channel.configured_capacity,
                    "assigned_tasks": channel.assigned_tasks,
                    "available_capacity_percentage": ws.channel_available_capacity_percentage(channel),
                }
        doc["channel"] = channels
        return {"task": task.attributes_data, "worker": doc, **time_variables(ws.now())}

    @staticmethod
    def _lookup(root: dict, path) -> object:
        value = root
        for part in path:
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
                value = value[part]
            else:
                return None
        return value

    def _known_worker(self, task: Task, spec: str):
        parts = spec.split(".")
        if parts[0] == "task" and len(parts) > 1:
            return self._lookup({"task": task.attributes_data}, parts)
        return spec

    def _eligible(self, ws: "Workspace", task: Task, state: _TaskState, target: Target, worker: Worker,
                  queue_ok=None) -> bool:
        """Whether ``worker`` may get a reservation for ``task`` at its current target now."""
        if worker.sid in state.excluded:
            return False
        if any(r.task_sid == task.sid and r.worker_sid == worker.sid and r.reservation_status in LOAD_STATUSES
               for r in ws.reservations.values()):
            return False
        if state.route.worker_sid:
            if worker.sid != state.route.worker_sid:
                return False
            return bool(task.ignore_capacity) or self._worker_free(ws, worker, task)
        queue = ws.task_queues.get(task.task_queue_sid)
        if queue is None:
            return False
        if queue_ok is None:
            queue_ok = ws.queue_matches_worker(queue, worker)
        if not queue_ok or not self._worker_free(ws, worker, task):
            return False
        if target.known_worker_sid is not None and self._known_worker(task, target.known_worker_sid) != worker.sid:
            return False
        if target.known_worker_friendly_name is not None and \
                self._known_worker(task, target.known_worker_friendly_name) != worker.friendly_name:
            return False
        if target.expression is not None and not target.expression.evaluate(self._worker_root(ws, worker, task)):
            return False
        return True

    def _worker_order(self, ws: "Workspace", task: Task, target: Target, workers: list) -> list:
        """order_by clauses first (missing values last), then longest idle, then creation order."""
        position = {sid: i for i, sid in enumerate(ws.workers)}

        def key(worker: Worker):
            parts = []
            if target.order_by:
                root = self._worker_root(ws, worker, task)
                for clause in target.order_by:
                    value = self._lookup(root, clause.path)
                    if isinstance(value, bool) or not isinstance(value, (int, float)):
                        try:
                            value = float(value) if isinstance(value, str) else None
                        except ValueError:
                            value = None
                    if value is None:
                        parts.append((1, 0))
                    else:
                        parts.append((0, -value if clause.descending else value))
            idle_since = self._last_assigned.get(worker.sid, worker.date_status_changed)
            return (*parts, idle_since, position.get(worker.sid, 0))

        return sorted(workers, key=key)

    def _assign_task(self, ws: "Workspace", task: Task) -> None:
        """Give ``task`` reservations with the best eligible workers of its current target."""
        if task.assignment_status not in (PENDING, RESERVED):
            return
        state, target = self._current(task)
        if target is None:
            return
        pending = len(self._task_reservations(ws, task, "pending"))
        need = self._max_reservations(ws, task, state) - pending
        if need <= 0:
            return
        if state.route.worker_sid:
            worker = ws.workers.get(state.route.worker_sid)
            candidates = [worker] if worker is not None else []
        else:
            candidates = list(ws.workers.values())
        eligible = [w for w in candidates if self._eligible(ws, task, state, target, w)]
        for worker in self._worker_order(ws, task, target, eligible)[:need]:
            self._reserve(ws, task, worker)

    def _task_order_key(self, ws: "Workspace", task: Task):
        """FIFO queues: priority, then oldest; LIFO queues: newest first, priority ignored
        (https://www.twilio.com/docs/taskrouter/queue-ordering-last-first-out-lifo). Between queues of
        both kinds the workspace's PrioritizeQueueOrder decides which kind goes first."""
        queue = ws.task_queues.get(task.task_queue_sid) if task.task_queue_sid else None
        order = queue.task_order if queue else "FIFO"
        rank = 0 if order == ws.prioritize_queue_order else 1
        stamp = task.virtual_start_time.timestamp()
        if order == "LIFO":
            return (rank, 0, -stamp)
        return (rank, -task.priority, stamp)

    def _offer_worker(self, ws: "Workspace", worker: Worker) -> None:
        """Offer a worker who may have capacity the waiting tasks of its queues, best first."""
        if not ws.worker_available(worker):
            # only tasks routed to this worker ignoring capacity can still reach it
            waiting = [t for t in ws.tasks.values() if t.assignment_status in (PENDING, RESERVED)
                       and t.ignore_capacity and t.routing_target == worker.sid]
            for task in waiting:
                self._assign_task(ws, task)
            return
        queue_ok = {sid: ws.queue_matches_worker(q, worker) for sid, q in ws.task_queues.items()}
        waiting = []
        for task in ws.tasks.values():
            if task.assignment_status not in (PENDING, RESERVED):
                continue
            state, target = self._current(task)
            if target is None:
                continue
            if state.route.worker_sid:
                if state.route.worker_sid == worker.sid:
                    waiting.append(task)
            elif queue_ok.get(task.task_queue_sid):
                waiting.append(task)
        waiting.sort(key=lambda t: self._task_order_key(ws, t))
        for task in waiting:
            if task.assignment_status not in (PENDING, RESERVED) or worker.sid not in ws.workers:
                continue
            state, target = self._current(task)
            if target is None:
                continue
            if len(self._task_reservations(ws, task, "pending")) >= self._max_reservations(ws, task, state):
                continue
            if self._eligible(ws, task, state, target, worker,
                              queue_ok=None if state.route.worker_sid else queue_ok.get(task.task_queue_sid)):
                self._reserve(ws, task, worker)

    def _reserve(self, ws: "Workspace", task: Task, worker: Worker) -> None:
        now = ws.now()
        reservation = Reservation(ws.new_sid("WR"), ws.account_sid, ws.sid, task.sid, worker.sid, "pending", now, now)
        ws.reservations[reservation.sid] = reservation
        task.assignment_status = RESERVED
        task.date_updated = now
        state = self._state[task.sid]
        state.attempts += 1
        self._set_reservation(ws, reservation, "pending", "reservation.created", "created")
        workflow = ws.workflows.get(task.workflow_sid) if task.workflow_sid else None
        seconds = workflow.task_reservation_timeout if workflow else DEFAULT_RESERVATION_TIMEOUT
        sid = reservation.sid
        self._reservation_timers[sid] = ws.clock.call_later(
            seconds, functools.partial(self._reservation_expired, ws, sid), name=f"reservation {sid}")
        if not ws.multi_task_enabled:
            queue = ws.task_queues.get(task.task_queue_sid) if task.task_queue_sid else None
            if queue is not None and queue.reservation_activity_sid and \
                    queue.reservation_activity_sid in ws.activities and \
                    worker.activity_sid != queue.reservation_activity_sid:
                ws.set_worker_activity(worker, queue.reservation_activity_sid)

    # --- reservations ending ----------------------------------------------------------------------------
    def _release(self, ws: "Workspace", reservation, status: str, *, exclude: bool) -> None:
        """A pending reservation ends without acceptance: the task goes back to routing."""
        self._end_reservation(ws, reservation, status)
        task = ws.tasks.get(reservation.task_sid)
        if reservation.worker_sid in ws.workers:
            self._want_worker(ws, reservation.worker_sid)
        if task is None or task.assignment_status != RESERVED:
            return
        state = self._state.setdefault(task.sid, _TaskState())
        if exclude:
            state.excluded.add(reservation.worker_sid)
        if self._task_reservations(ws, task, "pending"):
            return
        task.assignment_status = PENDING
        task.date_updated = ws.now()
        if state.attempts >= MAX_RESERVATION_ATTEMPTS:
            self.cancel_task(ws, task, ATTEMPTS_REASON)
            return
        self._want_task(ws, task.sid)

    def _reservation_expired(self, ws: "Workspace", reservation_sid: str) -> None:
        with self._batch():
            self._reservation_timers.pop(reservation_sid, None)
            reservation = ws.reservations.get(reservation_sid)
            if reservation is None or reservation.reservation_status != "pending" or \
                    not self.backend.workspace_alive(ws):
                return
            self._release(ws, reservation, "timeout", exclude=False)
            # the worker did not answer: it moves to the workspace's TimeoutActivity
            # (https://www.twilio.com/docs/taskrouter/api/workspace)
            worker = ws.workers.get(reservation.worker_sid)
            if worker is not None and ws.timeout_activity_sid in ws.activities and \
                    worker.activity_sid != ws.timeout_activity_sid:
                ws.set_worker_activity(worker, ws.timeout_activity_sid)

    # --- internals --------------------------------------------------------------------------------
    def _ttl_expired(self, ws: "Workspace", task_sid: str) -> None:
        with self._batch():
            self._ttl_timers.pop(task_sid, None)
            task = ws.tasks.get(task_sid)
            if task is not None and self.backend.workspace_alive(ws) and \
                    task.assignment_status in (PENDING, RESERVED):
                self.cancel_task(ws, task, TTL_REASON)

    def _cancel_ttl(self, task_sid: str) -> None:
        timer = self._ttl_timers.pop(task_sid, None)
        if timer is not None:
            timer.cancel()

    def _cancel_target_timer(self, state: _TaskState) -> None:
        if state.target_timer is not None:
            state.target_timer.cancel()
            state.target_timer = None

    def _cancel_reservation_timer(self, reservation_sid: str) -> None:
        timer = self._reservation_timers.pop(reservation_sid, None)
        if timer is not None:
            timer.cancel()

    def _forget_task(self, task_sid: str) -> None:
        state = self._state.pop(task_sid, None)
        if state is not None:
            self._cancel_target_timer(state)

    def _finish(self, ws: "Workspace", task: Task) -> None:
        self._cancel_ttl(task.sid)
        state = self._state.get(task.sid)
        if state is not None:
            self._cancel_target_timer(state)
        ws.finish_task(task)

    def _task_reservations(self, ws: "Workspace", task: Task, *statuses: str) -> list:
        return [r for r in ws.reservations.values() if r.task_sid == task.sid and r.reservation_status in statuses]

    def _channel_for(self, ws: "Workspace", worker_sid: str, task: Task):
        worker = ws.workers.get(worker_sid)
        return worker.channels.get(task.task_channel_sid) if worker else None

    def _task_event(self, ws: "Workspace", task: Task, event_type: str, description: str) -> None:
        ws.record(event_type, description, "task", task.sid, f"Tasks/{task.sid}" if task.sid in ws.tasks else None,
                  {**ev.task_fields(ws, task), "TaskQueueSid": task.task_queue_sid, "WorkflowSid": task.workflow_sid})

    def _set_reservation(self, ws: "Workspace", reservation, status: str, event_type: str, verb: str) -> None:
        reservation.reservation_status = status
        reservation.date_updated = ws.now()
        if status != "pending":
            self._cancel_reservation_timer(reservation.sid)
        task = ws.tasks.get(reservation.task_sid)
        worker = ws.workers.get(reservation.worker_sid)
        data = {}
        if task is not None:
            data.update(ev.task_fields(ws, task))
            data.update({"TaskQueueSid": task.task_queue_sid, "WorkflowSid": task.workflow_sid})
        if worker is not None:
            data.update(ev.worker_fields(ws, worker))
        data["ReservationSid"] = reservation.sid
        ws.record(event_type, f"Reservation {reservation.sid} {verb}", "reservation", reservation.sid,
                  f"Tasks/{reservation.task_sid}/Reservations/{reservation.sid}", data)

    def _end_reservation(self, ws: "Workspace", reservation, status: str) -> None:
        self._set_reservation(ws, reservation, status, f"reservation.{status}", status)

    # --- reservation updates ---------------------------------------------------------------------------
    def update_reservation(self, ws: "Workspace", reservation, params: dict) -> None:
        """``ReservationStatus`` / ``Instruction`` updates of a reservation
        (https://www.twilio.com/docs/taskrouter/api/reservations)."""
        with self._batch():
            self._update_reservation(ws, reservation, params)

    def _update_reservation(self, ws: "Workspace", reservation, params: dict) -> None:
        status = params.get("reservation_status")
        instruction = params.get("instruction")
        for name, key in (("WorkerActivitySid", "worker_activity_sid"),
                          ("PostWorkActivitySid", "post_work_activity_sid"),
                          ("DequeuePostWorkActivitySid", "dequeue_post_work_activity_sid")):
            if params.get(key) is not None:
                ws.activity_param(params[key], name)
        if status is not None and instruction is not None:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="Instruction", reason="cannot be combined with ReservationStatus"))
        if status is None and instruction is None:
            if params.get("worker_activity_sid") is not None:
                raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                    name="WorkerActivitySid", reason="is only used with ReservationStatus or Instruction"))
            return
        task = ws.tasks.get(reservation.task_sid)
        if task is None:
            raise errors.NotFound(errors.RESOURCE_NOT_FOUND.format(
                path=f"/v1/Workspaces/{ws.sid}/Tasks/{reservation.task_sid}"))
        if reservation.reservation_status == "rescinded":
            raise errors.Gone(f"Reservation {reservation.sid} has been rescinded")
        if instruction is not None:
            self._instruction(ws, reservation, task, instruction.lower(), params)
            return
        if status == "accepted":
            self._require_pending(reservation)
            self._accept(ws, reservation, task)
        elif status == "rejected":
            self._require_pending(reservation)
            self._reject(ws, reservation, params.get("worker_activity_sid"))
        elif status == "wrapping":
            if reservation.reservation_status != "accepted" or task.assignment_status != ASSIGNED:
                raise errors.IllegalState(f"Reservation {reservation.sid} is not accepted; it cannot wrap up")
            self.change_task_status(ws, task, WRAPPING, None)
        elif status == "completed":
            if reservation.reservation_status not in ("accepted", "wrapping") or \
                    task.assignment_status not in (ASSIGNED, WRAPPING):
                raise errors.IllegalState(f"Reservation {reservation.sid} is not accepted; it cannot complete")
            self.change_task_status(ws, task, COMPLETED, None)
        else:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="ReservationStatus", reason=f"cannot be set to {status}; use accepted, rejected, wrapping "
                                                 "or completed"))

    @staticmethod
    def _require_pending(reservation) -> None:
        if reservation.reservation_status != "pending":
            raise errors.IllegalState(
                f"Reservation {reservation.sid} is not pending (status {reservation.reservation_status})")

    @staticmethod
    def _require(params: dict, *pairs) -> None:
        for name, key in pairs:
            if not params.get(key):
                raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                    name=name, reason="is required for this Instruction"))

    def _instruction(self, ws: "Workspace", reservation, task: Task, instruction: str, params: dict) -> None:
        # Instructions and their parameters: https://www.twilio.com/docs/taskrouter/api/reservations
        if instruction == "dequeue":
            self._require(params, ("DequeueFrom", "dequeue_from"))
            accept = True
        elif instruction == "call":
            self._require(params, ("CallFrom", "call_from"), ("CallUrl", "call_url"))
            accept = bool(params.get("call_accept"))
        elif instruction == "redirect":
            self._require(params, ("RedirectCallSid", "redirect_call_sid"), ("RedirectUrl", "redirect_url"))
            accept = bool(params.get("redirect_accept"))
        elif instruction == "conference":
            accept = True
        else:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="Instruction", reason=f"'{instruction}' is not one of dequeue, call, redirect, conference"))
        self._require_pending(reservation)
        if accept:
            self._accept(ws, reservation, task)

    def _accept(self, ws: "Workspace", reservation, task: Task) -> None:
        # the task is assigned before the event is logged: a recorded real reservation.accepted
        # callback carries TaskAssignmentStatus=assigned
        task.assignment_status = ASSIGNED
        task.date_updated = ws.now()
        self._set_reservation(ws, reservation, "accepted", "reservation.accepted", "accepted")
        state = self._state.get(task.sid)
        if state is not None:
            self._cancel_target_timer(state)
        for other in self._task_reservations(ws, task, "pending"):
            self._end_reservation(ws, other, "rescinded")
            self._want_worker(ws, other.worker_sid)
        channel = self._channel_for(ws, reservation.worker_sid, task)
        if channel is not None:
            channel.assigned_tasks += 1
        self._last_assigned[reservation.worker_sid] = ws.now()
        worker = ws.workers.get(reservation.worker_sid)
        if worker is not None and not ws.multi_task_enabled:
            queue = ws.task_queues.get(task.task_queue_sid) if task.task_queue_sid else None
            if queue is not None and queue.assignment_activity_sid and \
                    queue.assignment_activity_sid in ws.activities and \
                    worker.activity_sid != queue.assignment_activity_sid:
                ws.set_worker_activity(worker, queue.assignment_activity_sid)

    def _reject(self, ws: "Workspace", reservation, activity_sid: str | None) -> None:
        self._release(ws, reservation, "rejected", exclude=True)
        worker = ws.workers.get(reservation.worker_sid)
        if worker is not None and activity_sid and worker.activity_sid != activity_sid:
            ws.set_worker_activity(worker, activity_sid)
