"""Every served operation of TaskRouter v1, driven through the real ``twilio.rest.Client``.

The app runs in strict-schema mode, so every successful call below has already been validated
against the official response schema; these tests check the values.
"""

from __future__ import annotations

import base64
import json

import pytest
from conftest import ACCOUNT_SID, OTHER_ACCOUNT_SID
from flask import request as flask_request
from twilio.base.exceptions import TwilioException, TwilioRestException

import emulator.http  # noqa: F401  (registers the handlers)
from emulator import errors, spec
from emulator.http.registry import HANDLERS

UNKNOWN = {"WA": "WA" + "0" * 32, "WQ": "WQ" + "0" * 32, "WK": "WK" + "0" * 32, "WW": "WW" + "0" * 32,
           "WT": "WT" + "0" * 32, "WR": "WR" + "0" * 32, "EV": "EV" + "0" * 32, "WS": "WS" + "0" * 32}


def basic_auth(account_sid: str = ACCOUNT_SID, token: str = "token") -> dict:
    raw = base64.b64encode(f"{account_sid}:{token}".encode()).decode()
    return {"Authorization": "Basic " + raw}


def rest_error(call) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as info:
        call()
    return info.value


def list_error_status(call) -> int:
    """A list() the service refuses: twilio's pager raises a plain TwilioException with the response."""
    with pytest.raises(TwilioException) as info:
        call()
    return info.value.args[1].status_code


def last_body(client) -> dict:
    return json.loads(client.http_client._test_only_last_response.text)


def task_event_types(workspace, task_sid: str) -> list[str]:
    """The task.* events of one task (routing adds workflow/queue events in between)."""
    return [e.event_type for e in workspace.events.list(task_sid=task_sid) if e.event_type.startswith("task.")]


def statistics_operations() -> dict:
    return {k: op for k, op in spec.operations().items() if "Statistics" in op.path}


def served_operations() -> set:
    return set(spec.operations())


# Which operations the tests of this module drove (recorded from the app), to check at the end
# that none was left out.
DRIVEN: set[str] = set()
RAN: set[str] = set()


@pytest.fixture(autouse=True)
def record_driven_operations(request, emu):
    @emu.app.after_request
    def note(response):
        if flask_request.url_rule is not None and response.status_code < 500:
            DRIVEN.add(flask_request.url_rule.endpoint)
        return response

    yield
    RAN.add(request.node.originalname)


# --- coverage -----------------------------------------------------------------------------------
def test_every_operation_of_the_spec_has_a_handler_and_nothing_else():
    assert len(served_operations()) == 61
    assert len(statistics_operations()) == 15
    assert set(HANDLERS) == served_operations()


def test_statistics_operations_answer_over_plain_http(emu, workspace):
    """Each of the 15 answers 200 with its own URL (the figures are checked in test_statistics.py)."""
    ws = workspace.instance
    queue = workspace.task_queues.list()[0]
    workflow = workspace.workflows.list()[0]
    worker = workspace.workers.create(friendly_name="stats")
    values = {"WorkspaceSid": ws.sid, "TaskQueueSid": queue.sid, "WorkflowSid": workflow.sid,
              "WorkerSid": worker.sid}
    seen = set()
    for operation_id, op in statistics_operations().items():
        path = op.path.format(**values)
        body = {"QueueSids": [queue.sid]} if op.method == "POST" else None
        answer = emu.http.open(path, method=op.method, headers=basic_auth(), json=body)
        assert answer.status_code == 200, (operation_id, answer.get_json())
        data = answer.get_json()
        if "meta" in data:  # the one list: ListTaskQueuesStatistics
            data = data[data["meta"]["key"]][0]
            assert data["task_queue_sid"] == queue.sid
        assert data["account_sid"] == ACCOUNT_SID and data["workspace_sid"] == ws.sid
        if "url" in data:
            assert data["url"] == "http://localhost" + path
        seen.add(operation_id)
    assert len(seen) == 15


