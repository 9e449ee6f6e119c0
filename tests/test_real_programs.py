"""What real TaskRouter programs send and rely on, through the real twilio client: requests they
make that the real service accepts, workflow timing as Twilio documents it, and workers offered
work again as the real service does."""

from __future__ import annotations

import json

import pytest
from twilio.base.exceptions import TwilioRestException

CALL_SID = "CA" + "1" * 32


def rejected(call, *args, status=400, code=20001, mentions=None, **kwargs) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as caught:
        call(*args, **kwargs)
    error = caught.value
    assert (error.status, error.code) == (status, code), error.msg
    if mentions:
        assert mentions in error.msg, error.msg
    return error


def activities(ws) -> dict[str, str]:
    return {a.friendly_name: a.sid for a in ws.activities.list()}


def only_pending(ws, task_sid: str):
    pending = [r for r in ws.tasks(task_sid).reservations.list() if r.reservation_status == "pending"]
    assert len(pending) == 1, [(r.worker_name, r.reservation_status) for r in pending]
    return pending[0]


# --- what real programs send ---------------------------------------------------------------------
def test_template_empty_creates_no_activities_and_the_program_makes_its_own(client):
    """A real setup script creates its workspace with ``Template=EMPTY``, then creates ``Offline`` and
    makes it the default and timeout activity."""
    ws = client.taskrouter.v1.workspaces.create(friendly_name="Bare", template="EMPTY")
    context = client.taskrouter.v1.workspaces(ws.sid)
    assert context.activities.list() == []
    assert (ws.default_activity_sid, ws.timeout_activity_sid) == (None, None)
    assert context.task_queues.list() == [] and context.workflows.list() == []
    offline = context.activities.create(friendly_name="Offline", available=False)
    ws = context.update(default_activity_sid=offline.sid, timeout_activity_sid=offline.sid)
    assert (ws.default_activity_name, ws.timeout_activity_name) == ("Offline", "Offline")
    assert context.workers.create(friendly_name="alice").activity_name == "Offline"
    rejected(client.taskrouter.v1.workspaces.create, friendly_name="Odd", template="BOGUS", mentions="Template")


def test_a_task_channel_unique_name_with_a_hyphen_is_accepted(workspace):
    channel = workspace.task_channels.create(friendly_name="Email", unique_name="email-channel")
    assert workspace.task_channels("email-channel").fetch().sid == channel.sid
    task = workspace.tasks.create(attributes="{}", task_channel="email-channel")
    assert task.task_channel_unique_name == "email-channel"


def voice_desk(workspace, *, contact_uri: str | None = "client:alice", call_sid: str | None = CALL_SID):
    """A worker and a task waiting for her, as an ``<Enqueue>`` call leaves it."""
    attributes = {"contact_uri": contact_uri} if contact_uri else {}
    worker = workspace.workers.create(friendly_name="alice", activity_sid=activities(workspace)["Available"],
                                      attributes=json.dumps(attributes))
    task = workspace.tasks.create(attributes=json.dumps({"call_sid": call_sid} if call_sid else {}),
                                  task_channel="voice")
    return worker, task, only_pending(workspace, task.sid)


def test_dequeue_without_from_uses_the_worker_contact_uri_and_accepts(workspace):
    _, task, reservation = voice_desk(workspace)
    updated = workspace.tasks(task.sid).reservations(reservation.sid).update(instruction="dequeue")
    assert updated.reservation_status == "accepted"
    task = workspace.tasks(task.sid).fetch()
    assert task.assignment_status == "assigned"
    # the call to the worker is placed: its SID is added to the task's attributes
    # (https://www.twilio.com/docs/taskrouter/handle-assignment-callbacks, dequeue)
    attributes = json.loads(task.attributes)
    assert attributes["call_sid"] == CALL_SID and attributes["worker_call_sid"].startswith("CA")


@pytest.mark.parametrize("contact_uri, call_sid, dequeue_to, code", [
    pytest.param("client:alice", None, None, 40140, id="task-without-call-sid"),
    pytest.param(None, CALL_SID, None, 40131, id="no-destination"),
])
def test_dequeue_errors_are_the_documented_ones(workspace, contact_uri, call_sid, dequeue_to, code):
    _, task, reservation = voice_desk(workspace, contact_uri=contact_uri, call_sid=call_sid)
    context = workspace.tasks(task.sid).reservations(reservation.sid)
    rejected(context.update, instruction="dequeue", code=code)
    assert context.fetch().reservation_status == "pending"
    assert workspace.tasks(task.sid).fetch().assignment_status == "reserved"


def test_dequeue_with_a_destination_needs_no_contact_uri(workspace):
    _, task, reservation = voice_desk(workspace, contact_uri=None)
    context = workspace.tasks(task.sid).reservations(reservation.sid)
    assert context.update(instruction="dequeue", dequeue_to="+15005550006").reservation_status == "accepted"


