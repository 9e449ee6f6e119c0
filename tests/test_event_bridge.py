"""The Event Bridge the Worker SDK talks to: tokens, roles, the proxied REST calls in the SDK's
shapes, AfterSid paging, the websocket sessions and the order and timing of their events.

Key lists are the SDK's own (``*Properties`` of twilio-taskrouter 3.0.0 / 2.1.1): its
descriptors throw when one is missing.
"""

from __future__ import annotations

import json
import time

import jwt
import pytest
import simple_websocket
from werkzeug.test import EnvironBuilder

from emulator import TaskRouterEmulator, errors
from emulator.bridge import session as bridge_session
from emulator.bridge import tokens

WORKER_KEYS = ["account_sid", "activity_name", "activity_sid", "attributes", "available", "date_created",
               "date_status_changed", "date_updated", "friendly_name", "sid", "workspace_sid", "version"]
RESERVATION_KEYS = ["account_sid", "date_created", "date_updated", "reservation_status", "sid", "task",
                    "reservation_timeout", "worker_sid", "workspace_sid", "version"]
TASK_KEYS = ["addons", "age", "attributes", "date_created", "date_updated", "priority", "queue_name", "queue_sid",
             "reason", "routing_target", "sid", "assignment_status", "task_channel_unique_name", "task_channel_sid",
             "timeout", "workflow_name", "workflow_sid", "version", "virtual_start_time"]
ACTIVITY_KEYS = ["account_sid", "available", "date_created", "date_updated", "friendly_name", "sid", "workspace_sid"]
CHANNEL_KEYS = ["account_sid", "assigned_tasks", "available", "available_capacity_percentage", "configured_capacity",
                "date_created", "date_updated", "last_reserved_time", "sid", "task_channel_sid",
                "task_channel_unique_name", "worker_sid", "workspace_sid"]
TASK_QUEUE_KEYS = ["friendly_name", "reservation_activity_name", "assignment_activity_name", "target_workers",
                   "max_reserved_workers", "task_order", "reservation_activity_sid", "assignment_activity_sid",
                   "workspace_sid", "account_sid", "sid", "date_created", "date_updated", "lifo_queue"]
OTHER_ACCOUNT = "AC" + "b" * 32


class Desk:
    """A FIFO workspace with two workers, an API key, and the bridge's POST in-process."""

    def __init__(self, emu: TaskRouterEmulator) -> None:
        self.emu = emu
        self.client = emu.client()
        ws = self.client.taskrouter.v1.workspaces.create(friendly_name="Agents", template="FIFO")
        self.sid = ws.sid
        self.ws = self.client.taskrouter.v1.workspaces(ws.sid)
        self.alice = self.ws.workers.create(friendly_name="alice").sid
        self.bob = self.ws.workers.create(friendly_name="bob").sid
        self.activities = {a.friendly_name: a.sid for a in self.ws.activities.list()}
        self.key, self.secret = emu.add_api_key()
        self.http = emu.app.test_client()

    def token(self, worker_sid=None, **kwargs) -> str:
        return self.emu.worker_token(worker_sid, self.sid, **kwargs)

    def post(self, url: str, method: str = "GET", params: dict | None = None, token: str | None = None,
             headers: dict | None = None):
        body = {"url": f"Workspaces/{self.sid}/{url}" if url else f"Workspaces/{self.sid}", "method": method,
                "params": params or {}, "token": token if token is not None else self.token(self.alice)}
        answer = self.http.post("/v1/wschannels", data=json.dumps(body), headers=headers or {})
        return answer.status_code, answer.get_json()

    def ok(self, *args, **kwargs):
        status, body = self.post(*args, **kwargs)
        assert status == 200, body
        return body["payload"]


@pytest.fixture
def desk():
    with TaskRouterEmulator(seed="bridge") as emu:
        yield Desk(emu)


# --- tokens -------------------------------------------------------------------------------------
def _mint(desk: Desk, **overrides) -> str:
    args = {"account_sid": desk.emu.account_sid, "key_sid": desk.key, "key_secret": desk.secret,
            "workspace_sid": desk.sid, "worker_sid": desk.alice}
    kwargs = {k: overrides.pop(k) for k in ("role", "ttl", "now") if k in overrides}
    args.update(overrides)
    return tokens.mint(**args, **kwargs)


def _signed(desk: Desk, grants: dict) -> str:
    return jwt.encode({"iss": desk.key, "sub": desk.emu.account_sid, "exp": time.time() + 60, "grants": grants},
                      desk.secret, algorithm="HS256")


