"""Every event type of the Events reference: driven through the real client, then its callback's
form fields checked against the reference's tables
(https://www.twilio.com/docs/taskrouter/api/event/reference)."""

from __future__ import annotations

import json

import pytest
from conftest import ACCOUNT_SID
from twilio.request_validator import RequestValidator

from emulator.engine.events import EVENT_TYPES, NOT_EMITTED, snake_case

CALLBACK = "https://app.example.com/taskrouter/events?source=emulator"

# --- the reference's tables ----------------------------------------------------------------------
ALWAYS = ("EventType", "AccountSid", "WorkspaceSid", "WorkspaceName", "EventDescription", "ResourceType",
          "ResourceSid", "Timestamp", "TimestampMs", "Sid")
# (TaskCanceledReason and TaskCompletedReason only when the task has one: tests/test_event_catalogue.py)
TASK = ("TaskSid", "TaskAttributes", "TaskAge", "TaskPriority", "TaskAssignmentStatus")
WORKER = ("WorkerSid", "WorkerName", "WorkerAttributes", "WorkerActivitySid", "WorkerActivityName", "WorkerVersion",
          "OperatingUnitSid")
ACTIVITY_CHANGE = ("WorkerTimeInPreviousActivity", "WorkerTimeInPreviousActivityMs", "WorkerPreviousActivitySid")
CHANNEL = ("WorkerChannelAvailable", "WorkerChannelAvailableCapacity", "WorkerChannelPreviousCapacity",
           "TaskChannelSid", "TaskChannelUniqueName", "WorkerChannelTaskCount")
TASK_CHANNEL = ("TaskChannelSid", "TaskChannelName", "TaskChannelUniqueName", "TaskChannelOptimizedRouting")
ACTIVITY = ("ActivitySid", "ActivityName", "ActivityAvailable")
RESERVATION = TASK + WORKER + ("TaskQueueSid", "ReservationSid", "WorkflowSid")
TASK_IN_QUEUE = TASK + ("TaskQueueSid", "WorkflowSid")
QUEUE = ("TaskQueueSid", "TaskQueueName", "TaskQueueTargetExpression")
WORKFLOW = ("WorkflowSid", "WorkflowName")
TASK_IN_WORKFLOW = TASK + ("WorkflowSid",)
WORKSPACE = ("WorkspaceSid", "WorkspaceName")

REFERENCE = {
    "activity.created": ACTIVITY, "activity.updated": ACTIVITY, "activity.deleted": ACTIVITY,
    **{f"reservation.{kind}": RESERVATION for kind in ("created", "accepted", "rejected", "timeout", "canceled",
                                                       "rescinded", "completed", "wrapup")},
    "reservation.failed": TASK + ("TaskQueueSid", "ReservationSid", "WorkflowSid"),
    "task.created": TASK_IN_WORKFLOW,
    **{f"task.{kind}": TASK_IN_QUEUE for kind in ("updated", "canceled", "wrapup", "completed", "deleted",
                                                  "system-deleted", "transfer-initiated", "transfer-attempt-failed",
                                                  "transfer-failed", "transfer-canceled", "transfer-completed")},
    "task-channel.created": TASK_CHANNEL, "task-channel.updated": TASK_CHANNEL, "task-channel.deleted": TASK_CHANNEL,
    "task-queue.created": QUEUE + ("OperatingUnitSid",), "task-queue.deleted": QUEUE,
    "task-queue.entered": TASK_IN_QUEUE, "task-queue.timeout": TASK_IN_QUEUE, "task-queue.moved": TASK_IN_QUEUE,
    "task-queue.expression.updated": ("TaskQueueSid", "TaskQueueTargetExpression"),
    "worker.created": WORKER, "worker.activity.update": WORKER + ACTIVITY_CHANGE,
    "worker.attributes.update": WORKER, "worker.capacity.update": WORKER + CHANNEL,
    "worker.channel.availability.update": WORKER + CHANNEL, "worker.deleted": WORKER,
    "workflow.created": WORKFLOW, "workflow.updated": WORKFLOW, "workflow.deleted": WORKFLOW,
    "workflow.target-matched": TASK_IN_WORKFLOW, "workflow.entered": TASK_IN_WORKFLOW,
    "workflow.timeout": TASK_IN_WORKFLOW, "workflow.skipped": TASK_IN_WORKFLOW,
    "workspace.created": WORKSPACE, "workspace.updated": WORKSPACE, "workspace.deleted": WORKSPACE,
}


