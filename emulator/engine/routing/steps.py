"""Workflow steps: where a task goes (https://www.twilio.com/docs/taskrouter/workflow-configuration).

A task enters the first target of the first workflow filter its attributes match (or the default
filter): a queue. A target's ``timeout`` moves the task on to the next target, counted on the
task's age in that step; the last target's timeout cancels the task. ``skip_if`` moves past a
target whose condition holds. A task with a RoutingTarget or a TaskQueueSid goes straight there.

These functions change the task's step and queue the routing work; ending offers and canceling
tasks is the router's, so each step that ends the task's routing says so in its return value.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from .. import lifecycle
from ..expressions import time_variables
from ..state import Route, Task, TaskQueue, TaskRouting
from ..workflow_config import Filter, Target
from .index import sync_task

if TYPE_CHECKING:
    from ..tables import WorkspaceTables

# "If the final target's timeout expires the task is canceled" (https://www.twilio.com/docs/taskrouter/workflow-configuration)
WORKFLOW_TIMEOUT_REASON = "Workflow Timeout"
# [I] the reason a task gets when skip_if makes it leave the final target of its workflow
# ("workflow.skipped ... is removed from the workspace", https://www.twilio.com/docs/taskrouter/api/event/reference).
WORKFLOW_SKIPPED_REASON = "Workflow Skipped"
DEFAULT_FILTER_NAME = "Default Filter"
DEFAULT_FILTER_INDEX = -1


def start_routing(ws: WorkspaceTables, task: Task) -> bool:
    """Choose the task's targets (RoutingTarget, TaskQueueSid or its workflow) and enter the first.
    False when skip_if took the task out of its workflow (the router cancels it)."""
    return start_route(ws, task, choose_route(ws, task))


def start_route(ws: WorkspaceTables, task: Task, route: Route | None) -> bool:
    """``start_routing`` with the targets already chosen (a new task's, chosen once for its
    ``task.created`` event and its routing)."""
    state = ws.task_routing.setdefault(task.sid, TaskRouting())
    state.route = route
    if route is None:
        ws.timers.cancel(lifecycle.TARGET, task.sid)  # (enter_step cancels it otherwise)
        task.task_queue_sid = None
        sync_task(ws, ws.index, task)
        return True
    if route.workflow_sid:
        # recorded: workflow.entered already names the queue the task goes to
        first = route.targets[0].queue_sid if route.targets else None
        ws.emit("workflow.entered", task=task, queue=ws.task_queues.get(first) if first else None)
    return enter_step(ws, task, 0)


def choose_route(ws: WorkspaceTables, task: Task) -> Route | None:
    """The targets a task walks: its RoutingTarget, its TaskQueueSid, or its workflow's."""
    target = task.routing_target
    if target and target.startswith("WK") and target in ws.workers:
        # A TaskQueueSid given with a worker RoutingTarget is the queue the task sits in while it is
        # offered to that worker (the Worker SDK's createTask sends both, and its specs read the
        # task's queue_sid back).
        queue_sid = task.requested_queue_sid if task.requested_queue_sid in ws.task_queues else None
        return Route([Target(queue_sid=queue_sid)], worker_sid=target)
    if target and target.startswith("WQ") and target in ws.task_queues:
        return Route([Target(queue_sid=target)])
    if task.requested_queue_sid and task.requested_queue_sid in ws.task_queues:
        return Route([Target(queue_sid=task.requested_queue_sid)])
    if task.workflow_sid and task.workflow_sid in ws.workflows:
        return workflow_route(ws, task)
    return None


def first_queue(ws: WorkspaceTables, route: Route | None) -> TaskQueue | None:
    """The queue a new task enters first on ``route`` (its first target's; skip_if is weighed
    when it enters), which ``task.created`` already names, as recorded real callbacks show."""
    queue_sid = route.targets[0].queue_sid if route is not None and route.targets else None
    return ws.task_queues.get(queue_sid) if queue_sid else None


def workflow_route(ws: WorkspaceTables, task: Task) -> Route | None:
    config = ws.workflow_configurations.get(task.workflow_sid or "")
    if config is None:
        return None
    root = {**task.attributes_data, **time_variables(ws.now())}
    for i, flt in enumerate(config.filters):
        if flt.expression.evaluate(root):
            return Route(list(flt.targets), workflow_sid=task.workflow_sid, filter_name=flt.name, filter_index=i)
    if config.default_target is not None:
        return default_route(task.workflow_sid, config.default_target)
    return None