@pytest.mark.parametrize("case, make, status, words", [
    ("no token", lambda d: "", 401, "missing"),
    ("not a JWT", lambda d: "abc.def", 401, "Invalid Access Token"),
    ("wrong secret", lambda d: _mint(d, key_secret="x" * 32), 401, "signature"),
    ("expired", lambda d: _mint(d, ttl=-1), 401, "expired"),
    ("not yet valid", lambda d: _mint(d, now=time.time() + 600), 401, "not yet valid"),
    ("unknown key", lambda d: _mint(d, key_sid="SK" + "0" * 32), 401, "not known"),
    ("key of another account", lambda d: _mint(d, account_sid=OTHER_ACCOUNT), 401, "does not belong"),
    ("unknown workspace", lambda d: _mint(d, workspace_sid="WS" + "0" * 32), 403, "does not exist"),
    ("unknown worker", lambda d: _mint(d, worker_sid="WK" + "0" * 32), 403, "does not exist"),
    ("unknown role", lambda d: _signed(d, {"task_router": {"workspace_sid": d.sid, "role": "owner"}}), 403, "role"),
    ("no TaskRouter grant", lambda d: _signed(d, {}), 403, "grant"),
])
def test_a_bad_token_is_refused_on_every_request_and_upgrade(desk, case, make, status, words):
    token = make(desk)
    code, body = desk.post(f"Workers/{desk.alice}", "POST", {"ActivitySid": desk.activities["Available"]},
                           token=token)
    assert (code, words.lower() in body["message"].lower()) == (status, True), body
    assert set(body) >= {"message"}
    assert desk.ws.workers(desk.alice).fetch().activity_name == "Offline"  # nothing changed
    upgrade = desk.http.get("/v1/wschannels", query_string={"token": token},
                            headers={"Upgrade": "websocket", "Connection": "Upgrade"})
    assert upgrade.status_code == status


def test_a_token_minted_by_twilio_python_is_accepted(desk):
    from twilio.jwt.access_token import AccessToken
    from twilio.jwt.access_token.grants import TaskRouterGrant

    token = AccessToken(desk.emu.account_sid, desk.key, desk.secret, identity="alice", ttl=600)
    token.add_grant(TaskRouterGrant(workspace_sid=desk.sid, worker_sid=desk.alice, role="worker"))
    worker = desk.ok(f"Workers/{desk.alice}", token=token.to_jwt())
    assert worker["sid"] == desk.alice


def test_roles(desk):
    available = desk.activities["Available"]
    # a worker changes only itself
    code, body = desk.post(f"Workers/{desk.bob}", "POST", {"ActivitySid": available})
    assert code == 403 and desk.bob in body["message"]
    assert desk.ok(f"Workers/{desk.bob}")["activity_name"] == "Offline"  # but may read
    # a supervisor changes other workers of its workspace
    supervisor = desk.token(desk.alice, role="supervisor")
    assert desk.ok(f"Workers/{desk.bob}", "POST", {"ActivitySid": available}, token=supervisor)["available"]
    # an admin token names no worker: workspace-level calls, no event stream
    admin = desk.token(None, role="admin")
    assert len(desk.ok("Workers", params={"PageSize": 10}, token=admin)["contents"]) == 2
    assert desk.http.get("/v1/wschannels", query_string={"token": admin},
                         headers={"Upgrade": "websocket", "Connection": "Upgrade"}).status_code == 403
    # a token of one workspace does not reach another
    other = desk.client.taskrouter.v1.workspaces.create(friendly_name="Other", template="FIFO")
    body = {"url": f"Workspaces/{other.sid}/Activities", "method": "GET", "params": {}, "token": supervisor}
    assert desk.http.post("/v1/wschannels", data=json.dumps(body)).status_code == 403


@pytest.mark.parametrize("url, method, params, supervisor", [
    ("", "DELETE", {}, 200),
    ("Activities", "POST", {"FriendlyName": "Lunch"}, 200),
    ("TaskQueues", "POST", {"FriendlyName": "Mine"}, 200),
    ("Workers", "POST", {"FriendlyName": "carol"}, 200),
    # objects the bridge does not draw: refused before anything changes
    ("", "POST", {"FriendlyName": "Renamed"}, 501),
    ("TaskChannels", "POST", {"FriendlyName": "Fax", "UniqueName": "fax"}, 501),
], ids=["delete-workspace", "create-activity", "create-queue", "create-worker", "update-workspace", "create-channel"])
def test_a_worker_token_does_not_change_the_workspace_configuration(desk, url, method, params, supervisor):
    before = desk.emu.snapshot()
    code, body = desk.post(url, method, params)
    assert (code, body["code"]) == (403, 20403), body
    assert "configuration" in body["message"]
    assert desk.emu.snapshot() == before  # nothing changed
    code, body = desk.post(url, method, params, token=desk.token(desk.alice, role="supervisor"))
    assert code == supervisor, body
    if supervisor != 200:
        assert desk.emu.snapshot() == before


