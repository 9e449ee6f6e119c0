"""Every emitted event type, rendered as a callback and in the Events resource, has exactly the
fields of one table: the Events reference (https://www.twilio.com/docs/taskrouter/api/event/reference)
joined with the bodies the real service posted in recorded traffic (2018 callbacks of a
single-tasking workspace). A field in the table and not emitted, or emitted and not in the table,
fails."""

from __future__ import annotations

import json

import pytest
from test_events_callbacks import DRIVERS, World

from emulator.engine.events import EVENT_TYPES, NOT_EMITTED, snake_case

# --- the table ----------------------------------------------------------------------------------
# Sent with every event (reference "Event callbacks"; Sid and TimestampMs recorded).
ENVELOPE = ("EventType", "AccountSid", "WorkspaceSid", "WorkspaceName", "EventDescription", "ResourceType",
            "ResourceSid", "Timestamp", "TimestampMs", "Sid")
# Reference "Task event fields"; TaskChannelSid, TaskChannelUniqueName and TaskAddons recorded on every
# event of a task. The two reasons only when the task has one (recorded bodies of tasks without a
# reason carry neither).
TASK = ("TaskSid", "TaskAttributes", "TaskAge", "TaskPriority", "TaskAssignmentStatus", "TaskChannelSid",
        "TaskChannelUniqueName", "TaskAddons")
TASK_REASON = {"canceled": ("TaskCanceledReason",), "completed": ("TaskCompletedReason",)}
# The task's queue: TaskQueueSid in the reference, its name and expression recorded beside it.
QUEUE_OF_TASK = ("TaskQueueSid", "TaskQueueName", "TaskQueueTargetExpression")
# The task's workflow: WorkflowSid in the reference, WorkflowName recorded beside it.
WORKFLOW_OF_TASK = ("WorkflowSid", "WorkflowName")
# Reference "Worker event fields".
WORKER = ("WorkerSid", "WorkerName", "WorkerAttributes", "WorkerActivitySid", "WorkerActivityName", "WorkerVersion",
          "OperatingUnitSid")
# Reference, activity change; WorkerPreviousActivityName recorded.
ACTIVITY_CHANGE = ("WorkerTimeInPreviousActivity", "WorkerTimeInPreviousActivityMs", "WorkerPreviousActivitySid",
                   "WorkerPreviousActivityName")
CHANNEL = ("WorkerChannelAvailable", "WorkerChannelAvailableCapacity", "WorkerChannelPreviousCapacity",
           "TaskChannelSid", "TaskChannelUniqueName", "WorkerChannelTaskCount")
TASK_CHANNEL = ("TaskChannelSid", "TaskChannelName", "TaskChannelUniqueName", "TaskChannelOptimizedRouting")
ACTIVITY = ("ActivitySid", "ActivityName", "ActivityAvailable")
# Recorded on workflow.target-matched when a filter (not the default filter) matched.
MATCHED_FILTER = ("WorkflowFilterName", "WorkflowFilterExpression")

