"""The contract suite: scenarios that hold on the emulator and on the real TaskRouter.

They use the plugin's two-target fixtures (``taskrouter_target``, ``taskrouter_workspace``,
``taskrouter_client``), so the same tests run on the emulator by default and, with
``--taskrouter-target=live``, ``TASKROUTER_LIVE=1`` and Twilio credentials in the environment,
against the real service: one uniquely named workspace per run, always deleted, and what each
test creates deleted after it. They assert only what both answer the same way.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import pytest


def pytest_collection_modifyitems(items):
    # on the emulator, every response is also checked against the official schema
    for item in items:
        if item.path.parent.name == "contract_tests":
            item.add_marker(pytest.mark.taskrouter(strict_schema=True))


def activity_sid(ws, name: str) -> str:
    return next(a.sid for a in ws.activities.list() if a.friendly_name == name)


@dataclass
class Desk:
    """A queue and a workflow of their own, and one Available worker, keyed by a unique skill so
    that nothing else in the workspace takes part."""

    skill: str
    queue: object
    workflow: object
    worker: object

    def task(self, ws, **attributes):
        return ws.tasks.create(workflow_sid=self.workflow.sid,
                               attributes=json.dumps({"skill": self.skill, **attributes}))


@pytest.fixture
def desk(taskrouter_workspace) -> Desk:
    ws = taskrouter_workspace
    skill = "s" + uuid.uuid4().hex[:10]
    queue = ws.task_queues.create(friendly_name=f"queue-{skill}", target_workers=f"skills HAS '{skill}'")
    config = {"task_routing": {"filters": [{"filter_friendly_name": "skill", "expression": f"skill == '{skill}'",
                                            "targets": [{"queue": queue.sid}]}]}}
    workflow = ws.workflows.create(friendly_name=f"workflow-{skill}", configuration=json.dumps(config),
                                   task_reservation_timeout=120)
    worker = ws.workers.create(friendly_name=f"agent-{skill}", attributes=json.dumps({"skills": [skill]}),
                               activity_sid=activity_sid(ws, "Available"))
    return Desk(skill, queue, workflow, worker)


def raw(target, url: str, method: str = "GET", **params):
    """The decoded JSON body and status of a request, as the service sent them."""
    response = target.client.request(method, url, params=params if method == "GET" else None,
                                     data=params if method != "GET" else None)
    return response.status_code, (json.loads(response.text) if response.text else None)