# --- workspaces ---------------------------------------------------------------------------------
def test_workspace_defaults_of_the_fifo_template(workspace):
    ws = workspace.fetch()
    activities = workspace.activities.list()
    assert [a.friendly_name for a in activities] == ["Offline", "Available", "Unavailable"]
    assert [a.available for a in activities] == [False, True, False]
    assert ws.default_activity_sid == ws.timeout_activity_sid == activities[0].sid
    assert ws.default_activity_name == ws.timeout_activity_name == "Offline"
    assert ws.multi_task_enabled is True
    assert ws.prioritize_queue_order == "FIFO"
    assert ws.friendly_name == "Test Workspace"
    assert ws.account_sid == ACCOUNT_SID
    channels = workspace.task_channels.list()
    assert [c.unique_name for c in channels] == ["default", "voice", "sms", "chat", "video"]
    assert [c.friendly_name for c in channels] == ["Default", "Voice", "SMS", "Chat", "Video"]
    queues = workspace.task_queues.list()
    assert [q.friendly_name for q in queues] == ["Sample Queue"]
    assert queues[0].target_workers == "1==1"
    workflows = workspace.workflows.list()
    assert [w.friendly_name for w in workflows] == ["Default Fifo Workflow"]
    config = json.loads(workflows[0].configuration)
    assert config["task_routing"]["default_filter"]["queue"] == queues[0].sid
    assert workflows[0].task_reservation_timeout == 120


def test_workspace_without_template_has_no_queue_or_workflow(client):
    ws = client.taskrouter.v1.workspaces.create(friendly_name="Bare")
    context = client.taskrouter.v1.workspaces(ws.sid)
    assert context.task_queues.list() == []
    assert context.workflows.list() == []
    assert len(context.activities.list()) == 3
    assert len(context.task_channels.list()) == 5


def test_workspace_fetch_update_list_delete(client, workspace):
    workspaces = client.taskrouter.v1.workspaces
    other = workspaces.create(friendly_name="Second", multi_task_enabled=False, prioritize_queue_order="LIFO")
    assert other.multi_task_enabled is False
    assert other.prioritize_queue_order == "LIFO"
    assert [w.friendly_name for w in workspaces.list()] == ["Test Workspace", "Second"]
    assert [w.sid for w in workspaces.list(friendly_name="Second")] == [other.sid]

    available = workspace.activities.list(friendly_name="Available")[0]
    updated = workspace.update(friendly_name="Renamed", event_callback_url="https://example.com/cb",
                               default_activity_sid=available.sid, events_filter="task.created")
    assert updated.friendly_name == "Renamed"
    assert updated.event_callback_url == "https://example.com/cb"
    assert updated.events_filter == "task.created"
    assert updated.default_activity_sid == available.sid
    assert updated.default_activity_name == "Available"
    assert updated.timeout_activity_name == "Offline"
    assert workspace.fetch().friendly_name == "Renamed"

    assert workspaces(other.sid).delete() is True
    assert rest_error(workspaces(other.sid).fetch).status == 404
    assert [w.sid for w in workspaces.list()] == [workspace.instance.sid]


def test_account_partitioning(emu, client, workspace):
    other_client = emu.client(OTHER_ACCOUNT_SID)
    sid = workspace.instance.sid
    error = rest_error(other_client.taskrouter.v1.workspaces(sid).fetch)
    assert error.status == 404
    assert error.code == 20404
    assert list_error_status(other_client.taskrouter.v1.workspaces(sid).activities.list) == 404
    assert rest_error(lambda: other_client.taskrouter.v1.workspaces(sid).delete()).status == 404
    assert other_client.taskrouter.v1.workspaces.list() == []
    mine = other_client.taskrouter.v1.workspaces.create(friendly_name="B's")
    assert mine.account_sid == OTHER_ACCOUNT_SID
    assert [w.sid for w in client.taskrouter.v1.workspaces.list()] == [sid]
    assert rest_error(client.taskrouter.v1.workspaces(mine.sid).fetch).status == 404


# --- activities ---------------------------------------------------------------------------------
def test_activity_crud_and_filters(workspace):
    lunch = workspace.activities.create(friendly_name="Lunch")
    assert (lunch.friendly_name, lunch.available) == ("Lunch", False)
    busy = workspace.activities.create(friendly_name="Ready", available=True)
    assert busy.available is True
    assert workspace.activities(lunch.sid).fetch().friendly_name == "Lunch"
    assert workspace.activities(lunch.sid).update(friendly_name="Break").friendly_name == "Break"
    assert [a.friendly_name for a in workspace.activities.list(available="true")] == ["Available", "Ready"]
    assert [a.friendly_name for a in workspace.activities.list(available="false")] == \
        ["Offline", "Unavailable", "Break"]
    assert [a.sid for a in workspace.activities.list(friendly_name="Break")] == [lunch.sid]
    assert workspace.activities.list(friendly_name="Lunch") == []
    assert workspace.activities(lunch.sid).delete() is True
    assert rest_error(workspace.activities(lunch.sid).fetch).status == 404
    assert len(workspace.activities.list()) == 4