def test_a_worker_token_creates_and_updates_tasks(desk):
    task = desk.ok("Tasks", "POST", {"Attributes": {"to": "+15550100"}})
    updated = desk.ok(f"Tasks/{task['sid']}", "POST", {"Attributes": {"to": "+15550101"}})
    assert json.loads(updated["attributes"]) == {"to": "+15550101"}


# --- shapes -------------------------------------------------------------------------------------
def test_every_object_has_the_keys_the_sdk_descriptors_require(desk):
    desk.ws.workers(desk.alice).update(activity_sid=desk.activities["Available"])
    task = desk.ws.tasks.create(attributes=json.dumps({"topic": "billing"}))
    worker = desk.ok(f"Workers/{desk.alice}")
    assert set(WORKER_KEYS) <= set(worker) and isinstance(worker["date_created"], int)
    [reservation] = desk.ok(f"Workers/{desk.alice}/Reservations", params={"Active": "true", "PageSize": 1000},
                            headers={"apiVersion": "v2"})["contents"]
    assert set(RESERVATION_KEYS) <= set(reservation)
    assert set(TASK_KEYS) <= set(reservation["task"]) and reservation["task"]["sid"] == task.sid
    assert reservation["task"]["queue_name"] == "Sample Queue"
    assert reservation["task"]["workflow_name"] == "Default Fifo Workflow"
    assert json.loads(reservation["task"]["attributes"]) == {"topic": "billing"}
    fetched = desk.ok(f"Tasks/{task.sid}")
    assert set(TASK_KEYS) <= set(fetched)
    for activity in desk.ok("Activities", params={"PageSize": 1000})["contents"]:
        assert set(ACTIVITY_KEYS) <= set(activity)
    channels = desk.ok(f"Workers/{desk.alice}/WorkerChannels", params={"PageSize": 1000})["contents"]
    assert len(channels) == 5 and all(set(CHANNEL_KEYS) <= set(c) for c in channels)
    default = next(c for c in channels if c["task_channel_unique_name"] == "default")
    assert default["last_reserved_time"] == reservation["date_created"] * 1000  # milliseconds
    [queue] = desk.ok("TaskQueues", params={"PageSize": 1000}, token=desk.token(None, role="admin"))["contents"]
    assert set(TASK_QUEUE_KEYS) <= set(queue) and queue["lifo_queue"] is False


def test_versions_count_changes(desk):
    desk.ws.workers(desk.alice).update(activity_sid=desk.activities["Available"])
    task = desk.ws.tasks.create(attributes="{}")
    [pending] = desk.ok(f"Workers/{desk.alice}/Reservations", params={"Active": "true"})["contents"]
    accepted = desk.ok(f"Workers/{desk.alice}/Reservations/{pending['sid']}", "POST",
                       {"ReservationStatus": "accepted"})
    assert int(accepted["version"]) == int(pending["version"]) + 1
    before = desk.ok(f"Tasks/{task.sid}")["version"]
    after = desk.ok(f"Tasks/{task.sid}", "POST", {"Attributes": {"topic": "x"}})
    assert int(after["version"]) == int(before) + 1 and json.loads(after["attributes"]) == {"topic": "x"}


def test_errors_are_a_status_and_a_message(desk):
    code, body = desk.post(f"Workers/{desk.alice}", "POST", {"ActivitySid": "invalid_activitySid"})
    assert code == 400 and "invalid_activitySid" in body["message"]
    code, body = desk.post("Workers/WK" + "0" * 32)
    assert code == 404 and "message" in body
    code, body = desk.post("Tasks", "POST", {"Attributes": {}, "VirtualStartTime": "2099-01-01T00:00:00Z"})
    assert code == 400 and "future" in body["message"]
    code, body = desk.post("Nowhere")
    assert code == 404
    answer = desk.http.post("/v1/wschannels", data=b"not json")
    assert answer.status_code == 400 and "JSON" in answer.get_json()["message"]
    code, body = desk.post(f"Workers/{desk.alice}/Transfers", "POST", {"TaskSid": "WT" + "0" * 32})
    assert code == 400 and "ReservationSid" in body["message"]
    code, body = desk.post(f"Workers/{desk.alice}/CustomerParticipant", "POST", {})
    assert code == 501 and body["message"] == errors.BRIDGE_VOICE.format(
        method="POST", url=f"Workspaces/{desk.sid}/Workers/{desk.alice}/CustomerParticipant")