# Conditions under which a group is sent: "queue" the task has a queue, "holder" a worker holds
# the task (accepted or wrapping reservation), "filter" a named filter matched.
TASK_EVENT = {"always": TASK + WORKFLOW_OF_TASK, "queue": QUEUE_OF_TASK}
RESERVATION_EVENT = {"always": TASK + WORKFLOW_OF_TASK + QUEUE_OF_TASK + WORKER + ("ReservationSid",)}
TABLE: dict[str, dict[str, tuple]] = {
    **{f"activity.{kind}": {"always": ACTIVITY} for kind in ("created", "updated", "deleted")},
    **{f"reservation.{kind}": RESERVATION_EVENT for kind in ("created", "accepted", "rejected", "timeout",
                                                             "canceled", "rescinded", "completed", "wrapup")},
    "reservation.failed": {"always": TASK + WORKFLOW_OF_TASK + QUEUE_OF_TASK + ("ReservationSid",)},
    **{f"task.{kind}": TASK_EVENT for kind in ("created", "updated", "canceled", "deleted", "system-deleted",
                                               "transfer-initiated", "transfer-attempt-failed", "transfer-failed",
                                               "transfer-canceled", "transfer-completed")},
    # a consumer of these two reads the worker who held the task (recorded task.completed)
    "task.wrapup": {**TASK_EVENT, "holder": WORKER},
    "task.completed": {**TASK_EVENT, "holder": WORKER},
    **{f"task-channel.{kind}": {"always": TASK_CHANNEL} for kind in ("created", "updated", "deleted")},
    "task-queue.created": {"always": ("TaskQueueSid", "TaskQueueName", "TaskQueueTargetExpression",
                                      "OperatingUnitSid")},
    "task-queue.deleted": {"always": ("TaskQueueSid", "TaskQueueName", "TaskQueueTargetExpression")},
    "task-queue.expression.updated": {"always": ("TaskQueueSid", "TaskQueueTargetExpression")},
    **{f"task-queue.{kind}": {"always": TASK + WORKFLOW_OF_TASK + QUEUE_OF_TASK}
       for kind in ("entered", "timeout", "moved")},
    **{f"worker.{kind}": {"always": WORKER} for kind in ("created", "attributes.update", "deleted")},
    "worker.activity.update": {"always": WORKER + ACTIVITY_CHANGE},
    "worker.capacity.update": {"always": WORKER + CHANNEL},
    "worker.channel.availability.update": {"always": WORKER + CHANNEL},
    **{f"workflow.{kind}": {"always": WORKFLOW_OF_TASK} for kind in ("created", "updated", "deleted")},
    "workflow.entered": {"always": TASK + WORKFLOW_OF_TASK + QUEUE_OF_TASK},
    "workflow.target-matched": {"always": TASK + WORKFLOW_OF_TASK + QUEUE_OF_TASK, "filter": MATCHED_FILTER},
    "workflow.timeout": TASK_EVENT,
    "workflow.skipped": TASK_EVENT,
    **{f"workspace.{kind}": {"always": ()} for kind in ("created", "updated", "deleted")},
}

# Which conditions hold in each driver's scenario (tests/test_events_callbacks.py), beside the
# task's reason, which the test reads from the callback's TaskAssignmentStatus and the scenario.
SCENARIO = {
    "task.created": {"queue"}, "task.updated": {"queue"}, "task.canceled": {"queue", "reason"},
    "task.wrapup": {"queue", "holder"}, "task.completed": {"queue", "holder", "reason"},
    "task.deleted": {"queue"}, "task.system-deleted": {"queue", "reason"},
    "reservation.canceled": {"reason"}, "reservation.completed": {"reason"},
    "workflow.target-matched": set(), "workflow.timeout": {"queue"},
    **{f"task.transfer-{kind}": {"queue"} for kind in ("initiated", "attempt-failed", "failed", "canceled",
                                                        "completed")},
    # skip_if took the task out before it entered any queue: workflow.skipped names none
}
# Fields of the envelope that are attributes of the Event resource rather than part of event_data.
RESOURCE_ATTRIBUTES = {"EventType", "AccountSid", "EventDescription", "ResourceType", "ResourceSid", "Timestamp",
                       "TimestampMs", "Sid"}


def expected_fields(event_type: str, params: dict) -> set[str]:
    row = TABLE[event_type]
    holds = SCENARIO.get(event_type, set())
    fields = set(ENVELOPE) | set(row["always"])
    for condition in ("queue", "holder", "filter"):
        if condition in holds:
            fields |= set(row.get(condition, ()))
    if "reason" in holds:
        fields |= set(TASK_REASON.get(params.get("TaskAssignmentStatus"), ()))
    return fields


def test_the_table_covers_every_event_type_of_the_reference():
    assert set(TABLE) == set(EVENT_TYPES)
    assert set(DRIVERS) | set(NOT_EMITTED) == set(EVENT_TYPES)


@pytest.fixture
def world(emu):
    return World(emu)


@pytest.mark.parametrize("event_type", list(DRIVERS))
def test_fields_are_exactly_the_table(emu, world, event_type):
    expected = DRIVERS[event_type](world)
    records = [r for r in emu.webhooks.inbox.events(event_type)
               if "ResourceSid" not in expected or r.params["ResourceSid"] == expected["ResourceSid"]]
    assert records, f"no {event_type} callback"
    params = records[-1].params
    want = expected_fields(event_type, params)
    assert set(params) == want, (f"{event_type}: not in the table {sorted(set(params) - want)}, "
                                 f"in the table but not sent {sorted(want - set(params))}")
    if event_type != "workspace.deleted":
        event = world.ws.events(params["Sid"]).fetch()
        shown = {snake_case(name) for name in want - RESOURCE_ATTRIBUTES if params[name] != ""}
        assert set(event.event_data) == shown, event_type