# --- task channels ------------------------------------------------------------------------------
def test_task_channel_crud_by_sid_and_unique_name(workspace):
    voice = workspace.task_channels("voice").fetch()
    assert voice.unique_name == "voice"
    assert voice.sid.startswith("TC")
    assert workspace.task_channels(voice.sid).fetch().unique_name == "voice"
    email = workspace.task_channels.create(friendly_name="Email", unique_name="email",
                                           channel_optimized_routing=True)
    assert (email.friendly_name, email.unique_name, email.channel_optimized_routing) == ("Email", "email", True)
    updated = workspace.task_channels("email").update(friendly_name="E-mail", channel_optimized_routing=False)
    assert (updated.sid, updated.friendly_name, updated.channel_optimized_routing) == (email.sid, "E-mail", False)
    assert [c.unique_name for c in workspace.task_channels.list()][-1] == "email"
    assert workspace.task_channels(email.sid).delete() is True
    assert rest_error(workspace.task_channels("email").fetch).status == 404
    assert len(workspace.task_channels.list()) == 5


# --- task queues --------------------------------------------------------------------------------
def test_task_queue_crud(workspace):
    offline = workspace.activities.list(friendly_name="Offline")[0]
    queue = workspace.task_queues.create(friendly_name="Spanish", target_workers="languages HAS 'es'",
                                         max_reserved_workers=3, task_order="LIFO",
                                         reservation_activity_sid=offline.sid)
    assert (queue.friendly_name, queue.target_workers, queue.max_reserved_workers, queue.task_order) == \
        ("Spanish", "languages HAS 'es'", 3, "LIFO")
    assert (queue.reservation_activity_sid, queue.reservation_activity_name) == (offline.sid, "Offline")
    assert queue.assignment_activity_sid is None
    fetched = workspace.task_queues(queue.sid).fetch()
    assert fetched.sid == queue.sid
    updated = workspace.task_queues(queue.sid).update(friendly_name="Español", target_workers="level > 2",
                                                      max_reserved_workers=5, task_order="FIFO")
    assert (updated.friendly_name, updated.target_workers, updated.max_reserved_workers, updated.task_order) == \
        ("Español", "level > 2", 5, "FIFO")
    assert [q.friendly_name for q in workspace.task_queues.list()] == ["Sample Queue", "Español"]
    assert [q.sid for q in workspace.task_queues.list(friendly_name="Español")] == [queue.sid]
    assert workspace.task_queues(queue.sid).delete() is True
    assert rest_error(workspace.task_queues(queue.sid).fetch).status == 404


def test_task_queue_filters(workspace):
    spanish = workspace.task_queues.create(friendly_name="Spanish", target_workers="languages HAS 'es'")
    senior = workspace.task_queues.create(friendly_name="Senior", target_workers="level >= 3")
    sample = workspace.task_queues.list(friendly_name="Sample Queue")[0]

    def names(**filters):
        return [q.friendly_name for q in workspace.task_queues.list(**filters)]

    assert names(evaluate_worker_attributes=json.dumps({"languages": ["es"], "level": 1})) == \
        ["Sample Queue", "Spanish"]
    assert names(evaluate_worker_attributes=json.dumps({"languages": ["en"], "level": 5})) == \
        ["Sample Queue", "Senior"]
    bob = workspace.workers.create(friendly_name="Bob", attributes=json.dumps({"languages": ["es", "en"], "level": 4}))
    amy = workspace.workers.create(friendly_name="Amy", attributes=json.dumps({"languages": ["en"]}))
    assert names(worker_sid=bob.sid) == ["Sample Queue", "Spanish", "Senior"]
    assert names(worker_sid=amy.sid) == ["Sample Queue"]
    assert names(ordering="FriendlyName:desc") == ["Spanish", "Senior", "Sample Queue"]
    assert {spanish.sid, senior.sid, sample.sid} == {q.sid for q in workspace.task_queues.list()}