# --- a workspace to drive --------------------------------------------------------------------------
class World:
    def __init__(self, emu) -> None:
        self.emu = emu
        self.client = emu.client()
        instance = self.client.taskrouter.v1.workspaces.create(friendly_name="Events", template="FIFO",
                                                               event_callback_url=CALLBACK)
        self.sid = instance.sid
        self.ws = self.client.taskrouter.v1.workspaces(instance.sid)
        activities = {a.friendly_name: a.sid for a in self.ws.activities.list()}
        self.available, self.offline = activities["Available"], activities["Offline"]
        self.queue = self.ws.task_queues.list()[0].sid
        self.workflow = self.ws.workflows.list()[0].sid

    def worker(self, name: str = "alice", attributes: dict | None = None):
        return self.ws.workers.create(friendly_name=name, activity_sid=self.available,
                                      attributes=json.dumps(attributes or {"skill": "en"}))

    def task(self, **kwargs):
        kwargs.setdefault("attributes", json.dumps({"type": "support"}))
        return self.ws.tasks.create(**kwargs)

    def pending(self, task):
        return [r for r in self.ws.tasks(task.sid).reservations.list() if r.reservation_status == "pending"]

    def reserved(self):
        worker = self.worker()
        task = self.task()
        (reservation,) = self.pending(task)
        return worker, task, reservation

    def accepted(self):
        worker, task, reservation = self.reserved()
        self.ws.tasks(task.sid).reservations(reservation.sid).update(reservation_status="accepted")
        return worker, task, reservation

    def two_step_workflow(self, timeout_seconds: int = 30):
        second = self.ws.task_queues.create(friendly_name="Second", target_workers="1==1").sid
        config = {"task_routing": {"filters": [{"filter_friendly_name": "steps", "expression": "1==1",
                                                "targets": [{"queue": self.queue, "timeout": timeout_seconds},
                                                            {"queue": second}]}]}}
        return self.ws.workflows.create(friendly_name="Steps", configuration=json.dumps(config)).sid

    def advance(self, seconds: float) -> None:
        self.emu.clock.advance(seconds)


def reservation_fields(worker, task, reservation, world, **extra) -> dict:
    return {"ResourceSid": reservation.sid, "ResourceType": "reservation", "ReservationSid": reservation.sid,
            "TaskSid": task.sid, "WorkerSid": worker.sid, "WorkerName": worker.friendly_name,
            "TaskQueueSid": world.queue, "WorkflowSid": world.workflow, **extra}


# --- one driver per event type: makes the event happen, returns fields the callback must carry -------
def activity_created(w):
    a = w.ws.activities.create(friendly_name="Lunch", available=False)
    return {"ResourceSid": a.sid, "ResourceType": "activity", "ActivitySid": a.sid, "ActivityName": "Lunch",
            "ActivityAvailable": "false"}


def activity_updated(w):
    a = w.ws.activities.create(friendly_name="Lunch", available=True)
    w.ws.activities(a.sid).update(friendly_name="Dinner")
    return {"ResourceSid": a.sid, "ActivityName": "Dinner", "ActivityAvailable": "true"}


def activity_deleted(w):
    a = w.ws.activities.create(friendly_name="Lunch")
    w.ws.activities(a.sid).delete()
    return {"ResourceSid": a.sid, "ActivityName": "Lunch"}


def reservation_created(w):
    worker, task, reservation = w.reserved()
    return reservation_fields(worker, task, reservation, w, TaskAssignmentStatus="reserved",
                              WorkerAttributes='{"skill":"en"}')


def reservation_accepted(w):
    worker, task, reservation = w.accepted()
    return reservation_fields(worker, task, reservation, w, TaskAssignmentStatus="assigned")


def reservation_rejected(w):
    worker, task, reservation = w.reserved()
    w.ws.tasks(task.sid).reservations(reservation.sid).update(reservation_status="rejected")
    return reservation_fields(worker, task, reservation, w)


