"""Real HTTP callback delivery under load: a slow or hanging receiver delays only its own callbacks,
concurrency is bounded per receiver and overall, and what cannot wait is kept with the reason."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from conftest import ACCOUNT_SID
from flask import Flask, request
from twilio.rest import Client

from emulator.facade import TaskRouterEmulator
from emulator.server import Server
from emulator.webhooks.delivery import Dispatcher, destination


def test_the_dispatcher_bounds_concurrency_per_receiver_and_overall_and_keeps_lanes_in_order():
    running: dict[str, int] = {}
    peak: dict[str, int] = {}
    order: dict[str, list[int]] = {}
    lock = threading.Lock()
    release = threading.Event()

    def deliver(item):
        receiver, lane, n = item
        with lock:
            running[receiver] = running.get(receiver, 0) + 1
            running["all"] = running.get("all", 0) + 1
            for key in (receiver, "all"):
                peak[key] = max(peak.get(key, 0), running[key])
            order.setdefault(f"{receiver}/{lane}", []).append(n)
        if receiver == "slow":
            release.wait(5)
        with lock:
            running[receiver] -= 1
            running["all"] -= 1

    pool = Dispatcher(deliver, workers=5, per_destination=2, backlog=100, destination_backlog=50)
    for n in range(20):
        assert pool.submit("slow", ("slow", n % 4, n), lane=str(n % 4)) is None
    for n in range(30):
        assert pool.submit("fast", ("fast", n % 3, n), lane=str(n % 3)) is None
    deadline = time.monotonic() + 5
    while len([n for k, v in order.items() if k.startswith("fast") for n in v]) < 30 and time.monotonic() < deadline:
        time.sleep(0.01)
    # every fast item went through while two threads were held by the slow receiver
    assert sum(len(v) for k, v in order.items() if k.startswith("fast")) == 30
    assert peak["slow"] == 2 and peak["fast"] <= 2 and peak["all"] <= 5
    release.set()
    deadline = time.monotonic() + 5
    while pool.unfinished and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pool.unfinished == 0
    for lane, numbers in order.items():
        assert numbers == sorted(numbers), lane  # one lane: in order
    assert pool.close(timeout=1) == []


def test_the_dispatcher_refuses_past_its_backlogs():
    gate = threading.Event()
    pool = Dispatcher(lambda item: gate.wait(5), workers=1, per_destination=1, backlog=3, destination_backlog=2)
    try:
        assert pool.submit("a", 1) is None  # taken by the one thread
        time.sleep(0.05)
        assert pool.submit("a", 2) is None and pool.submit("a", 3) is None
        assert "limit for one receiver" in pool.submit("a", 4)
        assert pool.submit("b", 5) is None
        assert "backlog limit" in pool.submit("c", 6)
    finally:
        gate.set()
        pool.close(timeout=1)


def test_destinations_are_scheme_host_and_port():
    assert destination("http://Hooks.test:8080/a?b#rt=1") == destination("http://hooks.test:8080/other")
    assert destination("http://hooks.test:8080/a") != destination("http://hooks.test:8081/a")


class _Receiver:
    """A healthy receiver: records when each callback arrived; accepts assignments."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, dict]] = []
        app = Flask("receiver")

        @app.post("/events")
        def events():
            self.arrivals.append((time.monotonic(), request.form.to_dict()))
            return "", 204

        @app.post("/assign")
        def assign():
            return {"instruction": "accept"}

        self.server = Server(app, "127.0.0.1", 0).start()
        self.url = self.server.url