# --- paging -------------------------------------------------------------------------------------
def test_after_sid_pages_in_creation_order_and_ordered_lists_carry_next_token(desk):
    admin = desk.token(None, role="admin")
    queues = [desk.ws.task_queues.list()[0].sid] + [
        desk.ws.task_queues.create(friendly_name=f"Q{i}", target_workers="1==1").sid for i in range(3)]
    seen, after = [], None
    for _ in range(5):
        params = {"PageSize": 1, **({"AfterSid": after} if after else {})}
        page = desk.ok("TaskQueues", params=params, token=admin)
        seen += [q["sid"] for q in page["contents"]]
        after = page["after_sid"]
        if after is None:
            break
    assert seen == queues
    assert [q["sid"] for q in desk.ok("TaskQueues", params={"AfterSid": queues[0]}, token=admin)["contents"]] \
        == queues[1:]
    code, body = desk.post("TaskQueues", params={"AfterSid": "WQ" + "0" * 32}, token=admin)
    assert code == 400 and "AfterSid" in body["message"]
    ordered = desk.ok("Workers", params={"PageSize": 1, "Ordering": "DateCreated:asc"}, token=admin)
    assert [w["sid"] for w in ordered["contents"]] == [desk.alice]
    rest = desk.ok("Workers", params={"PageSize": 1, "Ordering": "DateCreated:asc",
                                      "NextToken": ordered["meta"]["next_token"]}, token=admin)
    assert [w["sid"] for w in rest["contents"]] == [desk.bob] and rest["meta"]["next_token"] is None


def test_active_keeps_the_reservations_that_hold_the_worker(desk):
    desk.ws.workers(desk.alice).update(activity_sid=desk.activities["Available"])
    first = desk.ws.tasks.create(attributes="{}")
    [r1] = desk.ok(f"Workers/{desk.alice}/Reservations", params={"Active": "true"})["contents"]
    # rejected to Offline: staying available, she would be offered the task again
    desk.ok(f"Workers/{desk.alice}/Reservations/{r1['sid']}", "POST",
            {"ReservationStatus": "rejected", "WorkerActivitySid": desk.activities["Offline"]})
    assert desk.ok(f"Workers/{desk.alice}/Reservations", params={"Active": "true"})["contents"] == []
    assert len(desk.ok(f"Workers/{desk.alice}/Reservations")["contents"]) == 1
    assert first.sid == r1["task"]["sid"]


# --- events: to whom, in which order, after the reply --------------------------------------------
class Recorder:
    """Stands in for a websocket session in the hub."""

    def __init__(self, workspace_sid: str, worker_sid: str) -> None:
        self.key = (workspace_sid, worker_sid)
        self.frames: list[dict] = []

    def push(self, text: str) -> None:
        self.frames.append(json.loads(text))

    def close(self, reason: str = "") -> None:
        pass


def test_events_reach_their_worker_in_log_order_after_the_reply_is_written(desk):
    hub = desk.emu.app.config["event_bridge"].hub
    alice, bob = Recorder(desk.sid, desk.alice), Recorder(desk.sid, desk.bob)
    hub.add(alice)
    hub.add(bob)
    desk.ws.tasks.create(attributes="{}")  # waits: nobody is available
    body = {"url": f"Workspaces/{desk.sid}/Workers/{desk.alice}", "method": "POST",
            "params": {"ActivitySid": desk.activities["Available"]}, "token": desk.token(desk.alice)}
    environ = EnvironBuilder(path="/v1/wschannels", method="POST", data=json.dumps(body)).get_environ()
    environ["werkzeug.socket"] = object()  # as the server's requests carry it
    statuses = []
    app_iter = desk.emu.app(environ, lambda status, headers, exc_info=None: statuses.append(status))
    reply = json.loads(b"".join(app_iter))
    assert statuses == ["200 OK"] and reply["payload"]["activity_name"] == "Available"
    assert alice.frames == []  # the reply is written, the server has not closed it yet
    app_iter.close()
    assert [f["event_type"] for f in alice.frames] == ["worker.activity.update", "reservation.created"]
    assert alice.frames[1]["payload"]["worker_sid"] == desk.alice
    assert bob.frames == []
    # a REST change of the task reaches the worker holding it
    task_sid = alice.frames[1]["payload"]["task"]["sid"]
    desk.ok(f"Workers/{desk.alice}/Reservations/{alice.frames[1]['payload']['sid']}", "POST",
            {"ReservationStatus": "accepted"})
    assert alice.frames[-1]["event_type"] == "reservation.accepted"
    desk.ws.tasks(task_sid).update(attributes=json.dumps({"vip": True}))
    assert alice.frames[-1]["event_type"] == "task.updated"
    assert json.loads(alice.frames[-1]["payload"]["attributes"]) == {"vip": True}


# --- websocket sessions over the server ----------------------------------------------------------
@pytest.fixture
def served(desk):
    server = desk.emu.serve()
    yield desk, server.url.replace("http://", "ws://") + "/v1/wschannels"


class _Client(simple_websocket.Client):
    """simple_websocket's client, keeping frames that arrive in the same read as the 101 answer.

    The server sends ``init`` as soon as the upgrade is done; on a loaded machine it can reach
    the client together with the 101 answer. simple_websocket 1.1 leaves such a frame unparsed
    in its protocol buffer until more data arrives (the next heartbeat, 10 s later); Node's
    ``ws``, which the Worker SDK uses, reads it at once, and so does this client."""

    def handshake(self):
        super().handshake()
        self.connected = self._handle_events()


