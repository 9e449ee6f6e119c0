"""Workspaces: defaults, templates, lookup by name; activities and task channels."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException

from .conftest import raw


def test_a_workspace_starts_with_the_default_activities_and_channels(taskrouter_workspace, taskrouter_target):
    ws, instance = taskrouter_workspace, taskrouter_workspace.instance
    assert instance.multi_task_enabled is True and instance.prioritize_queue_order == "FIFO"
    assert instance.default_activity_name == "Offline" == instance.timeout_activity_name
    assert instance.default_activity_sid == instance.timeout_activity_sid
    assert [(a.friendly_name, a.available) for a in ws.activities.list()][:3] == [
        ("Offline", False), ("Available", True), ("Unavailable", False)]
    assert {"default", "voice", "sms", "chat", "video"} <= {c.unique_name for c in ws.task_channels.list()}
    listed = taskrouter_target.client.taskrouter.v1.workspaces.list(friendly_name=instance.friendly_name)
    assert [w.sid for w in listed] == [instance.sid]
    status, body = raw(taskrouter_target, instance.url)
    assert status == 200 and set(body["links"]) >= {
        "activities", "task_queues", "tasks", "workers", "workflows", "task_channels", "events", "statistics",
        "real_time_statistics", "cumulative_statistics"}


@pytest.mark.parametrize("template, queues, workflows", [
    (None, [], []),
    ("FIFO", ["Sample Queue"], ["Default Fifo Workflow"]),
])
def test_templates(taskrouter_target, template, queues, workflows):
    ws, _ = taskrouter_target.create_workspace(template=template)
    assert [q.friendly_name for q in ws.task_queues.list()] == queues
    assert [w.friendly_name for w in ws.workflows.list()] == workflows
    updated = ws.update(prioritize_queue_order="LIFO", multi_task_enabled=False)
    assert updated.prioritize_queue_order == "LIFO" and updated.multi_task_enabled is False


def test_activities_are_created_updated_and_deleted(taskrouter_workspace):
    ws = taskrouter_workspace
    lunch = ws.activities.create(friendly_name="Lunch", available=False)
    assert (lunch.friendly_name, lunch.available) == ("Lunch", False)
    assert ws.activities(lunch.sid).update(friendly_name="Long lunch").friendly_name == "Long lunch"
    assert [a.sid for a in ws.activities.list(friendly_name="Long lunch")] == [lunch.sid]
    assert [a.friendly_name for a in ws.activities.list(available="true")] == ["Available"]
    ws.activities(lunch.sid).delete()
    with pytest.raises(TwilioRestException) as gone:
        ws.activities(lunch.sid).fetch()
    assert gone.value.status == 404


def test_task_channels_are_created_updated_and_deleted(taskrouter_workspace):
    ws = taskrouter_workspace
    email = ws.task_channels.create(friendly_name="Email", unique_name="email_contract")
    assert (email.friendly_name, email.unique_name) == ("Email", "email_contract")
    assert ws.task_channels(email.sid).update(friendly_name="E-mail").friendly_name == "E-mail"
    assert ws.task_channels(email.sid).fetch().unique_name == "email_contract"
    with pytest.raises(TwilioRestException) as duplicate:
        ws.task_channels.create(friendly_name="Email again", unique_name="email_contract")
    assert duplicate.value.status == 400
    ws.task_channels(email.sid).delete()
    assert "email_contract" not in {c.unique_name for c in ws.task_channels.list()}