# --- values as recorded ----------------------------------------------------------------------------------
def test_descriptions_resources_and_values_of_a_routed_task(emu, world):
    """One task routed through a named filter, accepted and completed: the recorded texts, resource
    types and values."""
    config = {"task_routing": {"filters": [{"filter_friendly_name": "english", "expression": "language=='english'",
                                            "targets": [{"queue": world.queue}]}]}}
    workflow = world.ws.workflows.create(friendly_name="Default", configuration=json.dumps(config)).sid
    queue = world.ws.task_queues(world.queue).fetch()
    worker = world.worker("alexdlaird")
    task = world.task(workflow_sid=workflow, attributes=json.dumps({"language": "english"}))
    (reservation,) = world.pending(task)
    world.ws.tasks(task.sid).reservations(reservation.sid).update(reservation_status="accepted")
    world.ws.tasks(task.sid).update(assignment_status="completed")
    sent = {r.event_type: r.params for r in emu.webhooks.inbox.events(task_sid=task.sid)}
    expected = {
        "task.created": ("task", task.sid, f"Task {task.sid} created"),
        "workflow.entered": ("task", task.sid, f"Task {task.sid} entered Workflow Default"),
        "workflow.target-matched": ("task", task.sid, f"Task {task.sid} matched a workflow target"),
        "task-queue.entered": ("task", task.sid, f"Task {task.sid} entered TaskQueue {queue.friendly_name}"),
        "reservation.created": ("reservation", reservation.sid, f"Reservation {reservation.sid} created"),
        "reservation.accepted": ("reservation", reservation.sid, f"Reservation {reservation.sid} accepted"),
        "task.completed": ("task", task.sid, f"Task {task.sid} completed"),
    }
    for event_type, (resource_type, resource_sid, description) in expected.items():
        params = sent[event_type]
        assert (params["ResourceType"], params["ResourceSid"], params["EventDescription"]) == \
            (resource_type, resource_sid, description), event_type
    for event_type in ("task.created", "workflow.entered", "task-queue.entered", "reservation.created"):
        params = sent[event_type]
        assert (params["TaskQueueSid"], params["TaskQueueName"], params["TaskQueueTargetExpression"],
                params["WorkflowName"], params["TaskAddons"]) == \
            (queue.sid, queue.friendly_name, queue.target_workers, "Default", "{}"), event_type
    matched = sent["workflow.target-matched"]
    assert (matched["WorkflowFilterName"], matched["WorkflowFilterExpression"]) == ("english", "[\"language=='english'\"]")
    completed = sent["task.completed"]
    assert (completed["WorkerSid"], completed["WorkerName"], completed["WorkerActivityName"]) == \
        (worker.sid, "alexdlaird", "Available")
    assert "TaskCompletedReason" not in completed and "TaskCanceledReason" not in completed
    worker_created = emu.webhooks.inbox.events("worker.created")[-1].params
    assert worker_created["EventDescription"] == "Worker alexdlaird created"
    assert all("TaskVersion" not in r.params for r in emu.webhooks.inbox.events())


def test_a_task_canceled_without_a_reason_carries_no_reason_field(emu, world):
    task = world.task()
    world.ws.tasks(task.sid).update(assignment_status="canceled")
    params = emu.webhooks.inbox.events("task.canceled")[-1].params
    assert params["TaskAssignmentStatus"] == "canceled" and "TaskCanceledReason" not in params


@pytest.mark.parametrize("wrapping", [False, True])
def test_deleting_a_held_task_completes_its_reservation_first(emu, world, wrapping):
    worker, task, reservation = world.accepted()
    if wrapping:
        world.ws.tasks(task.sid).update(assignment_status="wrapping")
    world.ws.tasks(task.sid).delete()
    types = emu.webhooks.inbox.event_types(task_sid=task.sid)
    assert types[-2:] == ["reservation.completed", "task.deleted"]
    done = emu.webhooks.inbox.events("reservation.completed")[-1].params
    assert (done["ReservationSid"], done["WorkerSid"]) == (reservation.sid, worker.sid)
    channel = next(c for c in world.ws.workers(worker.sid).worker_channels.list()
                   if c.task_channel_unique_name == "default")
    assert channel.assigned_tasks == 0