def reservation_timeout(w):
    worker, task, reservation = w.reserved()
    w.advance(120)
    return reservation_fields(worker, task, reservation, w, TaskAge="120")


def reservation_canceled(w):
    worker, task, reservation = w.reserved()
    w.ws.tasks(task.sid).update(assignment_status="canceled", reason="caller hung up")
    return reservation_fields(worker, task, reservation, w)


def reservation_rescinded(w):
    w.ws.task_queues(w.queue).update(max_reserved_workers=2)
    w.worker("alice")
    w.worker("bob")
    task = w.task()
    first, second = w.pending(task)
    w.ws.tasks(task.sid).reservations(first.sid).update(reservation_status="accepted")
    bob = w.ws.workers(second.worker_sid).fetch()
    return reservation_fields(bob, task, second, w, TaskAssignmentStatus="assigned")


def reservation_completed(w):
    worker, task, reservation = w.accepted()
    w.ws.tasks(task.sid).update(assignment_status="completed", reason="resolved")
    return reservation_fields(worker, task, reservation, w, TaskAssignmentStatus="completed",
                              TaskCompletedReason="resolved")


def reservation_wrapup(w):
    worker, task, reservation = w.accepted()
    w.ws.tasks(task.sid).update(assignment_status="wrapping")
    return reservation_fields(worker, task, reservation, w, TaskAssignmentStatus="wrapping")


def task_created(w):
    task = w.task(priority=7)
    return {"ResourceSid": task.sid, "ResourceType": "task", "TaskSid": task.sid, "WorkflowSid": w.workflow,
            "TaskAssignmentStatus": "pending", "TaskPriority": "7", "TaskAge": "0",
            "TaskAttributes": '{"type":"support"}'}


def task_updated(w):
    task = w.task()
    w.advance(42)
    w.ws.tasks(task.sid).update(attributes=json.dumps({"type": "sales"}))
    return {"ResourceSid": task.sid, "TaskAttributes": '{"type":"sales"}', "TaskAge": "42",
            "TaskQueueSid": w.queue, "WorkflowSid": w.workflow}


def task_canceled(w):
    task = w.task()
    w.ws.tasks(task.sid).update(assignment_status="canceled", reason="no longer needed")
    return {"ResourceSid": task.sid, "TaskAssignmentStatus": "canceled", "TaskCanceledReason": "no longer needed"}


def task_wrapup(w):
    _, task, _ = w.accepted()
    w.ws.tasks(task.sid).update(assignment_status="wrapping")
    return {"ResourceSid": task.sid, "TaskAssignmentStatus": "wrapping", "TaskQueueSid": w.queue}


def task_completed(w):
    _, task, _ = w.accepted()
    w.ws.tasks(task.sid).update(assignment_status="completed", reason="done")
    return {"ResourceSid": task.sid, "TaskAssignmentStatus": "completed", "TaskCompletedReason": "done"}


def task_deleted(w):
    task = w.task()
    w.ws.tasks(task.sid).delete()
    return {"ResourceSid": task.sid, "TaskSid": task.sid}


def task_system_deleted(w):
    task = w.task(timeout=60)
    w.advance(60)  # TTL: canceled
    w.advance(300)  # then the system deletes it
    return {"ResourceSid": task.sid, "TaskAssignmentStatus": "canceled", "TaskCanceledReason": "Task TTL Exceeded"}


def _transfer(w, then, *, to_queue: bool = False):
    """Alice holds a task and transfers it to Bob, or to the queue Bob is in (transfers exist only
    on the Worker SDK's Event Bridge, so the engine is driven directly); ``then`` decides what
    happens to Bob's offer."""
    alice, task, _ = w.accepted()
    bob = w.worker("bob")
    ws = w.emu.backend.get_workspace(ACCOUNT_SID, w.sid)
    with w.emu.backend.lock:
        [held] = [r for r in ws.reservations.values() if r.task_sid == task.sid]
        transfer = ws.create_transfer(alice.sid, reservation_sid=held.sid, task_sid=task.sid,
                                      to=w.queue if to_queue else bob.sid)
    then(ws, transfer, bob)
    return {"ResourceSid": task.sid, "TaskSid": task.sid, "TaskQueueSid": w.queue, "WorkflowSid": w.workflow}