def default_route(workflow_sid: str | None, target: Target) -> Route:
    return Route([target], workflow_sid=workflow_sid, filter_name=DEFAULT_FILTER_NAME,
                 filter_index=DEFAULT_FILTER_INDEX)


def enter_step(ws: WorkspaceTables, task: Task, index: int) -> bool:
    """Put the task at step ``index`` of its route (past the steps skip_if skips). False when
    skip_if took it out of its workflow."""
    state = ws.task_routing[task.sid]
    route = state.route
    assert route is not None
    ws.timers.cancel(lifecycle.TARGET, task.sid)
    target = route.targets[index]
    # skip_if: move past a target whose condition holds (e.g. "workers.available == 0")
    while target.skip_if is not None and index + 1 < len(route.targets) and \
            target.skip_if.evaluate(skip_root(ws, task, target)):
        index += 1
        target = route.targets[index]
    if route.workflow_sid and target.skip_if is not None and index + 1 == len(route.targets) and \
            target.skip_if.evaluate(skip_root(ws, task, target)):
        return skip_out(ws, task, route)
    route.index = index
    now = ws.now()
    task.task_queue_sid = target.queue_sid
    task.task_queue_entered_date = now if target.queue_sid else None
    if target.priority is not None:
        task.priority = target.priority
    sync_task(ws, ws.index, task)
    if route.workflow_sid:
        ws.emit("workflow.target-matched", task=task, filter=matched_filter(ws, route))
    if target.queue_sid:
        ws.emit("task-queue.entered", task=task)
    if target.timeout:
        # A target's timeout counts on the task's age: its deadline is the sum of the timeouts of
        # the targets up to it (https://www.twilio.com/docs/taskrouter/task-evaluation: "the queue
        # timeout will be based on the current age of the Task"). [I] A deadline already passed
        # (a task re-evaluated late) fires at the clock's next step.
        deadline = sum(t.timeout or 0 for t in route.targets[:index + 1])
        ws.timers.start_at(lifecycle.TARGET, task.sid, task.date_created + timedelta(seconds=deadline))
    ws.ctx.work.want_task(ws, task.sid)
    return True


def skip_out(ws: WorkspaceTables, task: Task, route: Route) -> bool:
    """skip_if held on the final target: a skipped filter counts as not matched, so the
    default_filter applies (https://www.twilio.com/docs/taskrouter/worker-presence); skipping out
    of the default filter (or with none) logs ``workflow.skipped``, and the task is canceled."""
    config = ws.workflow_configurations.get(route.workflow_sid or "")
    if route.filter_name != DEFAULT_FILTER_NAME and config is not None and config.default_target is not None:
        ws.task_routing[task.sid].route = default_route(route.workflow_sid, config.default_target)
        return enter_step(ws, task, 0)
    ws.emit("workflow.skipped", task=task)
    return False


def skip_root(ws: WorkspaceTables, task: Task, target: Target) -> dict:
    """What ``skip_if`` sees: ``workers.available``, ``workers.unavailable`` and ``workers.<ActivitySid>``
    counts of the target queue's workers (https://www.twilio.com/docs/taskrouter/worker-presence)."""
    ix = ws.index
    queue_sid = target.queue_sid or ""
    members = ix.members.get(queue_sid, set()) if queue_sid in ws.task_queues else set()
    available = len(ix.available.get(queue_sid, ())) if members else 0
    workers = {"available": available, "unavailable": len(members) - available}
    assert target.skip_if is not None
    wanted = {p[1] for p in target.skip_if.key_paths()
              if len(p) > 1 and p[0] == "workers" and isinstance(p[1], str) and p[1].startswith("WA")}
    for activity_sid in wanted:
        workers[activity_sid] = sum(1 for sid in members
                                    if (w := ws.workers.get(sid)) is not None and w.activity_sid == activity_sid)
    return {"task": task.attributes_data, "workers": workers, **time_variables(ws.now())}


def matched_filter(ws: WorkspaceTables, route: Route) -> Filter | None:
    """The workflow filter a route came from (None for the default filter)."""
    config = ws.workflow_configurations.get(route.workflow_sid or "")
    if config is None or route.filter_index is None or not 0 <= route.filter_index < len(config.filters):
        return None
    return config.filters[route.filter_index]
