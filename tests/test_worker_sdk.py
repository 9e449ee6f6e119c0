"""The official Worker SDK (npm ``twilio-taskrouter`` 2.1.1, in Node) through a worker's life
against the emulator's Event Bridge: connect, reservation created, accept, wrap-up and complete,
reject, attributes, presence, refused tokens, a transfer to a queue.

``make test`` installs the SDK (``npm ci`` in tests/node/); without Node or without that install
these tests skip, saying why. The scenarios are in tests/node/worker_life.js; each prints its
steps as JSON, and the engine's state is checked here afterwards.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from emulator import TaskRouterEmulator
from emulator.bridge import tokens

NODE_DIR = Path(__file__).parent / "node"
SCRIPT = NODE_DIR / "worker_life.js"
SDK = NODE_DIR / "node_modules" / "twilio-taskrouter" / "package.json"

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="Node is not installed: the Worker SDK runs in Node"),
    pytest.mark.skipif(not SDK.exists(), reason="the Worker SDK is not installed: run `make node-deps` "
                                                "(npm ci in tests/node)"),
]


@pytest.fixture
def desk():
    with TaskRouterEmulator(clock="real", seed="worker-sdk") as emu:
        server = emu.serve()
        client = server.client()
        ws = client.taskrouter.v1.workspaces.create(friendly_name="Agents", template="FIFO")
        worker = client.taskrouter.v1.workspaces(ws.sid).workers.create(friendly_name="alice")
        activities = {a.friendly_name: a.sid for a in client.taskrouter.v1.workspaces(ws.sid).activities.list()}
        yield emu, server, client.taskrouter.v1.workspaces(ws.sid), worker.sid, activities


def run(desk, scenario: str, **extra) -> list:
    emu, server, ws, worker_sid, activities = desk
    setup = {"url": server.url, "accountSid": emu.account_sid, "authToken": emu.token_for(emu.account_sid),
             "workspaceSid": ws._solution["sid"], "workerSid": worker_sid, "token": emu.worker_token(worker_sid),
             "activities": activities, "scenario": scenario, **extra}
    done = subprocess.run(["node", str(SCRIPT), json.dumps(setup)], capture_output=True, text=True, timeout=90,
                          cwd=NODE_DIR)
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines else {"ok": False, "error": done.stderr[-2000:]}
    assert done.returncode == 0 and result["ok"], f"{result.get('error')}\nsteps: {result.get('steps')}"
    return result["steps"]


def test_a_worker_connects_accepts_completes_rejects_and_goes_offline(desk):
    emu, server, ws, worker_sid, activities = desk
    steps = run(desk, "life")
    assert [s["step"] for s in steps] == ["ready", "activityUpdated", "reservationCreated", "accepted", "wrapup",
                                          "completed", "rejected", "attributes", "offline"]
    assert steps[2]["version"] == "0" and steps[3]["version"] == "1"  # reservation version +1 per accept
    first, second = ws.tasks.list(ordering="DateCreated:asc")
    assert first.assignment_status == "completed" and first.reason == "resolved"
    assert [r.reservation_status for r in first.reservations.list()] == ["completed"]
    # she rejected without an activity and stayed available, so the task was offered to her again
    assert [r.reservation_status for r in second.reservations.list()] == ["rejected", "pending"]
    worker = ws.workers(worker_sid).fetch()
    assert json.loads(worker.attributes) == {"languages": ["en", "fr"]}
    assert worker.activity_name == "Offline"
    # what the SDK did is in the Events resource like any REST change
    types = [e.event_type for e in ws.events.list(worker_sid=worker_sid)]
    assert "worker.activity.update" in types and "reservation.accepted" in types


def test_without_set_worker_offline_if_disconnected_the_activity_stays(desk):
    steps = run(desk, "stayOnline")
    assert [s["activity"] for s in steps] == ["Available", "Available"]


def test_refused_tokens_never_make_the_worker_ready(desk):
    emu, server, ws, worker_sid, activities = desk
    key, secret = emu.add_api_key()
    workspace_sid = ws._solution["sid"]
    bad = {"wrong secret": tokens.mint(emu.account_sid, key, "not-the-secret" * 3, workspace_sid, worker_sid),
           "expired": tokens.mint(emu.account_sid, key, secret, workspace_sid, worker_sid, ttl=-10),
           "unknown worker": tokens.mint(emu.account_sid, key, secret, workspace_sid, "WK" + "0" * 32)}
    steps = run(desk, "tokenRefused", badTokens=bad)
    assert [s["token"] for s in steps] == list(bad)
    assert ws.workers(worker_sid).fetch().activity_name == "Offline"


def test_a_transfer_to_a_queue_fails_an_attempt_and_is_canceled(desk):
    emu, server, ws, worker_sid, activities = desk
    queue = ws.task_queues.create(friendly_name="Escalations", target_workers="1==1").sid
    bob = ws.workers.create(friendly_name="bob").sid
    steps = run(desk, "queueTransfer", queueSid=queue, bobToken=emu.worker_token(bob))
    assert steps == [{"step": "initiated", "type": "QUEUE", "status": "initiated"},
                     {"step": "offered", "type": "QUEUE", "mode": "WARM", "task": "reserved"},
                     {"step": "attemptFailed", "status": "initiated", "task": "pending"},
                     {"step": "canceled", "status": "canceled"}]
    [task] = ws.tasks.list()
    assert task.assignment_status == "assigned" and task.task_queue_sid != queue
    assert {r.worker_sid: r.reservation_status for r in task.reservations.list()} == \
        {worker_sid: "accepted", bob: "rejected"}
