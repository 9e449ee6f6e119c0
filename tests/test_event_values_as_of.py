"""An event shows its subjects as they were when it was logged: a later rename or change of the
worker, queue, workflow, activity, task or workspace changes none of the event's fields, its
description or its callback (events share their values' tuples and build their texts when read,
so this pins that nothing is read from the live records). Driven through the real client."""

from __future__ import annotations

import json

import pytest
from conftest import ACCOUNT_SID
from twilio.request_validator import RequestValidator

CALLBACK = "https://app.example.com/events?from=emulator"


@pytest.fixture
def ws(client):
    instance = client.taskrouter.v1.workspaces.create(friendly_name="Before", template="FIFO",
                                                      event_callback_url=CALLBACK)
    context = client.taskrouter.v1.workspaces(instance.sid)
    context.instance = instance
    return context


def _worker(ws):
    worker = ws.workers.create(friendly_name="alice", attributes=json.dumps({"skill": "a"}))
    ws.workers(worker.sid).update(friendly_name="alice2", attributes=json.dumps({"skill": "b"}))
    return "worker.created", worker.sid, {"worker_name": "alice", "worker_attributes": '{"skill":"a"}'}, \
        "Worker alice created"


def _queue(ws):
    queue = ws.task_queues.create(friendly_name="Sales", target_workers="skill == 'a'")
    ws.task_queues(queue.sid).update(friendly_name="Support", target_workers="skill == 'b'")
    return "task-queue.created", queue.sid, {"task_queue_name": "Sales",
                                             "task_queue_target_expression": "skill == 'a'"}, "TaskQueue Sales created"


def _workflow(ws):
    queue = ws.task_queues.list()[0]
    config = json.dumps({"task_routing": {"filters": [], "default_filter": {"queue": queue.sid}}})
    workflow = ws.workflows.create(friendly_name="First", configuration=config)
    ws.workflows(workflow.sid).update(friendly_name="Second")
    return "workflow.created", workflow.sid, {"workflow_name": "First"}, "Workflow First created"


def _workspace(ws):
    ws.update(friendly_name="After")
    return "workspace.created", ws.instance.sid, {"workspace_name": "Before"}, "Workspace Before created"


def _task(ws):
    workflow = ws.workflows.list()[0]
    task = ws.tasks.create(workflow_sid=workflow.sid, attributes=json.dumps({"n": 1}), priority=1)
    ws.tasks(task.sid).update(attributes=json.dumps({"n": 2}), priority=5)
    return "task.created", task.sid, {"task_attributes": '{"n":1}', "task_priority": "1"}, f"Task {task.sid} created"


def _activity(ws):
    worker = ws.workers.create(friendly_name="bob")
    busy = ws.activities.create(friendly_name="Busy", available=False)
    ws.workers(worker.sid).update(activity_sid=busy.sid)
    ws.activities(busy.sid).update(friendly_name="Away")
    ws.workers(worker.sid).update(friendly_name="bob2")
    return "worker.activity.update", worker.sid, {"worker_activity_name": "Busy", "worker_name": "bob"}, \
        "Worker bob updated to Busy Activity"


@pytest.mark.parametrize("drive", [_worker, _queue, _workflow, _workspace, _task, _activity],
                         ids=lambda f: f.__name__.strip("_"))
def test_an_event_keeps_what_its_subjects_were(emu, client, ws, drive):
    event_type, resource_sid, fields, description = drive(ws)
    emu.clock.advance(1)
    [event] = [e for e in ws.events.list(event_type=event_type, minutes=60) if e.resource_sid == resource_sid]
    assert event.description == description
    for name, value in fields.items():
        assert event.event_data[name] == value, name
    [record] = [r for r in emu.webhooks.inbox.events(event_type) if r.params["ResourceSid"] == resource_sid]
    assert record.params["EventDescription"] == description
    assert record.params["WorkspaceName"] == "Before"
    # the callback signed as sent: over its URL and these same fields, read twice alike
    assert record.params == record.params and record.headers == record.headers
    assert RequestValidator("token").validate(record.url, record.params, record.headers["X-Twilio-Signature"])


def test_events_of_tasks_alike_name_each_its_own_task(emu, client, ws):
    """Tasks whose state is equal (same age, priority, status, channel) share that part of their
    events; each event still names its own task and attributes."""
    workflow = ws.workflows.list()[0]
    tasks = [ws.tasks.create(workflow_sid=workflow.sid, attributes=json.dumps({"n": n})) for n in range(3)]
    events = ws.events.list(event_type="task.created", minutes=60)
    assert {e.resource_sid: e.event_data["task_attributes"] for e in events} == \
        {t.sid: json.dumps({"n": n}, separators=(",", ":")) for n, t in enumerate(tasks)}
    assert all(e.event_data["task_sid"] == e.resource_sid for e in events)
    assert {r.params["TaskSid"] for r in emu.webhooks.inbox.events("task.created")} == {t.sid for t in tasks}
    assert ACCOUNT_SID == events[0].account_sid