# --- workers ------------------------------------------------------------------------------------
def test_worker_crud(workspace):
    created = workspace.workers.create(friendly_name="Alice", attributes='{"b": 1, "a": [1, 2]}')
    assert created.attributes == '{"b":1,"a":[1,2]}'
    assert (created.activity_name, created.available) == ("Offline", False)
    assert created.activity_sid == workspace.instance.default_activity_sid
    available = workspace.activities.list(friendly_name="Available")[0]
    updated = workspace.workers(created.sid).update(activity_sid=available.sid, friendly_name="Alice B",
                                                    attributes='{"z":true,  "y": null}')
    assert (updated.friendly_name, updated.activity_name, updated.available) == ("Alice B", "Available", True)
    assert updated.attributes == '{"z":true,"y":null}'
    fetched = workspace.workers(created.sid).fetch()
    assert (fetched.friendly_name, fetched.activity_sid) == ("Alice B", available.sid)
    assert workspace.workers(created.sid).delete() is True
    assert rest_error(workspace.workers(created.sid).fetch).status == 404
    assert workspace.workers.list() == []


def test_worker_filters(workspace):
    available = workspace.activities.list(friendly_name="Available")[0]
    spanish = workspace.task_queues.create(friendly_name="Spanish", target_workers="languages HAS 'es'")
    workspace.workers.create(friendly_name="Ana", activity_sid=available.sid,
                             attributes=json.dumps({"languages": ["es"], "level": 2}))
    workspace.workers.create(friendly_name="Ben", attributes=json.dumps({"languages": ["en"], "level": 5}))
    workspace.workers.create(friendly_name="Cai", activity_sid=available.sid,
                             attributes=json.dumps({"languages": ["en", "es"], "level": 7}))

    def names(**filters):
        return [w.friendly_name for w in workspace.workers.list(**filters)]

    assert names() == ["Ana", "Ben", "Cai"]
    assert names(available="true") == ["Ana", "Cai"]
    assert names(available="false") == ["Ben"]
    assert names(activity_name="Offline") == ["Ben"]
    assert names(activity_sid=available.sid) == ["Ana", "Cai"]
    assert names(target_workers_expression="level > 3") == ["Ben", "Cai"]
    assert names(target_workers_expression="activity_name == 'Available' AND level > 3") == ["Cai"]
    assert names(task_queue_sid=spanish.sid) == ["Ana", "Cai"]
    assert names(task_queue_name="Spanish") == ["Ana", "Cai"]
    assert names(friendly_name="ben") == ["Ben"]
    assert names(ordering="FriendlyName:desc") == ["Cai", "Ben", "Ana"]


def test_worker_channels(emu, workspace):
    worker = workspace.workers.create(friendly_name="Chan")
    channels = workspace.workers(worker.sid).worker_channels.list()
    assert [c.task_channel_unique_name for c in channels] == ["default", "voice", "sms", "chat", "video"]
    assert all(c.configured_capacity == 1 and c.available is True and c.worker_sid == worker.sid for c in channels)
    voice = next(c for c in channels if c.task_channel_unique_name == "voice")
    assert workspace.workers(worker.sid).worker_channels(voice.sid).fetch().sid == voice.sid
    assert workspace.workers(worker.sid).worker_channels("voice").fetch().sid == voice.sid

    emu.clock.advance(5)
    updated = workspace.workers(worker.sid).worker_channels("voice").update(capacity=4)
    assert (updated.sid, updated.configured_capacity, updated.available_capacity_percentage) == (voice.sid, 4, 100)
    assert workspace.workers(worker.sid).worker_channels(voice.sid).fetch().configured_capacity == 4
    off = workspace.workers(worker.sid).worker_channels(voice.sid).update(available=False)
    assert off.available is False

    events = workspace.events.list(event_type="worker.capacity.update")
    assert len(events) == 1
    data = events[0].event_data
    assert events[0].resource_sid == worker.sid
    assert (data["worker_sid"], data["task_channel_unique_name"]) == (worker.sid, "voice")
    assert (data["worker_channel_previous_capacity"], data["worker_channel_available_capacity"]) == ("1", "100")
    assert [e.event_type for e in workspace.events.list(worker_sid=worker.sid)] == \
        ["worker.created", "worker.capacity.update", "worker.channel.availability.update"]


