"""Task queues and their membership, workers and their channels, workflows."""

from __future__ import annotations

import json
import uuid

import pytest
from twilio.base.exceptions import TwilioRestException

from .conftest import activity_sid


def test_queue_defaults_and_membership_follow_target_workers(taskrouter_workspace, taskrouter_target):
    ws = taskrouter_workspace
    skill = "q" + uuid.uuid4().hex[:8]
    worker = ws.workers.create(friendly_name=f"w-{skill}",
                               attributes=json.dumps({"skills": [skill], "contact_uri": "+15555550100"}))
    # attributes come back compact, key order kept
    assert worker.attributes == f'{{"skills":["{skill}"],"contact_uri":"+15555550100"}}'
    assert worker.activity_name == "Offline" and worker.available is False
    queue = ws.task_queues.create(friendly_name=f"queue-{skill}", target_workers=f"skills HAS '{skill}'")
    assert queue.reservation_activity_sid is None and queue.reservation_activity_name is None
    assert queue.max_reserved_workers == 1 and queue.task_order == "FIFO"
    assert queue.target_workers == f"skills HAS '{skill}'"

    def members():
        return {w.sid for w in ws.workers.list(task_queue_sid=queue.sid)}

    taskrouter_target.wait_for(members, lambda found: found == {worker.sid}, within=30, what="queue membership")
    ws.task_queues(queue.sid).update(target_workers="skills HAS 'nobody-has-this'")
    taskrouter_target.wait_for(members, lambda found: found == set(), within=30, what="membership emptied")
    updated = ws.task_queues(queue.sid).update(max_reserved_workers=3, task_order="LIFO")
    assert (updated.max_reserved_workers, updated.task_order) == (3, "LIFO")
    assert ws.task_queues.list(friendly_name=f"queue-{skill}")[0].sid == queue.sid
    with pytest.raises(TwilioRestException) as duplicate:
        ws.task_queues.create(friendly_name=f"queue-{skill}")
    assert duplicate.value.status == 400


def test_workers_change_activity_and_have_one_channel_per_task_channel(taskrouter_workspace):
    ws = taskrouter_workspace
    worker = ws.workers.create(friendly_name="w-" + uuid.uuid4().hex[:8])
    available = ws.workers(worker.sid).update(activity_sid=activity_sid(ws, "Available"))
    assert (available.activity_name, available.available) == ("Available", True)
    assert worker.sid in {w.sid for w in ws.workers.list(available="true")}
    channels = ws.workers(worker.sid).worker_channels.list()
    assert {c.task_channel_unique_name for c in channels} == {c.unique_name for c in ws.task_channels.list()}
    chat = next(c for c in channels if c.task_channel_unique_name == "chat")
    updated = ws.workers(worker.sid).worker_channels(chat.sid).update(capacity=3)
    assert updated.configured_capacity == 3 and updated.assigned_tasks == 0
    off = ws.workers(worker.sid).worker_channels(chat.sid).update(available=False)
    assert off.available is False
    assert ws.workers(worker.sid).worker_channels(chat.sid).fetch().configured_capacity == 3
    renamed = ws.workers(worker.sid).update(friendly_name="renamed-" + worker.sid[-6:],
                                            attributes=json.dumps({"languages": ["en"]}))
    assert json.loads(renamed.attributes) == {"languages": ["en"]}
    ws.workers(worker.sid).delete()
    with pytest.raises(TwilioRestException) as gone:
        ws.workers(worker.sid).fetch()
    assert gone.value.status == 404


def test_workflows_keep_their_configuration(taskrouter_workspace):
    ws = taskrouter_workspace
    queue = ws.task_queues.create(friendly_name="wf-" + uuid.uuid4().hex[:8], target_workers="1==1")
    config = {"task_routing": {"filters": [{"filter_friendly_name": "urgent", "expression": "urgent == true",
                                            "targets": [{"queue": queue.sid, "priority": 10}]}],
                               "default_filter": {"queue": queue.sid}}}
    workflow = ws.workflows.create(friendly_name="wf-" + queue.sid[-8:], configuration=json.dumps(config),
                                   task_reservation_timeout=15)
    assert json.loads(workflow.configuration) == config
    assert workflow.task_reservation_timeout == 15 and workflow.document_content_type is None
    assert workflow.assignment_callback_url is None
    updated = ws.workflows(workflow.sid).update(task_reservation_timeout=30,
                                                assignment_callback_url="https://example.com/assign")
    assert (updated.task_reservation_timeout, updated.assignment_callback_url) == (30, "https://example.com/assign")
    with pytest.raises(TwilioRestException) as bad:
        ws.workflows(workflow.sid).update(configuration="not json")
    assert bad.value.status == 400
    assert json.loads(ws.workflows(workflow.sid).fetch().configuration) == config  # nothing changed
    ws.workflows(workflow.sid).delete()
    assert workflow.sid not in {w.sid for w in ws.workflows.list()}