def test_dequeue_answered_by_the_assignment_callback(emu, workspace):
    emu.webhooks.on_assignment(lambda record: {"instruction": "dequeue"})
    workflow = workspace.workflows.list()[0]
    workspace.workflows(workflow.sid).update(assignment_callback_url="https://app.example.com/assignment")
    workspace.workers.create(friendly_name="alice", activity_sid=activities(workspace)["Available"],
                             attributes=json.dumps({"contact_uri": "client:alice"}))
    task = workspace.tasks.create(attributes=json.dumps({"call_sid": CALL_SID}), task_channel="voice")
    (reservation,) = workspace.tasks(task.sid).reservations.list()
    assert reservation.reservation_status == "accepted"
    assert "worker_call_sid" in json.loads(workspace.tasks(task.sid).fetch().attributes)


def accepted_call(workspace):
    worker, task, reservation = voice_desk(workspace)
    context = workspace.tasks(task.sid).reservations(reservation.sid)
    context.update(reservation_status="accepted")
    return worker, task, context


def test_supervise_instruction_with_its_parameters(workspace):
    _, task, context = accepted_call(workspace)
    supervisor = workspace.workers.create(friendly_name="sam", attributes=json.dumps({"contact_uri": "client:sam"}))
    # the spec's own example: Instruction=supervise, SupervisorMode=monitor, Supervisor=WK...
    updated = context.update(instruction="supervise", supervisor_mode="monitor", supervisor=supervisor.sid)
    assert updated.reservation_status == "accepted"
    assert workspace.tasks(task.sid).fetch().assignment_status == "assigned"


def test_supervise_errors(workspace):
    _, task, reservation = voice_desk(workspace)
    pending = workspace.tasks(task.sid).reservations(reservation.sid)
    nobody = workspace.workers.create(friendly_name="nobody")
    # the reservation must have been accepted (error 40146)
    rejected(pending.update, instruction="supervise", supervisor="client:sam", code=40146)
    pending.update(reservation_status="accepted")
    # a supervising worker needs a contact_uri (error 40147)
    rejected(pending.update, instruction="supervise", supervisor=nobody.sid, code=40147)
    rejected(pending.update, instruction="supervise", code=20001, mentions="Supervisor")
    rejected(pending.update, instruction="supervise", supervisor="client:sam", supervisor_mode="shout",
             mentions="SupervisorMode")
    assert pending.update(instruction="supervise", supervisor="client:sam", supervisor_mode="barge") \
        .reservation_status == "accepted"


def test_if_match_on_reservation_updates(client, workspace):
    answers = []
    client.http_client.session.hooks["response"].append(lambda r, *a, **k: answers.append(r))
    _, task, reservation = voice_desk(workspace)
    context = workspace.tasks(task.sid).reservations(reservation.sid)
    context.fetch()
    etag = answers[-1].headers["ETag"]
    rejected(context.update, reservation_status="accepted", if_match=str(int(etag) + 1), status=412, code=20412)
    assert context.fetch().reservation_status == "pending"
    assert context.update(reservation_status="accepted", if_match=etag).reservation_status == "accepted"
    assert int(answers[-1].headers["ETag"]) > int(etag)
    worker_context = workspace.workers(reservation.worker_sid).reservations(reservation.sid)
    rejected(worker_context.update, reservation_status="wrapping", if_match=etag, status=412, code=20412)