@pytest.fixture
def hanging_url():
    """A receiver that accepts connections (the kernel does) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(200)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def test_a_hanging_receiver_delays_only_its_own_callbacks(hanging_url):
    healthy = _Receiver()
    emu = TaskRouterEmulator(start="2026-01-01T00:00:00Z", seed=4, webhooks="http",
                             callback_limits={"workers": 8, "per_destination": 2, "destination_backlog": 10})
    webhooks = emu.webhooks
    server = emu.serve()
    try:
        client = Client(ACCOUNT_SID, "token")
        client.taskrouter.base_url = server.url
        # the hanging receiver's deliveries give up after 30 s (Twilio's read timeout, overridden):
        # far longer than the healthy receiver's callbacks take, however busy the machine
        stuck = client.taskrouter.v1.workspaces.create(friendly_name="Stuck", template="FIFO",
                                                       event_callback_url=hanging_url + "/e#rt=30000")
        for _ in range(10):  # 10 tasks x several events: far more than its backlog of 10
            client.taskrouter.v1.workspaces(stuck.sid).tasks.create(attributes="{}")
        ws = client.taskrouter.v1.workspaces.create(friendly_name="Healthy", template="FIFO",
                                                    event_callback_url=healthy.url + "/events")
        workspace = client.taskrouter.v1.workspaces(ws.sid)
        workflow = workspace.workflows.list()[0]
        workspace.workflows(workflow.sid).update(assignment_callback_url=healthy.url + "/assign")
        available = next(a.sid for a in workspace.activities.list() if a.friendly_name == "Available")
        workspace.workers.create(friendly_name="alice", activity_sid=available)
        hanging = [r for r in webhooks.inbox.records(workspace_sid=stuck.sid) if not r.done]
        assert hanging  # deliveries waiting for an answer that never comes
        task = workspace.tasks.create(attributes="{}", workflow_sid=workflow.sid)
        accepted = webhooks.inbox.wait_for(event_type="reservation.accepted", task_sid=task.sid, timeout=20)
        # the assignment answer was applied and its event delivered while every hanging delivery
        # begun before it still waited: nothing healthy queued behind them
        assert accepted.response["status"] == 204
        assert not any(r.done for r in hanging)
        assert workspace.tasks(task.sid).fetch().assignment_status == "assigned"
        types = [form["EventType"] for _, form in healthy.arrivals if form.get("TaskSid") == task.sid]
        assert types[:2] == ["task.created", "workflow.entered"] and types[-1] == "reservation.accepted"
        # what the hanging receiver could not take is kept with the reason
        dropped = [r for r in webhooks.inbox.records(workspace_sid=stuck.sid) if r.error and "already waiting" in r.error]
        assert dropped and all(r.done and r.response is None for r in dropped)
        # stopping does not wait for the hanging deliveries: they are still under way after it
        webhooks.close(timeout=0.2)
        assert any(not r.done for r in hanging)
    finally:
        webhooks.close(timeout=0.2)
        server.stop()
        healthy.server.stop()


def test_an_assignment_callback_that_cannot_wait_goes_to_the_fallback_rules(hanging_url):
    emu = TaskRouterEmulator(start="2026-01-01T00:00:00Z", seed=8, webhooks="http",
                             callback_limits={"workers": 1, "per_destination": 1, "destination_backlog": 1})
    webhooks, app = emu.webhooks, emu.app
    try:
        client_app = app.test_client()
        auth = (ACCOUNT_SID, "t")
        ws = client_app.post("/v1/Workspaces", data={"FriendlyName": "W", "Template": "FIFO"}, auth=auth).get_json()
        base = f"/v1/Workspaces/{ws['sid']}"
        workflow = client_app.get(f"{base}/Workflows", auth=auth).get_json()["workflows"][0]
        client_app.post(f"{base}/Workflows/{workflow['sid']}", auth=auth,
                        data={"AssignmentCallbackUrl": hanging_url + "/assign#rt=3000"})
        available = next(a["sid"] for a in client_app.get(f"{base}/Activities", auth=auth).get_json()["activities"]
                         if a["friendly_name"] == "Available")
        for name in "abc":
            client_app.post(f"{base}/Workers", data={"FriendlyName": name, "ActivitySid": available}, auth=auth)
        for _ in range(3):
            client_app.post(f"{base}/Tasks", data={"Attributes": "{}"}, auth=auth)
        # one in progress, one waiting, the rest refused: no answer, so their reservations are canceled
        # (and the tasks offered again, to be refused again while the receiver hangs)
        refused = [r for r in webhooks.inbox.records(kind="assignment") if r.error and "already waiting" in r.error]
        assert refused and all("the reservation is canceled" in r.outcome for r in refused)
        assert not webhooks.inbox.records(kind="assignment")[0].done  # the first is still being delivered
    finally:
        webhooks.close(timeout=0.2)