def _connect(url: str, token: str, **query) -> simple_websocket.Client:
    params = "&".join(f"{k}={v}" for k, v in {"token": token, "closeExistingSessions": "false",
                                               "clientVersion": "2.1.1", **query}.items())
    return _Client(f"{url}?{params}")


def _frame(sock, timeout=10.0) -> dict:
    """The next JSON frame, past any heartbeat (a whitespace-only frame sent on its own timer, so on a
    loaded machine one may come before the frame a test waits for)."""
    deadline = time.monotonic() + timeout
    while True:
        text = sock.receive(max(0.0, deadline - time.monotonic()))
        assert text is not None, "no frame"
        if text.strip():
            return json.loads(text)


def test_sessions_init_events_heartbeat_and_close_existing(served, monkeypatch):
    desk, url = served
    monkeypatch.setattr(bridge_session, "HEARTBEAT_SECONDS", 0.3)
    first_token = desk.token(desk.alice, ttl=120)
    first = _connect(url, first_token)
    init = _frame(first)
    assert init["event_type"] == "init"
    assert init["payload"]["channel_id"] == desk.alice and init["payload"]["workspace_sid"] == desk.sid
    assert 110_000 < init["payload"]["token_lifetime"] <= 120_000  # milliseconds left
    assert first.receive(10).strip() == ""  # a heartbeat: whitespace only
    second = _connect(url, desk.token(desk.alice))
    assert _frame(second)["event_type"] == "init"
    desk.ws.workers(desk.alice).update(activity_sid=desk.activities["Available"])
    for sock in (first, second):  # every session of the worker gets the event
        frame = _frame(sock)
        while frame.get("event_type") is None:
            frame = _frame(sock)
        assert frame["event_type"] == "worker.activity.update"
    third = _connect(url, desk.token(desk.alice), closeExistingSessions="true")
    assert _frame(third)["event_type"] == "init"
    deadline = time.monotonic() + 10
    while (first.connected or second.connected) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not first.connected and not second.connected
    # a replaced client reconnecting with its token and the same option closes no other session
    again = _connect(url, first_token, closeExistingSessions="true")
    assert _frame(again)["event_type"] == "init"
    time.sleep(0.3)
    assert third.connected
    again.close()
    assert desk.ws.workers(desk.alice).fetch().activity_name == "Available"  # one session is left
    third.close()
    # (within a second in practice; the bound here only keeps a loaded machine from failing the test)
    deadline = time.monotonic() + 10
    while desk.ws.workers(desk.alice).fetch().activity_name != "Offline" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert desk.ws.workers(desk.alice).fetch().activity_name == "Offline"


def _closed(sock, timeout: float = 10.0) -> tuple:
    """Wait for the server to close ``sock`` (frames before the close are read and dropped)."""
    deadline = time.monotonic() + timeout
    while sock.connected and time.monotonic() < deadline:
        try:
            sock.receive(0.2)
        except simple_websocket.ConnectionClosed:
            break
    return (not sock.connected, sock.close_reason, sock.close_message)


@pytest.mark.parametrize("end, alice_closed, bob_closed, code, message", [
    ("reset", True, True, 1000, "emulator reset"),
    ("worker deleted", True, False, 1000, "worker deleted"),
    ("workspace deleted", True, True, 1000, "workspace deleted"),
    ("server stopped", True, True, 1001, "server stopping"),
])
def test_sessions_close_when_what_they_stream_goes_away(served, end, alice_closed, bob_closed, code, message):
    desk, url = served
    alice, bob = _connect(url, desk.token(desk.alice)), _connect(url, desk.token(desk.bob))
    assert _frame(alice)["event_type"] == _frame(bob)["event_type"] == "init"
    if end == "reset":
        desk.emu.reset()
    elif end == "worker deleted":
        desk.ws.workers(desk.alice).delete()
    elif end == "workspace deleted":
        desk.ws.delete()
    else:
        [server] = desk.emu._servers
        server.stop()
    assert _closed(alice) == (True, code, message)
    if bob_closed:
        assert _closed(bob)[:2] == (True, code)
    else:
        time.sleep(0.3)
        assert bob.connected
        bob.close()
    if end == "worker deleted":  # the SDK reconnecting with its token is refused
        with pytest.raises(simple_websocket.ConnectionError):
            _connect(url, _mint(desk))  # a token for Alice, who is gone


# --- transfers ----------------------------------------------------------------------------------
TRANSFER_KEYS = ["date_created", "date_updated", "initiating_reservation_sid", "initiating_worker_sid",
                 "initiating_queue_sid", "initiating_workflow_sid", "sid", "transfer_mode", "transfer_to",
                 "transfer_type", "transfer_status"]