def task_transfer_initiated(w):
    return {**_transfer(w, lambda ws, transfer, bob: None), "TaskAssignmentStatus": "reserved"}


def task_transfer_completed(w):
    def accept(ws, transfer, bob):
        w.ws.workers(bob.sid).reservations(transfer.reservation_sid).update(reservation_status="accepted")
    return {**_transfer(w, accept), "TaskAssignmentStatus": "assigned"}


def task_transfer_failed(w):
    def reject(ws, transfer, bob):
        w.ws.workers(bob.sid).reservations(transfer.reservation_sid).update(reservation_status="rejected")
    return _transfer(w, reject)


def task_transfer_attempt_failed(w):
    def reject(ws, transfer, bob):
        w.ws.workers(bob.sid).reservations(transfer.reservation_sid).update(reservation_status="rejected")
    return _transfer(w, reject, to_queue=True)


def task_transfer_canceled(w):
    def cancel(ws, transfer, bob):
        with w.emu.backend.lock:
            ws.cancel_transfer(transfer.initiating_worker_sid, transfer.sid, status="canceled")
    return _transfer(w, cancel)


def task_channel_created(w):
    channel = w.ws.task_channels.create(friendly_name="Fax", unique_name="fax", channel_optimized_routing=True)
    return {"ResourceSid": channel.sid, "TaskChannelSid": channel.sid, "TaskChannelName": "Fax",
            "TaskChannelUniqueName": "fax", "TaskChannelOptimizedRouting": "true"}


def task_channel_updated(w):
    channel = w.ws.task_channels.create(friendly_name="Fax", unique_name="fax")
    w.ws.task_channels(channel.sid).update(friendly_name="Telefax")
    return {"ResourceSid": channel.sid, "TaskChannelName": "Telefax", "TaskChannelOptimizedRouting": "false"}


def task_channel_deleted(w):
    channel = w.ws.task_channels.create(friendly_name="Fax", unique_name="fax")
    w.ws.task_channels(channel.sid).delete()
    return {"ResourceSid": channel.sid, "TaskChannelUniqueName": "fax"}


def task_queue_created(w):
    queue = w.ws.task_queues.create(friendly_name="Spanish", target_workers="skill == 'es'")
    return {"ResourceSid": queue.sid, "TaskQueueSid": queue.sid, "TaskQueueName": "Spanish",
            "TaskQueueTargetExpression": "skill == 'es'", "OperatingUnitSid": ""}


def task_queue_deleted(w):
    queue = w.ws.task_queues.create(friendly_name="Spanish", target_workers="skill == 'es'")
    w.ws.task_queues(queue.sid).delete()
    return {"ResourceSid": queue.sid, "TaskQueueName": "Spanish"}


def task_queue_entered(w):
    task = w.task()
    return {"TaskSid": task.sid, "TaskQueueSid": w.queue, "WorkflowSid": w.workflow}


def task_queue_timeout(w):
    workflow = w.two_step_workflow()
    task = w.task(workflow_sid=workflow)
    w.advance(30)
    return {"TaskSid": task.sid, "TaskQueueSid": w.queue, "WorkflowSid": workflow, "TaskAge": "30"}


def task_queue_moved(w):
    workflow = w.two_step_workflow()
    task = w.task(workflow_sid=workflow)
    w.advance(30)
    return {"TaskSid": task.sid, "WorkflowSid": workflow}


def task_queue_expression_updated(w):
    w.ws.task_queues(w.queue).update(target_workers="skill == 'en'")
    return {"ResourceSid": w.queue, "TaskQueueSid": w.queue, "TaskQueueTargetExpression": "skill == 'en'"}


def worker_created(w):
    worker = w.worker("carol", {"skill": "fr"})
    return {"ResourceSid": worker.sid, "ResourceType": "worker", "WorkerSid": worker.sid, "WorkerName": "carol",
            "WorkerAttributes": '{"skill":"fr"}', "WorkerActivitySid": w.available,
            "WorkerActivityName": "Available", "OperatingUnitSid": ""}


