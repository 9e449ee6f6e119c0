"""Event records: what TaskRouter logs (the Events resource) and later posts to ``EventCallbackUrl``.

The field data of each event follows the tables of https://www.twilio.com/docs/taskrouter/api/event/reference
("Task", "Worker", "TaskChannel" stand for the group of fields listed there). The data is kept as
the callback's PascalCase form fields; the Events resource shows the same data in snake_case.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .state import Activity, Event, Task, TaskChannel, TaskQueue, Transfer, Worker, WorkerChannel, Workflow

if TYPE_CHECKING:
    from .tables import WorkspaceTables

# How long the Events resource keeps an event (https://www.twilio.com/docs/taskrouter/api/event).
RETENTION_DAYS = 30

# The fields every event callback carries, in this order
# (https://www.twilio.com/docs/taskrouter/api/event/reference, "Event callbacks"; ``Sid`` and
# ``TimestampMs`` are sent too, https://www.twilio.com/docs/taskrouter/changelog 2018-01-18).
CALLBACK_FIELDS = ("EventType", "AccountSid", "WorkspaceSid", "WorkspaceName", "EventDescription", "ResourceType",
                   "ResourceSid", "Timestamp", "TimestampMs", "Sid")

# Every event type the reference lists. Transfers are not built, so task.transfer-* never occur.
EVENT_TYPES = (
    "activity.created", "activity.updated", "activity.deleted",
    "reservation.created", "reservation.accepted", "reservation.rejected", "reservation.timeout",
    "reservation.canceled", "reservation.rescinded", "reservation.completed", "reservation.failed",
    "reservation.wrapup",
    "task.created", "task.updated", "task.canceled", "task.wrapup", "task.completed", "task.deleted",
    "task.system-deleted", "task.transfer-initiated", "task.transfer-attempt-failed", "task.transfer-failed",
    "task.transfer-canceled", "task.transfer-completed",
    "task-channel.created", "task-channel.updated", "task-channel.deleted",
    "task-queue.created", "task-queue.deleted", "task-queue.entered", "task-queue.timeout", "task-queue.moved",
    "task-queue.expression.updated",
    "worker.created", "worker.activity.update", "worker.attributes.update", "worker.capacity.update",
    "worker.channel.availability.update", "worker.deleted",
    "workflow.created", "workflow.updated", "workflow.deleted", "workflow.target-matched", "workflow.entered",
    "workflow.timeout", "workflow.skipped",
    "workspace.created", "workspace.updated", "workspace.deleted",
)

# Event types of the reference the emulator never logs, and why.
NOT_EMITTED = {
    "reservation.failed": "logged when the voice call an instruction places to the worker fails; the emulator "
                          "places no calls (dequeue, call and conference are accepted as instructions only)",
    "task.transfer-attempt-failed": "logged when one attempt of a transfer to a TaskQueue fails; the emulator "
                                    "transfers to workers only",
}

# [I] Operating units are a Flex notion the emulator does not model: the field the reference lists
# for workers and new queues is sent, empty.
OPERATING_UNIT_SID = None


def snake_case(name: str) -> str:
    """``WorkerTimeInPreviousActivityMs`` -> ``worker_time_in_previous_activity_ms``."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def form_value(value) -> str:
    """How a field value travels in a form-encoded callback."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def task_fields(ws: WorkspaceTables, task: Task) -> dict:
    channel = ws.task_channels.get(task.task_channel_sid)
    return {
        "TaskSid": task.sid,
        "TaskAttributes": task.attributes,
        "TaskAge": ws.task_age(task),
        "TaskPriority": task.priority,
        "TaskAssignmentStatus": task.assignment_status,
        "TaskCanceledReason": task.reason if task.assignment_status == "canceled" else None,
        "TaskCompletedReason": task.reason if task.assignment_status == "completed" else None,
        "TaskChannelSid": task.task_channel_sid,
        "TaskChannelUniqueName": channel.unique_name if channel else None,
        "TaskVersion": task.version,
    }


def worker_fields(ws: WorkspaceTables, worker: Worker) -> dict:
    activity = ws.activities.get(worker.activity_sid)
    return {
        "WorkerSid": worker.sid,
        "WorkerName": worker.friendly_name,
        "WorkerAttributes": worker.attributes,
        "WorkerActivitySid": worker.activity_sid,
        "WorkerActivityName": activity.friendly_name if activity else None,
        "WorkerVersion": worker.version,
        "OperatingUnitSid": OPERATING_UNIT_SID,
    }


def worker_channel_fields(ws: WorkspaceTables, worker: Worker, channel: WorkerChannel, previous_capacity: int) -> dict:
    task_channel = ws.task_channels.get(channel.task_channel_sid)
    return {
        **worker_fields(ws, worker),
        "WorkerChannelAvailable": channel.available,
        "WorkerChannelAvailableCapacity": ws.channel_available_capacity_percentage(channel),
        "WorkerChannelPreviousCapacity": previous_capacity,
        "TaskChannelSid": channel.task_channel_sid,
        "TaskChannelUniqueName": task_channel.unique_name if task_channel else None,
        "WorkerChannelTaskCount": channel.assigned_tasks,
    }


def transfer_fields(transfer: Transfer) -> dict:
    """[I] The transfer's own fields, named as its other groups are (Transfer + snake_case key)."""
    return {"TransferSid": transfer.sid, "TransferType": transfer.transfer_type,
            "TransferMode": transfer.transfer_mode, "TransferTo": transfer.transfer_to,
            "TransferStatus": transfer.transfer_status, "TransferFailedReason": transfer.transfer_failed_reason,
            "TransferInitiatingReservationSid": transfer.initiating_reservation_sid,
            "TransferInitiatingWorkerSid": transfer.initiating_worker_sid}