# --- workflows ----------------------------------------------------------------------------------
def test_workflow_crud(workspace):
    sample = workspace.task_queues.list()[0]
    vip = workspace.task_queues.create(friendly_name="VIP")
    config = {"task_routing": {"filters": [{"filter_friendly_name": "vip", "expression": "vip == true",
                                            "targets": [{"queue": vip.sid, "priority": 5}]}],
                               "default_filter": {"queue": sample.sid}}}
    created = workspace.workflows.create(friendly_name="Routing", configuration=json.dumps(config, indent=2),
                                         task_reservation_timeout=30,
                                         assignment_callback_url="https://example.com/assign")
    assert json.loads(created.configuration) == config
    assert created.configuration == json.dumps(config, separators=(",", ":"))
    assert (created.task_reservation_timeout, created.assignment_callback_url) == (30, "https://example.com/assign")
    assert created.fallback_assignment_callback_url is None
    updated = workspace.workflows(created.sid).update(friendly_name="Routing 2", task_reservation_timeout=60,
                                                      configuration=json.dumps(
                                                          {"task_routing": {"default_filter": {"queue": vip.sid}}}))
    assert (updated.friendly_name, updated.task_reservation_timeout) == ("Routing 2", 60)
    assert json.loads(updated.configuration)["task_routing"]["default_filter"]["queue"] == vip.sid
    assert workspace.workflows(created.sid).fetch().friendly_name == "Routing 2"
    assert [w.friendly_name for w in workspace.workflows.list()] == ["Default Fifo Workflow", "Routing 2"]
    assert [w.sid for w in workspace.workflows.list(friendly_name="Routing 2")] == [created.sid]
    assert workspace.workflows(created.sid).delete() is True
    assert rest_error(workspace.workflows(created.sid).fetch).status == 404


# --- tasks --------------------------------------------------------------------------------------
def test_task_create_fetch_update_and_etag(client, workspace):
    workflow = workspace.workflows.list()[0]
    task = workspace.tasks.create(attributes='{"type": "support", "a": {"b": 1}}', priority=7, timeout=600,
                                  task_channel="voice")
    assert task.attributes == '{"type":"support","a":{"b":1}}'
    assert (task.assignment_status, task.priority, task.timeout) == ("pending", 7, 600)
    assert (task.task_channel_unique_name, task.workflow_sid) == ("voice", workflow.sid)
    assert task.workflow_friendly_name == "Default Fifo Workflow"
    assert task.age == 0
    sample = workspace.task_queues.list()[0]
    assert (task.task_queue_sid, task.task_queue_friendly_name) == (sample.sid, "Sample Queue")

    first = workspace.tasks(task.sid).fetch_with_http_info()
    etag = first.headers["ETag"]
    updated = workspace.tasks(task.sid).update(priority=9, if_match=etag)
    assert updated.priority == 9
    second = workspace.tasks(task.sid).fetch_with_http_info()
    assert int(second.headers["ETag"]) == int(etag) + 1
    updated = workspace.tasks(task.sid).update(attributes='{"type":"sales"}')
    assert updated.attributes == '{"type":"sales"}'
    assert int(workspace.tasks(task.sid).fetch_with_http_info().headers["ETag"]) == int(etag) + 2

    error = rest_error(lambda: workspace.tasks(task.sid).update(priority=1, if_match=etag))
    assert error.status == 412
    assert workspace.tasks(task.sid).fetch().priority == 9


@pytest.mark.parametrize("status, template", [
    ("wrapping", errors.TASK_CANNOT_WRAP),
    ("completed", errors.TASK_CANNOT_COMPLETE),
])
def test_illegal_status_changes_from_pending(client, workspace, status, template):
    task = workspace.tasks.create(attributes="{}")
    error = rest_error(lambda: workspace.tasks(task.sid).update(assignment_status=status))
    expected = template.format(task_sid=task.sid, workspace_sid=workspace.instance.sid, account_sid=ACCOUNT_SID)
    assert (error.status, error.code) == (400, 20001)
    assert error.msg == "Unable to update record: " + expected
    assert last_body(client)["message"] == expected
    assert workspace.tasks(task.sid).fetch().assignment_status == "pending"