def worker_activity_update(w):
    worker = w.worker()
    w.advance(30.5)
    w.ws.workers(worker.sid).update(activity_sid=w.offline)
    return {"ResourceSid": worker.sid, "WorkerActivitySid": w.offline, "WorkerActivityName": "Offline",
            "WorkerPreviousActivitySid": w.available, "WorkerTimeInPreviousActivity": "30",
            "WorkerTimeInPreviousActivityMs": "30500"}


def worker_attributes_update(w):
    worker = w.worker()
    w.ws.workers(worker.sid).update(attributes=json.dumps({"skill": "de"}))
    return {"ResourceSid": worker.sid, "WorkerAttributes": '{"skill":"de"}'}


def _default_channel(w, worker):
    return next(c for c in w.ws.workers(worker.sid).worker_channels.list() if c.task_channel_unique_name == "default")


def worker_capacity_update(w):
    worker = w.worker()
    channel = _default_channel(w, worker)
    w.ws.workers(worker.sid).worker_channels(channel.sid).update(capacity=4)
    return {"ResourceSid": worker.sid, "WorkerChannelPreviousCapacity": "1", "WorkerChannelAvailable": "true",
            "WorkerChannelAvailableCapacity": "100", "TaskChannelSid": channel.task_channel_sid,
            "TaskChannelUniqueName": "default", "WorkerChannelTaskCount": "0"}


def worker_channel_availability_update(w):
    worker = w.worker()
    channel = _default_channel(w, worker)
    w.ws.workers(worker.sid).worker_channels(channel.sid).update(available=False)
    return {"ResourceSid": worker.sid, "WorkerChannelAvailable": "false", "TaskChannelUniqueName": "default"}


def worker_deleted(w):
    worker = w.worker("dave")
    w.ws.workers(worker.sid).delete()
    return {"ResourceSid": worker.sid, "WorkerName": "dave"}


def workflow_created(w):
    workflow = w.two_step_workflow()
    return {"ResourceSid": workflow, "ResourceType": "workflow", "WorkflowSid": workflow, "WorkflowName": "Steps"}


def workflow_updated(w):
    w.ws.workflows(w.workflow).update(friendly_name="Renamed")
    return {"ResourceSid": w.workflow, "WorkflowName": "Renamed"}


def workflow_deleted(w):
    workflow = w.two_step_workflow()
    w.ws.workflows(workflow).delete()
    return {"ResourceSid": workflow, "WorkflowName": "Steps"}


def workflow_target_matched(w):
    task = w.task()
    return {"TaskSid": task.sid, "WorkflowSid": w.workflow}


def workflow_entered(w):
    task = w.task()
    return {"TaskSid": task.sid, "WorkflowSid": w.workflow, "TaskAssignmentStatus": "pending"}


def workflow_timeout(w):
    config = {"task_routing": {"filters": [{"expression": "1==1", "targets": [{"queue": w.queue, "timeout": 45}]}]}}
    workflow = w.ws.workflows.create(friendly_name="Once", configuration=json.dumps(config)).sid
    task = w.task(workflow_sid=workflow)
    w.advance(45)
    return {"TaskSid": task.sid, "WorkflowSid": workflow, "TaskAge": "45"}


def workflow_skipped(w):
    # no worker is available, so the only (final) target is skipped: the task leaves the workflow
    config = {"task_routing": {"filters": [{"expression": "1==1", "targets": [
        {"queue": w.queue, "skip_if": "workers.available == 0"}]}]}}
    workflow = w.ws.workflows.create(friendly_name="Skippy", configuration=json.dumps(config)).sid
    task = w.task(workflow_sid=workflow)
    assert w.ws.tasks(task.sid).fetch().assignment_status == "canceled"
    return {"TaskSid": task.sid, "WorkflowSid": workflow}


def workspace_created(w):
    return {"ResourceSid": w.sid, "ResourceType": "workspace", "WorkspaceName": "Events"}


def workspace_updated(w):
    w.ws.update(friendly_name="Renamed Events")
    return {"ResourceSid": w.sid, "WorkspaceName": "Renamed Events"}


