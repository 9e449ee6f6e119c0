"""Errors (400, 404, 412) in Twilio's shape, and paging."""

from __future__ import annotations

import json

import pytest
from twilio.base.exceptions import TwilioRestException

from .conftest import raw

ERROR_KEYS = {"code", "message", "more_info", "status"}


def test_unknown_resources_are_404(taskrouter_workspace, taskrouter_target):
    ws = taskrouter_workspace
    for fetch in (lambda: ws.tasks("WT" + "0" * 32).fetch(), lambda: ws.workers("WK" + "0" * 32).fetch(),
                  lambda: ws.task_queues("WQ" + "0" * 32).fetch(), lambda: ws.workflows("WW" + "0" * 32).fetch()):
        with pytest.raises(TwilioRestException) as missing:
            fetch()
        assert missing.value.status == 404 and missing.value.code == 20404
    status, body = raw(taskrouter_target, ws.instance.url + "/Tasks/WT" + "0" * 32)
    assert status == 404 and set(body) >= ERROR_KEYS and body["status"] == 404


def test_bad_requests_are_400_and_change_nothing(taskrouter_workspace, taskrouter_target, desk):
    ws = taskrouter_workspace
    task = desk.task(ws)
    with pytest.raises(TwilioRestException) as illegal:
        ws.tasks(task.sid).update(assignment_status="completed")  # never accepted
    assert illegal.value.status == 400
    with pytest.raises(TwilioRestException) as no_workflow:
        ws.tasks.create(attributes='{"skill": "x"}', workflow_sid="WW" + "0" * 32)
    assert no_workflow.value.status in (400, 404)
    assert ws.tasks(task.sid).fetch().assignment_status in ("pending", "reserved")
    status, body = raw(taskrouter_target, ws.instance.url + "/Activities", method="POST")  # FriendlyName missing
    assert status == 400 and set(body) >= ERROR_KEYS and body["status"] == 400


def test_a_stale_if_match_is_412_and_changes_nothing(taskrouter_workspace, taskrouter_target, desk):
    ws = taskrouter_workspace
    task = desk.task(ws)
    etag = taskrouter_target.client.request("GET", task.url).headers["ETag"]  # the task's version
    with pytest.raises(TwilioRestException) as stale:
        ws.tasks(task.sid).update(attributes='{"step": 2}', if_match=str(int(etag) + 1000))
    assert stale.value.status == 412
    assert ws.tasks(task.sid).fetch().attributes == task.attributes
    updated = ws.tasks(task.sid).update(attributes=json.dumps({"skill": desk.skill, "step": 3}),
                                        if_match=etag)
    assert json.loads(updated.attributes)["step"] == 3


def test_paging_follows_next_page_urls(taskrouter_workspace, taskrouter_target):
    ws = taskrouter_workspace
    for name in ("Page A", "Page B", "Page C"):
        ws.activities.create(friendly_name=name, available=False)
    first = ws.activities.page(page_size=2)
    names = [a.friendly_name for a in first]
    assert len(names) == 2 and first.next_page_url is not None
    page = first
    while page.next_page_url is not None:
        page = page.next_page()
        names += [a.friendly_name for a in page]
    assert names == [a.friendly_name for a in ws.activities.list()]
    assert {"Offline", "Available", "Unavailable", "Page A", "Page B", "Page C"} <= set(names)
    assert [a.friendly_name for a in ws.activities.list(page_size=2, limit=3)] == names[:3]
    status, body = raw(taskrouter_target, ws.instance.url + "/Activities", PageSize=2)
    assert status == 200 and body["meta"]["key"] == "activities" and body["meta"]["page_size"] == 2
    assert set(body["meta"]) == {"page", "page_size", "first_page_url", "previous_page_url", "url",
                                 "next_page_url", "key"}
