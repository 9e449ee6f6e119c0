"""Matching: which workers may take a task at its current target, and in which order.

A worker is eligible when it belongs to the target's queue, has free capacity on the task's
channel, has not rejected the task, and matches the target's expression and known-worker rule
(https://www.twilio.com/docs/taskrouter/workflow-configuration). Eligible workers are ordered by
the target's ``order_by``, then longest idle, then creation order
(https://www.twilio.com/docs/taskrouter/order-workers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..expressions import time_variables
from ..lifecycle import LOAD_STATUSES
from ..state import Task, TaskRouting, Worker
from ..workflow_config import Target
from .index import RoutingIndex

if TYPE_CHECKING:
    from ..tables import WorkspaceTables


def current(ws: WorkspaceTables, task: Task) -> tuple[TaskRouting, Target] | tuple[None, None]:
    """The task's routing state and the target of its current step."""
    state = ws.task_routing.get(task.sid)
    if state is None or state.route is None:
        return None, None
    return state, state.route.targets[state.route.index]

def worker_free(ws: WorkspaceTables, ix: RoutingIndex, worker: Worker, task: Task) -> bool:
    state = ix.free_state.get(worker.sid)
    return state is not None and task.task_channel_sid in state[1]

def worker_root(ws: WorkspaceTables, worker: Worker, task: Task, target: Target) -> dict:
    doc = ws.worker_document(worker)
    if not target.reads_worker_channels:
        # worker.channel.* costs a look at every channel's load: only built when read
        return {"task": task.attributes_data, "worker": doc, **time_variables(ws.now())}
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

def lookup(root: dict, path) -> object:
    value: object = root
    for part in path:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
            value = value[part]
        else:
            return None
    return value

def known_worker(task: Task, spec: str):
    parts = spec.split(".")
    if parts[0] == "task" and len(parts) > 1:
        return lookup({"task": task.attributes_data}, parts)
    return spec

def eligible(ws: WorkspaceTables, ix: RoutingIndex, task: Task, state: TaskRouting, target: Target,
              worker: Worker) -> bool:
    """Whether ``worker`` may get a reservation for ``task`` at its current target now."""
    if worker.sid in state.excluded or worker.sid in state.declined:
        return False
    for r in ix.by_task.get(task.sid, {}).values():
        if r.worker_sid == worker.sid and r.reservation_status in LOAD_STATUSES:
            return False
    assert state.route is not None
    if state.route.worker_sid:
        if worker.sid != state.route.worker_sid:
            return False
        return bool(task.ignore_capacity) or worker_free(ws, ix, worker, task)
    if task.task_queue_sid not in ws.task_queues:
        return False
    if worker.sid not in ix.members.get(task.task_queue_sid or "", ()) or not worker_free(ws, ix, worker, task):
        return False
    if target.known_worker_sid is not None and known_worker(task, target.known_worker_sid) != worker.sid:
        return False
    if target.known_worker_friendly_name is not None and \
            known_worker(task, target.known_worker_friendly_name) != worker.friendly_name:
        return False
    if target.expression is not None and not target.expression.evaluate(worker_root(ws, worker, task, target)):
        return False
    return True

def worker_order(ws: WorkspaceTables, ix: RoutingIndex, task: Task, target: Target, workers: list) -> list:
    """order_by clauses first (missing values last), then longest idle, then creation order
    (https://www.twilio.com/docs/taskrouter/order-workers)."""

    def key(worker: Worker):
        parts: list[tuple[int, float]] = []
        if target.order_by:
            root = worker_root(ws, worker, task, target)
            for clause in target.order_by:
                value = lookup(root, clause.path)
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    try:
                        value = float(value) if isinstance(value, str) else None
                    except ValueError:
                        value = None
                if value is None:
                    parts.append((1, 0))
                else:
                    parts.append((0, -value if clause.descending else value))
        idle_since = ws.last_assigned.get(worker.sid, worker.date_status_changed)
        return (*parts, idle_since, ix.worker_seq.get(worker.sid, 0))

    return sorted(workers, key=key)