def workspace_deleted(w):
    w.ws.delete()
    return {"ResourceSid": w.sid, "WorkspaceName": "Events"}


DRIVERS = {
    "activity.created": activity_created, "activity.updated": activity_updated, "activity.deleted": activity_deleted,
    "reservation.created": reservation_created, "reservation.accepted": reservation_accepted,
    "reservation.rejected": reservation_rejected, "reservation.timeout": reservation_timeout,
    "reservation.canceled": reservation_canceled, "reservation.rescinded": reservation_rescinded,
    "reservation.completed": reservation_completed, "reservation.wrapup": reservation_wrapup,
    "task.created": task_created, "task.updated": task_updated, "task.canceled": task_canceled,
    "task.wrapup": task_wrapup, "task.completed": task_completed, "task.deleted": task_deleted,
    "task.system-deleted": task_system_deleted,
    "task.transfer-initiated": task_transfer_initiated, "task.transfer-completed": task_transfer_completed,
    "task.transfer-failed": task_transfer_failed, "task.transfer-canceled": task_transfer_canceled,
    "task.transfer-attempt-failed": task_transfer_attempt_failed,
    "task-channel.created": task_channel_created, "task-channel.updated": task_channel_updated,
    "task-channel.deleted": task_channel_deleted,
    "task-queue.created": task_queue_created, "task-queue.deleted": task_queue_deleted,
    "task-queue.entered": task_queue_entered, "task-queue.timeout": task_queue_timeout,
    "task-queue.moved": task_queue_moved, "task-queue.expression.updated": task_queue_expression_updated,
    "worker.created": worker_created, "worker.activity.update": worker_activity_update,
    "worker.attributes.update": worker_attributes_update, "worker.capacity.update": worker_capacity_update,
    "worker.channel.availability.update": worker_channel_availability_update, "worker.deleted": worker_deleted,
    "workflow.created": workflow_created, "workflow.updated": workflow_updated, "workflow.deleted": workflow_deleted,
    "workflow.target-matched": workflow_target_matched, "workflow.entered": workflow_entered,
    "workflow.timeout": workflow_timeout, "workflow.skipped": workflow_skipped,
    "workspace.created": workspace_created, "workspace.updated": workspace_updated,
    "workspace.deleted": workspace_deleted,
}


def test_the_tables_cover_every_event_type_of_the_reference():
    assert set(REFERENCE) == set(EVENT_TYPES)
    # each type is either driven below or listed, with its reason, as never logged
    assert set(DRIVERS) | set(NOT_EMITTED) == set(EVENT_TYPES)
    assert not set(DRIVERS) & set(NOT_EMITTED)


@pytest.fixture
def world(emu):
    return World(emu)


@pytest.mark.parametrize("event_type", list(DRIVERS))
def test_event_callback_carries_the_reference_fields(emu, world, event_type):
    expected = DRIVERS[event_type](world)
    records = emu.webhooks.inbox.events(event_type)
    assert records, f"no {event_type} callback"
    matching = [r for r in records if "ResourceSid" not in expected or r.params["ResourceSid"] == expected["ResourceSid"]]
    assert matching, f"no {event_type} callback about {expected.get('ResourceSid')}"
    record = matching[-1]
    params = record.params
    missing = set(ALWAYS + REFERENCE[event_type]) - set(params)
    assert not missing, f"{event_type} lacks {sorted(missing)}"
    assert (params["EventType"], params["AccountSid"], params["WorkspaceSid"]) == (event_type, ACCOUNT_SID, world.sid)
    assert params["Sid"].startswith("EV") and params["EventDescription"]
    for name, value in expected.items():
        assert params[name] == value, name
    # Timestamp (epoch seconds) and TimestampMs are the virtual instant of the event
    assert int(params["Timestamp"]) == int(params["TimestampMs"]) // 1000
    assert int(params["TimestampMs"]) == int(record.timestamp.timestamp() * 1000)
    assert (record.kind, record.method, record.url) == ("event", "POST", CALLBACK)
    assert RequestValidator("token").validate(record.url, params, record.headers["X-Twilio-Signature"])
    if event_type != "workspace.deleted":
        # the same event, in the Events resource, with the same data in snake_case
        event = world.ws.events(params["Sid"]).fetch()
        assert (event.event_type, event.resource_sid) == (event_type, params["ResourceSid"])
        for name, value in expected.items():
            if name not in ("ResourceSid", "ResourceType") and value != "":
                assert event.event_data[snake_case(name)] == value, name