def test_task_cancel_and_deletion_after_five_minutes(emu, client, workspace):
    task = workspace.tasks.create(attributes="{}")
    canceled = workspace.tasks(task.sid).update(assignment_status="canceled", reason="no longer needed")
    assert (canceled.assignment_status, canceled.reason) == ("canceled", "no longer needed")
    error = rest_error(lambda: workspace.tasks(task.sid).update(assignment_status="canceled"))
    assert last_body(client)["message"] == errors.TASK_CANNOT_CANCEL.format(
        task_sid=task.sid, workspace_sid=workspace.instance.sid, account_sid=ACCOUNT_SID)
    assert error.status == 400
    emu.clock.advance(299)
    assert workspace.tasks(task.sid).fetch().assignment_status == "canceled"
    emu.clock.advance(2)
    assert rest_error(workspace.tasks(task.sid).fetch).status == 404
    assert task_event_types(workspace, task.sid) == ["task.created", "task.canceled"]


def test_task_ttl(emu, workspace):
    task = workspace.tasks.create(attributes="{}", timeout=60)
    emu.clock.advance(59)
    assert workspace.tasks(task.sid).fetch().assignment_status == "pending"
    emu.clock.advance(2)
    expired = workspace.tasks(task.sid).fetch()
    assert (expired.assignment_status, expired.reason) == ("canceled", "Task TTL Exceeded")
    assert expired.age == 61


def test_task_delete(workspace):
    task = workspace.tasks.create(attributes="{}")
    assert workspace.tasks(task.sid).delete() is True
    assert rest_error(workspace.tasks(task.sid).fetch).status == 404
    assert task_event_types(workspace, task.sid) == ["task.created", "task.deleted"]


def test_task_list_filters(emu, workspace):
    sids = []
    for priority, attributes in ((1, {"lang": "en"}), (5, {"lang": "es"}), (3, {"lang": "en"}), (5, {"lang": "fr"})):
        sids.append(workspace.tasks.create(attributes=json.dumps(attributes), priority=priority).sid)
        emu.clock.advance(1)
    workspace.tasks(sids[2]).update(assignment_status="canceled")

    def listed(**filters):
        return [sids.index(t.sid) for t in workspace.tasks.list(**filters)]

    assert listed() == [0, 1, 2, 3]
    assert listed(assignment_status=["pending"]) == [0, 1, 3]
    assert listed(assignment_status=["canceled"]) == [2]
    assert listed(assignment_status=["pending", "canceled"]) == [0, 1, 2, 3]
    assert listed(priority=5) == [1, 3]
    assert listed(ordering="Priority:desc") == [1, 3, 2, 0]
    assert listed(ordering="Priority:asc,DateCreated:desc") == [0, 2, 3, 1]
    assert listed(evaluate_task_attributes="lang == 'en'") == [0, 2]
    assert listed(evaluate_task_attributes="lang IN ['es', 'fr']") == [1, 3]
    assert listed(workflow_name="Default Fifo Workflow") == [0, 1, 2, 3]
    assert listed(workflow_name="Nope") == []


# --- reservations -------------------------------------------------------------------------------
def test_reservations_list_empty_and_unknown_is_404(workspace):
    task = workspace.tasks.create(attributes="{}")
    worker = workspace.workers.create(friendly_name="R")
    assert workspace.tasks(task.sid).reservations.list() == []
    assert workspace.workers(worker.sid).reservations.list() == []
    assert workspace.tasks(task.sid).reservations.list(reservation_status="pending") == []
    unknown = UNKNOWN["WR"]
    for call in (workspace.tasks(task.sid).reservations(unknown).fetch,
                 lambda: workspace.tasks(task.sid).reservations(unknown).update(reservation_status="accepted"),
                 workspace.workers(worker.sid).reservations(unknown).fetch,
                 lambda: workspace.workers(worker.sid).reservations(unknown).update(reservation_status="accepted")):
        error = rest_error(call)
        assert (error.status, error.code) == (404, 20404)
    assert list_error_status(workspace.tasks(UNKNOWN["WT"]).reservations.list) == 404
    assert list_error_status(workspace.workers(UNKNOWN["WK"]).reservations.list) == 404