def _alice_holds_a_task(desk: Desk):
    """Alice and Bob each with a stream recorded; Alice has accepted a new task's reservation."""
    hub = desk.emu.app.config["event_bridge"].hub
    alice, bob = Recorder(desk.sid, desk.alice), Recorder(desk.sid, desk.bob)
    hub.add(alice)
    hub.add(bob)
    desk.ws.workers(desk.alice).update(activity_sid=desk.activities["Available"])
    task = desk.ws.tasks.create(attributes="{}")
    [held] = desk.ok(f"Workers/{desk.alice}/Reservations", params={"Active": "true"})["contents"]
    desk.ok(f"Workers/{desk.alice}/Reservations/{held['sid']}", "POST", {"ReservationStatus": "accepted"})
    return alice, bob, task, held


def _transfer_setup(desk: Desk):
    alice, bob, task, held = _alice_holds_a_task(desk)
    transfer = desk.ok(f"Workers/{desk.alice}/Transfers", "POST",
                       {"ReservationSid": held["sid"], "TaskSid": task.sid, "To": desk.bob},
                       headers={"apiVersion": "v2"})
    return alice, bob, task, held, transfer


@pytest.mark.parametrize("outcome", ["accepted", "rejected", "canceled"])
def test_a_warm_transfer_to_a_worker(desk, outcome):
    alice, bob, task, held, transfer = _transfer_setup(desk)
    assert set(TRANSFER_KEYS) <= set(transfer) and transfer["sid"].startswith("TT")
    assert (transfer["transfer_status"], transfer["transfer_mode"], transfer["transfer_type"]) == \
        ("initiated", "WARM", "WORKER")
    assert alice.frames[-1]["event_type"] == "task.transfer-initiated"
    offer = bob.frames[-1]
    assert offer["event_type"] == "reservation.created"
    assert offer["payload"]["task_transfer"]["sid"] == transfer["sid"]
    assert offer["payload"]["task"]["assignment_status"] == "reserved"
    bob_token = desk.token(desk.bob)
    if outcome == "canceled":
        done = desk.ok(f"Workers/{desk.alice}/Transfers/{transfer['sid']}", "POST",
                       {"TaskSid": task.sid, "TransferStatus": "canceled"})
        assert done["transfer_status"] == "canceled"
        code, body = desk.post(f"Workers/{desk.alice}/Transfers/{transfer['sid']}", "POST",
                               {"TaskSid": task.sid, "TransferStatus": "canceled"})
        assert (code, body["message"]) == (
            400, f"Transfer {transfer['sid']} is already canceled . Cannot cancel transfer.")
    else:
        reply = desk.ok(f"Workers/{desk.bob}/Reservations/{offer['payload']['sid']}", "POST",
                        {"ReservationStatus": outcome}, token=bob_token)
        assert "task_transfer" not in reply  # the SDK reads replies without their task
    status = {"accepted": "complete", "rejected": "failed", "canceled": "canceled"}[outcome]
    event = {"accepted": "completed", "rejected": "failed", "canceled": "canceled"}[outcome]
    alice_types = [f["event_type"] for f in alice.frames]
    assert f"task.transfer-{event}" in alice_types
    last_transfer = next(f for f in reversed(alice.frames) if f["event_type"].startswith("task.transfer-"))
    assert last_transfer["payload"]["transfer_status"] == status
    fetched = desk.ws.tasks(task.sid).fetch()
    assert fetched.assignment_status == "assigned"
    holders = {r.worker_sid: r.reservation_status for r in desk.ws.tasks(task.sid).reservations.list()}
    if outcome == "accepted":
        assert holders == {desk.alice: "accepted", desk.bob: "accepted"}  # warm: both on it
    else:
        # Bob's offer ends, then Alice learns the transfer failed and gets her task back
        [ended] = [f for f in bob.frames if f["event_type"] == f"reservation.{outcome}"]
        assert ended["payload"]["task_transfer"]["transfer_status"] == status
        assert alice_types[-2:] == [f"task.transfer-{event}", "task.updated"]
        assert alice.frames[-1]["payload"]["assignment_status"] == "assigned"
        assert holders[desk.alice] == "accepted"