# --- workflow timing (https://www.twilio.com/docs/taskrouter/task-evaluation) --------------------------
def test_the_task_evaluation_worked_example_step_by_step(emu, workspace):
    """Three queues with 10 s target timeouts, a 5 s reservation timeout. Task A is created; at
    t=3 a reservation is created against Q1; at t=8 it times out and Task A re-evaluates and maps
    to Q2, whose deadline is the sum of the Q1 and Q2 timeouts (20), on the task's age: 12 s later."""
    names = activities(workspace)
    queues = [workspace.task_queues.create(friendly_name=f"Q{i}", target_workers="1==1").sid for i in (1, 2, 3)]
    config = {"task_routing": {"filters": [{"expression": "1==1", "targets": [
        {"queue": queues[0], "timeout": 10}, {"queue": queues[1], "timeout": 10},
        {"queue": queues[2], "timeout": 10}]}]}}
    workflow = workspace.workflows.create(friendly_name="Timeouts", configuration=json.dumps(config),
                                          task_reservation_timeout=5).sid
    worker = workspace.workers.create(friendly_name="agent", activity_sid=names["Offline"])

    def queue_of(task_sid):
        return workspace.tasks(task_sid).fetch().task_queue_sid

    # 1. Task A is created against the Workflow (no worker is available yet)
    task = workspace.tasks.create(attributes="{}", workflow_sid=workflow)
    assert (task.assignment_status, task.task_queue_sid) == ("pending", queues[0])
    # 2. at t=3 a reservation is created for Task A against Q1
    emu.clock.advance(3)
    workspace.workers(worker.sid).update(activity_sid=names["Available"])
    reservation = only_pending(workspace, task.sid)
    assert queue_of(task.sid) == queues[0]
    # 3. at t=8 the reservation times out
    emu.clock.advance(4.999)
    assert workspace.tasks(task.sid).reservations(reservation.sid).fetch().reservation_status == "pending"
    emu.clock.advance(0.001)
    assert workspace.tasks(task.sid).reservations(reservation.sid).fetch().reservation_status == "timeout"
    # 4. Task A re-evaluates and maps to Q2 at once
    assert queue_of(task.sid) == queues[1]
    assert workspace.tasks(task.sid).fetch().assignment_status == "pending"
    moved = list(workspace.events.list(task_sid=task.sid, event_type="task-queue.moved"))
    assert len(moved) == 1
    # the Q2 deadline is at age 20 (10 + 10), i.e. 12 s after t=8, not 10 s after entering Q2
    emu.clock.advance(11.999)
    assert queue_of(task.sid) == queues[1]
    emu.clock.advance(0.001)
    assert queue_of(task.sid) == queues[2]
    # and Q3's at age 30, after which the task falls out of the workflow and is canceled
    emu.clock.advance(9.999)
    assert workspace.tasks(task.sid).fetch().assignment_status == "pending"
    emu.clock.advance(0.001)
    assert workspace.tasks(task.sid).fetch().assignment_status == "canceled"
    types = [e.event_type for e in workspace.events.list(task_sid=task.sid)]
    assert types.count("task-queue.entered") == 3 and types[-3:] == ["task-queue.timeout", "workflow.timeout",
                                                                      "task.canceled"]


def test_target_deadlines_count_on_the_task_age(emu, workspace):
    """With no worker at all, each target's deadline is the sum of the timeouts so far."""
    queues = [workspace.task_queues.create(friendly_name=f"S{i}", target_workers="1==1").sid for i in (1, 2)]
    config = {"task_routing": {"filters": [{"expression": "1==1", "targets": [
        {"queue": queues[0], "timeout": 30}, {"queue": queues[1], "timeout": 40}]}]}}
    workflow = workspace.workflows.create(friendly_name="Sum", configuration=json.dumps(config)).sid
    task = workspace.tasks.create(attributes="{}", workflow_sid=workflow)
    emu.clock.advance(30)
    assert workspace.tasks(task.sid).fetch().task_queue_sid == queues[1]
    emu.clock.advance(39)
    assert workspace.tasks(task.sid).fetch().assignment_status == "pending"
    emu.clock.advance(1)
    assert workspace.tasks(task.sid).fetch().assignment_status == "canceled"


# --- workers offered work again -------------------------------------------------------------------------
def test_a_worker_who_rejects_and_stays_available_is_offered_the_same_task_again(workspace):
    names = activities(workspace)
    worker = workspace.workers.create(friendly_name="solo", activity_sid=names["Available"])
    task = workspace.tasks.create(attributes="{}")
    first = only_pending(workspace, task.sid)
    workspace.tasks(task.sid).reservations(first.sid).update(reservation_status="rejected")
    second = only_pending(workspace, task.sid)
    assert second.sid != first.sid and second.worker_sid == worker.sid
    # rejecting with an unavailable WorkerActivitySid ends the loop, as the docs advise
    workspace.tasks(task.sid).reservations(second.sid).update(reservation_status="rejected",
                                                              worker_activity_sid=names["Offline"])
    assert [r.reservation_status for r in workspace.tasks(task.sid).reservations.list()].count("pending") == 0
    assert workspace.tasks(task.sid).fetch().assignment_status == "pending"


@pytest.fixture
def single_tasking(workspace):
    """A single-tasking workspace whose queue moves reserved workers to ``Reserved``."""
    workspace.update(multi_task_enabled=False)
    names = activities(workspace)
    names["Reserved"] = workspace.activities.create(friendly_name="Reserved", available=False).sid
    names["Busy"] = workspace.activities.create(friendly_name="Busy", available=False).sid
    queue = workspace.task_queues.list()[0].sid
    workspace.task_queues(queue).update(reservation_activity_sid=names["Reserved"],
                                        assignment_activity_sid=names["Busy"])
    workspace.names = names
    workspace.queue = queue
    return workspace


def activity_of(ws, worker_sid: str) -> str:
    return ws.workers(worker_sid).fetch().activity_name