def activity_fields(activity: Activity) -> dict:
    return {"ActivitySid": activity.sid, "ActivityName": activity.friendly_name,
            "ActivityAvailable": activity.available}


def task_channel_fields(channel: TaskChannel) -> dict:
    return {"TaskChannelSid": channel.sid, "TaskChannelName": channel.friendly_name,
            "TaskChannelUniqueName": channel.unique_name,
            "TaskChannelOptimizedRouting": bool(channel.channel_optimized_routing)}


def task_queue_fields(queue: TaskQueue) -> dict:
    return {"TaskQueueSid": queue.sid, "TaskQueueName": queue.friendly_name,
            "TaskQueueTargetExpression": queue.target_workers}


def workflow_fields(workflow: Workflow) -> dict:
    return {"WorkflowSid": workflow.sid, "WorkflowName": workflow.friendly_name}


def event_data(event: Event) -> dict:
    """The ``event_data`` object of the Events resource: the field data in snake_case, as strings."""
    return {snake_case(k): form_value(v) for k, v in event.data.items() if v is not None}


def events_filter_types(events_filter: str | None) -> set[str] | None:
    """The event types a workspace's ``EventsFilter`` lets through to its callback URL; None = all.
    The docs show both ``a,b`` and ``a, b`` (https://www.twilio.com/docs/taskrouter/api/workspace)."""
    if not events_filter:
        return None
    return {part.strip() for part in events_filter.split(",") if part.strip()}


def callback_params(event: Event, workspace_name: str) -> dict:
    """The form fields of the event callback POST (always-present fields first).

    A field of the reference's groups that has no value for this event (``TaskCanceledReason`` of
    a task that is not canceled, ``OperatingUnitSid``) is sent empty rather than left out [I]: the
    reference lists those fields as part of every event of the group."""
    params = {
        "EventType": event.event_type,
        "AccountSid": event.account_sid,
        "WorkspaceSid": event.workspace_sid,
        "WorkspaceName": workspace_name,
        "EventDescription": event.description,
        "ResourceType": event.resource_type,
        "ResourceSid": event.resource_sid,
        "Timestamp": str(int(event.event_date.timestamp())),
        "TimestampMs": str(int(event.event_date.timestamp() * 1000)),
        "Sid": event.sid,
    }
    for key, value in event.data.items():
        if key not in params:
            params[key] = form_value(value)
    return params