def test_a_cold_transfer_hands_the_task_over(desk):
    hub = desk.emu.app.config["event_bridge"].hub
    desk.ws.workers(desk.alice).update(activity_sid=desk.activities["Available"])
    task = desk.ws.tasks.create(attributes="{}")
    [held] = desk.ok(f"Workers/{desk.alice}/Reservations", params={"Active": "true"})["contents"]
    desk.ok(f"Workers/{desk.alice}/Reservations/{held['sid']}", "POST", {"ReservationStatus": "accepted"})
    desk.ok(f"Workers/{desk.alice}/Transfers", "POST",
            {"ReservationSid": held["sid"], "TaskSid": task.sid, "To": desk.bob, "Mode": "COLD"})
    [offer] = [r for r in desk.ws.tasks(task.sid).reservations.list() if r.worker_sid == desk.bob]
    desk.ok(f"Workers/{desk.bob}/Reservations/{offer.sid}", "POST", {"ReservationStatus": "accepted"},
            token=desk.token(desk.bob))
    holders = {r.worker_sid: r.reservation_status for r in desk.ws.tasks(task.sid).reservations.list()}
    assert holders == {desk.alice: "completed", desk.bob: "accepted"}
    assert desk.ws.workers(desk.alice).worker_channels("default").fetch().assigned_tasks == 0
    code, body = desk.post(f"Workers/{desk.alice}/Transfers", "POST",
                           {"ReservationSid": held["sid"], "TaskSid": task.sid, "To": desk.bob})
    assert code == 400  # Alice no longer holds it
    for to in ("WQ" + "0" * 32, desk.bob, "nobody"):  # an unknown queue, the worker itself, not a SID
        code, body = desk.post(f"Workers/{desk.bob}/Transfers", "POST",
                               {"ReservationSid": offer.sid, "TaskSid": task.sid, "To": to}, token=desk.token(desk.bob))
        assert code == 400 and "Invalid To" in body["message"], to
    assert hub is not None


def test_a_canceled_task_reaches_the_worker_it_was_offered_to(desk):
    hub = desk.emu.app.config["event_bridge"].hub
    alice = Recorder(desk.sid, desk.alice)
    hub.add(alice)
    desk.ws.workers(desk.alice).update(activity_sid=desk.activities["Available"])
    task = desk.ws.tasks.create(attributes="{}")
    desk.ws.tasks(task.sid).update(assignment_status="canceled", reason="Time to go home")
    assert [f["event_type"] for f in alice.frames][-2:] == ["reservation.canceled", "task.canceled"]
    canceled = alice.frames[-2]["payload"]["task"]
    assert (canceled["assignment_status"], canceled["reason"]) == ("canceled", "Time to go home")


def test_a_transfer_under_way_survives_a_snapshot(desk):
    alice, bob, task, held, transfer = _transfer_setup(desk)
    document = json.loads(json.dumps(desk.emu.snapshot()))
    [ws_doc] = [w for account in document["accounts"] for w in account["workspaces"]]
    desk.emu.restore(document)
    [offer] = [r for r in desk.ws.tasks(task.sid).reservations.list() if r.worker_sid == desk.bob]
    desk.ok(f"Workers/{desk.bob}/Reservations/{offer.sid}", "POST", {"ReservationStatus": "rejected"},
            token=desk.token(desk.bob))
    assert desk.ws.tasks(task.sid).fetch().assignment_status == "assigned"
    status = desk.ok(f"Workers/{desk.alice}/Transfers/{transfer['sid']}")["transfer_status"]
    assert status == "failed"
    assert ws_doc["transfers"][0]["sid"] == transfer["sid"]
    assert {t["sid"]: t.get("transfer_sid") for t in ws_doc["tasks"]}[task.sid] == transfer["sid"]


# --- transfers to a TaskQueue: the router offers the task to the queue's workers ----------------
def _queue_transfer(desk: Desk, mode: str):
    alice, bob, task, held = _alice_holds_a_task(desk)
    queue = desk.ws.task_queues.create(friendly_name="Escalations", target_workers="1==1").sid
    desk.ws.workers(desk.bob).update(activity_sid=desk.activities["Available"])
    transfer = desk.ok(f"Workers/{desk.alice}/Transfers", "POST",
                       {"ReservationSid": held["sid"], "TaskSid": task.sid, "To": queue, "Mode": mode},
                       headers={"apiVersion": "v2"})
    return alice, bob, task, held, queue, transfer


def _types(recorder: Recorder) -> list[str]:
    return [f["event_type"] for f in recorder.frames]


@pytest.mark.parametrize("mode, alice_after", [("WARM", "accepted"), ("COLD", "completed")])
def test_a_transfer_to_a_queue_is_routed_there_and_accepted(desk, mode, alice_after):
    alice, bob, task, held, queue, transfer = _queue_transfer(desk, mode)
    assert (transfer["transfer_type"], transfer["transfer_to"], transfer["transfer_mode"],
            transfer["transfer_status"]) == ("QUEUE", queue, mode, "initiated")
    assert transfer["initiating_queue_sid"] != queue  # the queue the task was in
    offer = bob.frames[-1]
    assert offer["event_type"] == "reservation.created"
    assert offer["payload"]["task_transfer"]["sid"] == transfer["sid"]
    assert (offer["payload"]["task"]["assignment_status"], offer["payload"]["task"]["queue_sid"]) == ("reserved", queue)
    assert "task.transfer-initiated" in _types(alice)
    desk.ok(f"Workers/{desk.bob}/Reservations/{offer['payload']['sid']}", "POST", {"ReservationStatus": "accepted"},
            token=desk.token(desk.bob))
    [completed] = [f for f in alice.frames if f["event_type"] == "task.transfer-completed"]
    assert completed["payload"]["transfer_status"] == "complete"
    holders = {r.worker_sid: r.reservation_status for r in desk.ws.tasks(task.sid).reservations.list()}
    assert holders == {desk.alice: alice_after, desk.bob: "accepted"}
    fetched = desk.ws.tasks(task.sid).fetch()
    assert (fetched.assignment_status, fetched.task_queue_sid) == ("assigned", queue)
    # the Events resource logs the transfer with the queue it started from
    [logged] = desk.ws.events.list(event_type="task.transfer-completed")
    assert logged.resource_sid == task.sid and logged.event_data["task_queue_sid"] == transfer["initiating_queue_sid"]


