"""A contact-centre setup, as applications do it (the sequence of a recorded real session:
workspace, list by name, activities, worker, queue, workflow), checking what both targets return."""

from __future__ import annotations

import json
import uuid

import pytest
from twilio.base.exceptions import TwilioRestException


def test_new_workspace_defaults(run_workspace, target):
    ws, instance = run_workspace
    assert instance.multi_task_enabled is True
    assert instance.prioritize_queue_order == "FIFO"
    assert instance.default_activity_name == "Offline" and instance.timeout_activity_name == "Offline"
    assert instance.default_activity_sid == instance.timeout_activity_sid
    names = {a.friendly_name: a.available for a in ws.activities.list()}
    assert {"Offline": False, "Available": True, "Unavailable": False}.items() <= names.items()
    channels = {c.unique_name for c in ws.task_channels.list()}
    assert {"default", "voice", "sms", "chat", "video"} <= channels
    listed = target.client.taskrouter.v1.workspaces.list(friendly_name=instance.friendly_name)
    assert [w.sid for w in listed] == [instance.sid]


def test_worker_queue_and_workflow(run_workspace):
    ws, _ = run_workspace
    suffix = uuid.uuid4().hex[:8]
    worker = ws.workers.create(friendly_name=f"alice-{suffix}",
                               attributes=json.dumps({"products": ["ProgrammableSMS"], "contact_uri": "+15555550100"}))
    try:
        # attributes come back compact, key order kept
        assert worker.attributes == '{"products":["ProgrammableSMS"],"contact_uri":"+15555550100"}'
        assert worker.activity_name == "Offline" and worker.available is False
        queue = ws.task_queues.create(friendly_name=f"sms-{suffix}", target_workers="products HAS 'ProgrammableSMS'")
        try:
            assert queue.reservation_activity_sid is None and queue.max_reserved_workers == 1
            assert queue.task_order == "FIFO" and queue.target_workers == "products HAS 'ProgrammableSMS'"
            assert worker.sid in {w.sid for w in ws.workers.list(task_queue_sid=queue.sid)}
            config = {"task_routing": {"filters": [{"expression": "type == 'sms'",
                                                    "targets": [{"queue": queue.sid}]}],
                                       "default_filter": {"queue": queue.sid}}}
            workflow = ws.workflows.create(friendly_name=f"wf-{suffix}", configuration=json.dumps(config),
                                           task_reservation_timeout=15)
            try:
                assert json.loads(workflow.configuration) == config
                assert workflow.task_reservation_timeout == 15
            finally:
                ws.workflows(workflow.sid).delete()
            with pytest.raises(TwilioRestException) as duplicate:
                ws.task_queues.create(friendly_name=f"sms-{suffix}")
            assert duplicate.value.status == 400
        finally:
            ws.task_queues(queue.sid).delete()
    finally:
        ws.workers(worker.sid).delete()


def test_task_cancel_and_illegal_transitions(run_workspace):
    ws, _ = run_workspace
    workflow_sid = next(w.sid for w in ws.workflows.list() if w.friendly_name == "Default Fifo Workflow")
    task = ws.tasks.create(attributes=json.dumps({"type": "contract"}), workflow_sid=workflow_sid)
    try:
        assert task.assignment_status in ("pending", "reserved")
        with pytest.raises(TwilioRestException) as wrap:
            ws.tasks(task.sid).update(assignment_status="wrapping")
        assert wrap.value.status == 400
        canceled = ws.tasks(task.sid).update(assignment_status="canceled", reason="contract test")
        assert canceled.assignment_status == "canceled" and canceled.reason == "contract test"
        with pytest.raises(TwilioRestException) as again:
            ws.tasks(task.sid).update(assignment_status="canceled")
        assert again.value.status == 400
    finally:
        ws.tasks(task.sid).delete()
    with pytest.raises(TwilioRestException) as gone:
        ws.tasks(task.sid).fetch()
    assert gone.value.status == 404