def test_events_filter_limits_callbacks_but_not_the_events_resource(emu, world):
    world.ws.update(events_filter="task.created, task.canceled")
    task = world.task()
    world.ws.tasks(task.sid).update(assignment_status="canceled")
    sent = emu.webhooks.inbox.event_types(task_sid=task.sid)
    assert sent == ["task.created", "task.canceled"]
    logged = [e.event_type for e in world.ws.events.list(task_sid=task.sid)]
    assert logged[0] == "task.created" and "workflow.entered" in logged and logged[-1] == "task.canceled"
    world.ws.update(events_filter="")  # an empty filter means every type again
    world.task()
    assert "workflow.entered" in emu.webhooks.inbox.event_types()[-5:]


def test_no_event_callback_url_no_callbacks(emu, client):
    ws = client.taskrouter.v1.workspaces.create(friendly_name="Quiet", template="FIFO")
    client.taskrouter.v1.workspaces(ws.sid).tasks.create(attributes="{}")
    assert emu.webhooks.inbox.records(workspace_sid=ws.sid) == []


def test_life_of_a_routed_task_in_order(emu, world):
    """The whole ordered sequence of one routed task's events, as callbacks and in /Events."""
    worker = world.worker()
    task = world.task()
    (reservation,) = world.pending(task)
    world.advance(5)
    world.ws.tasks(task.sid).reservations(reservation.sid).update(reservation_status="accepted")
    world.advance(60)
    world.ws.tasks(task.sid).update(assignment_status="wrapping")
    world.advance(30)
    world.ws.tasks(task.sid).update(assignment_status="completed", reason="resolved")
    expected = ["task.created", "workflow.entered", "workflow.target-matched", "task-queue.entered",
                "reservation.created", "reservation.accepted", "reservation.wrapup", "task.wrapup",
                "reservation.completed", "task.completed"]
    assert emu.webhooks.inbox.event_types(task_sid=task.sid) == expected
    assert [e.event_type for e in world.ws.events.list(task_sid=task.sid)] == expected
    stamps = [int(r.params["TimestampMs"]) for r in emu.webhooks.inbox.events(task_sid=task.sid)]
    assert stamps == sorted(stamps) and stamps[-1] - stamps[0] == 95_000
    # the worker's own events: created, then nothing else (multitasking keeps its activity)
    assert emu.webhooks.inbox.event_types(event_type="worker.created") == ["worker.created"]
    assert all(r.params["WorkerSid"] == worker.sid for r in emu.webhooks.inbox.events(task_sid=task.sid)
               if r.event_type.startswith("reservation."))


def test_single_tasking_reservation_moves_the_worker_with_events_in_order(emu, world):
    world.ws.update(multi_task_enabled=False)
    activities = {a.friendly_name: a.sid for a in world.ws.activities.list()}
    busy = world.ws.activities.create(friendly_name="Busy", available=False).sid
    reserved = world.ws.activities.create(friendly_name="Reserved", available=False).sid
    world.ws.task_queues(world.queue).update(reservation_activity_sid=reserved, assignment_activity_sid=busy)
    worker = world.worker()
    task = world.task()
    (reservation,) = world.pending(task)
    world.ws.tasks(task.sid).reservations(reservation.sid).update(reservation_status="accepted")
    types = [r.event_type for r in emu.webhooks.inbox.events() if r.params.get("WorkerSid") == worker.sid]
    assert types == ["worker.created", "reservation.created", "worker.activity.update", "reservation.accepted",
                     "worker.activity.update"]
    moves = [r.params for r in emu.webhooks.inbox.events("worker.activity.update")]
    assert [(m["WorkerPreviousActivitySid"], m["WorkerActivitySid"]) for m in moves] == [
        (activities["Available"], reserved), (reserved, busy)]