def test_a_rejected_offer_is_a_failed_attempt_then_the_queue_offers_it_again(desk):
    alice, bob, task, held, queue, transfer = _queue_transfer(desk, "WARM")
    offer = bob.frames[-1]["payload"]
    desk.ok(f"Workers/{desk.bob}/Reservations/{offer['sid']}", "POST", {"ReservationStatus": "rejected"},
            token=desk.token(desk.bob))
    [rejected] = [f for f in bob.frames if f["event_type"] == "reservation.rejected"]
    assert rejected["payload"]["task_transfer"]["transfer_status"] == "initiated"
    assert _types(alice)[-2:] == ["task.transfer-attempt-failed", "task.updated"]
    attempt = alice.frames[-2]["payload"]
    assert (attempt["sid"], attempt["transfer_status"]) == (transfer["sid"], "initiated")
    assert attempt["transfer_failed_reason"].startswith("Transfer attempt failed on reservation reject")
    assert alice.frames[-1]["payload"]["assignment_status"] == "pending"
    assert desk.ws.events.list(event_type="task.transfer-attempt-failed")[0].resource_sid == task.sid
    # Bob passed on it; Carol joins the queue and gets the transfer's next offer
    carol = desk.ws.workers.create(friendly_name="carol", activity_sid=desk.activities["Available"]).sid
    [second] = [r for r in desk.ws.tasks(task.sid).reservations.list() if r.reservation_status == "pending"]
    assert second.worker_sid == carol
    assert desk.ok(f"Workers/{carol}/Reservations/{second.sid}", token=desk.token(carol))["task_transfer"]["sid"] \
        == transfer["sid"]
    assert desk.ok(f"Workers/{desk.alice}/Transfers/{transfer['sid']}")["transfer_status"] == "initiated"
    # Alice withdraws it: Carol's offer is canceled, the task is Alice's again, in its first queue
    desk.ok(f"Workers/{desk.alice}/Transfers/{transfer['sid']}", "POST", {"TaskSid": task.sid,
                                                                          "TransferStatus": "canceled"})
    assert desk.ws.tasks(task.sid).reservations(second.sid).fetch().reservation_status == "canceled"
    assert _types(alice)[-2:] == ["task.transfer-canceled", "task.updated"]
    fetched = desk.ws.tasks(task.sid).fetch()
    assert (fetched.assignment_status, fetched.task_queue_sid) == ("assigned", transfer["initiating_queue_sid"])
    desk.emu.clock.advance(3600)  # nothing routes it again
    assert [r.worker_sid for r in desk.ws.tasks(task.sid).reservations.list()
            if r.reservation_status in ("pending", "accepted")] == [desk.alice]


def test_an_offer_that_times_out_fails_the_transfer_to_a_queue(desk):
    alice, bob, task, held, queue, transfer = _queue_transfer(desk, "COLD")
    offer = bob.frames[-1]["payload"]
    desk.emu.clock.advance(offer["reservation_timeout"])
    assert desk.ws.tasks(task.sid).reservations(offer["sid"]).fetch().reservation_status == "timeout"
    assert _types(alice)[-2:] == ["task.transfer-failed", "task.updated"]
    failed = alice.frames[-2]["payload"]
    assert (failed["transfer_status"], failed["transfer_failed_reason"]) == \
        ("failed", "Transfer failed because the reservation timed out")
    assert alice.frames[-1]["payload"]["assignment_status"] == "assigned"
    holders = {r.worker_sid: r.reservation_status for r in desk.ws.tasks(task.sid).reservations.list()}
    assert holders == {desk.alice: "accepted", desk.bob: "timeout"}
    # the task can be transferred again (the failed one is over)
    again = desk.ok(f"Workers/{desk.alice}/Transfers", "POST",
                    {"ReservationSid": held["sid"], "TaskSid": task.sid, "To": queue})
    assert again["transfer_status"] == "initiated" and again["sid"] != transfer["sid"]