def test_reservation_fetch_and_update_from_task_and_worker(workspace):
    available = workspace.activities.list(friendly_name="Available")[0]
    worker = workspace.workers.create(friendly_name="Rae", activity_sid=available.sid)
    task = workspace.tasks.create(attributes="{}")
    assert workspace.tasks(task.sid).fetch().assignment_status == "reserved"
    [reservation] = workspace.tasks(task.sid).reservations.list()
    assert (reservation.reservation_status, reservation.worker_sid, reservation.worker_name) == \
        ("pending", worker.sid, "Rae")
    assert [r.sid for r in workspace.workers(worker.sid).reservations.list(reservation_status="pending")] == \
        [reservation.sid]
    assert workspace.tasks(task.sid).reservations.list(reservation_status="accepted") == []
    assert workspace.workers(worker.sid).reservations(reservation.sid).fetch().task_sid == task.sid
    assert workspace.tasks(task.sid).reservations(reservation.sid).fetch().worker_sid == worker.sid

    accepted = workspace.workers(worker.sid).reservations(reservation.sid).update(reservation_status="accepted")
    assert accepted.reservation_status == "accepted"
    assert workspace.tasks(task.sid).fetch().assignment_status == "assigned"
    wrapped = workspace.tasks(task.sid).reservations(reservation.sid).update(reservation_status="wrapping")
    assert wrapped.reservation_status == "wrapping"
    assert workspace.tasks(task.sid).fetch().assignment_status == "wrapping"
    completed = workspace.tasks(task.sid).update(assignment_status="completed", reason="done")
    assert (completed.assignment_status, completed.reason) == ("completed", "done")
    assert workspace.tasks(task.sid).reservations(reservation.sid).fetch().reservation_status == "completed"
    assert task_event_types(workspace, task.sid)[-2:] == ["task.wrapup", "task.completed"]


# --- events -------------------------------------------------------------------------------------
def test_events_list_filters_and_fetch(emu, workspace):
    worker = workspace.workers.create(friendly_name="Eve")
    task = workspace.tasks.create(attributes="{}")
    emu.clock.advance(1200)
    other = workspace.tasks.create(attributes="{}")
    # without StartDate the window is the last 15 minutes
    assert [e.resource_sid for e in workspace.events.list(event_type="task.created")] == [other.sid]
    assert all(e.event_date == other.date_created for e in workspace.events.list())
    types = [e.event_type for e in workspace.events.list(minutes=30)]
    assert types[:5] == ["workspace.created", "task-queue.created", "workflow.created", "worker.created",
                         "task.created"]
    assert types.count("task.created") == 2
    assert [e.resource_sid for e in workspace.events.list(event_type="task.created", minutes=60)] == \
        [task.sid, other.sid]
    by_task = workspace.events.list(task_sid=task.sid, minutes=60)
    assert by_task[0].event_type == "task.created"
    assert all(e.event_data.get("task_sid") == task.sid for e in by_task)
    assert other.sid not in {e.resource_sid for e in by_task}
    by_worker = workspace.events.list(worker_sid=worker.sid, minutes=60)
    assert [(e.event_type, e.resource_type) for e in by_worker] == [("worker.created", "worker")]
    assert workspace.events.list(event_type="task.canceled", minutes=60) == []
    event = workspace.events(by_task[0].sid).fetch()
    assert (event.sid, event.event_type, event.resource_sid) == (by_task[0].sid, "task.created", task.sid)
    assert event.event_data["task_sid"] == task.sid
    assert event.event_date_ms == 1767225600000
    assert rest_error(workspace.events(UNKNOWN["EV"]).fetch).status == 404


def test_url_building_still_works_on_lazily_compiled_rules(emu):
    """The app compiles each rule's URL builder on first use (a fresh app is cheap); building works."""
    from flask import url_for

    with emu.app.test_request_context():
        assert url_for("FetchWorker", WorkspaceSid="WS" + "1" * 32, Sid="WK" + "2" * 32) == \
            f"/v1/Workspaces/WS{'1' * 32}/Workers/WK{'2' * 32}"
        assert url_for("ListWorker", WorkspaceSid="WS" + "1" * 32, PageSize=5).endswith("/Workers?PageSize=5")


# --- keep last: every served operation was driven by the tests above ---------------------------
def test_every_served_operation_was_driven():
    others = {name for name, value in globals().items()
              if name.startswith("test_") and callable(value) and name != "test_every_served_operation_was_driven"}
    if not others <= RAN:
        pytest.skip("only meaningful when the whole module runs")
    assert served_operations() - DRIVEN == set()