def test_single_tasking_reject_returns_the_worker_to_her_previous_activity(emu, single_tasking):
    ws = single_tasking
    worker = ws.workers.create(friendly_name="ann", activity_sid=ws.names["Available"])
    task = ws.tasks.create(attributes="{}")
    first = only_pending(ws, task.sid)
    assert activity_of(ws, worker.sid) == "Reserved"
    ws.tasks(task.sid).reservations(first.sid).update(reservation_status="rejected")
    # back to Available (WorkerPreviousActivitySid), so she is offered the task again at once
    moves = [(r.params["WorkerPreviousActivitySid"], r.params["WorkerActivitySid"])
             for r in emu.webhooks.inbox.records(kind="event") if r.event_type == "worker.activity.update"] or [
        (e.event_data["worker_previous_activity_sid"], e.event_data["worker_activity_sid"])
        for e in reversed(ws.events.list(event_type="worker.activity.update", worker_sid=worker.sid))]
    assert moves[:2] == [(ws.names["Available"], ws.names["Reserved"]), (ws.names["Reserved"], ws.names["Available"])]
    second = only_pending(ws, task.sid)
    assert second.worker_sid == worker.sid and activity_of(ws, worker.sid) == "Reserved"


def test_single_tasking_cancel_while_reserved_frees_the_worker_for_the_next_task(single_tasking):
    ws = single_tasking
    worker = ws.workers.create(friendly_name="ann", activity_sid=ws.names["Available"])
    first = ws.tasks.create(attributes="{}")
    only_pending(ws, first.sid)
    second = ws.tasks.create(attributes="{}")
    assert ws.tasks(second.sid).fetch().assignment_status == "pending"
    ws.tasks(first.sid).update(assignment_status="canceled", reason="caller hung up")
    assert only_pending(ws, second.sid).worker_sid == worker.sid
    assert activity_of(ws, worker.sid) == "Reserved"


def test_single_tasking_rescind_returns_the_other_worker(single_tasking):
    ws = single_tasking
    ws.task_queues(ws.queue).update(max_reserved_workers=2)
    ann = ws.workers.create(friendly_name="ann", activity_sid=ws.names["Available"])
    bob = ws.workers.create(friendly_name="bob", activity_sid=ws.names["Available"])
    task = ws.tasks.create(attributes="{}")
    offers = {r.worker_sid: r for r in ws.tasks(task.sid).reservations.list()}
    assert set(offers) == {ann.sid, bob.sid}
    ws.tasks(task.sid).reservations(offers[ann.sid].sid).update(reservation_status="accepted")
    assert ws.tasks(task.sid).reservations(offers[bob.sid].sid).fetch().reservation_status == "rescinded"
    assert (activity_of(ws, ann.sid), activity_of(ws, bob.sid)) == ("Busy", "Available")


def test_single_tasking_timeout_without_a_timeout_activity_returns_the_worker(emu, client):
    ws = client.taskrouter.v1.workspaces.create(friendly_name="Bare", template="EMPTY", multi_task_enabled=False)
    ctx = client.taskrouter.v1.workspaces(ws.sid)
    available = ctx.activities.create(friendly_name="Available", available=True).sid
    reserved = ctx.activities.create(friendly_name="Reserved", available=False).sid
    queue = ctx.task_queues.create(friendly_name="Q", target_workers="1==1", reservation_activity_sid=reserved).sid
    workflow = ctx.workflows.create(friendly_name="W", task_reservation_timeout=30, configuration=json.dumps(
        {"task_routing": {"default_filter": {"queue": queue}}})).sid
    worker = ctx.workers.create(friendly_name="ann", activity_sid=available)
    task = ctx.tasks.create(attributes="{}", workflow_sid=workflow)
    first = only_pending(ctx, task.sid)
    emu.clock.advance(30)
    assert ctx.tasks(task.sid).reservations(first.sid).fetch().reservation_status == "timeout"
    # no timeout activity: back to Available, and offered the task again
    second = only_pending(ctx, task.sid)
    assert second.worker_sid == worker.sid and second.sid != first.sid


def test_reservation_versions_and_instructions_survive_a_snapshot(emu, workspace):
    from emulator import snapshot

    _, task, context = accepted_call(workspace)
    context.update(instruction="supervise", supervisor="client:sam", supervisor_mode="whisper")
    ws = emu.backend.get_workspace(emu.client().username, workspace.instance.sid)
    before = ws.reservations[context.fetch().sid]
    kept = (before.version, list(before.instructions))
    assert kept[0] == 1 and [i["instruction"] for i in kept[1]] == ["supervise"]
    snapshot.restore(emu.backend, snapshot.take(emu.backend, emu.webhooks), emu.webhooks)
    after = emu.backend.get_workspace(emu.client().username, workspace.instance.sid).reservations[before.sid]
    assert (after.version, list(after.instructions)) == kept
