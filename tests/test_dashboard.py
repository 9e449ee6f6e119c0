"""The dashboard's data routes (``/_emulator/dashboard/*``) and its page at ``/``: what they show
after real client calls, paging and filters, timelines, and bad input."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from importlib import resources

import pytest
from conftest import ACCOUNT_SID

BASE = "/_emulator/dashboard"


def _desk(client):
    """A workspace with one queue, a 60-second reservation timeout, Alice available and Bob offline."""
    ws = client.taskrouter.v1.workspaces.create(friendly_name="Desk", event_callback_url="https://desk.test/events")
    context = client.taskrouter.v1.workspaces(ws.sid)
    activities = {a.friendly_name: a.sid for a in context.activities.list()}
    queue = context.task_queues.create(friendly_name="Support", target_workers="skill == 'support'")
    config = {"task_routing": {"filters": [{"filter_friendly_name": "all", "expression": "1 == 1",
                                            "targets": [{"queue": queue.sid}]}]}}
    workflow = context.workflows.create(friendly_name="Flow", configuration=json.dumps(config),
                                        task_reservation_timeout=60)
    alice = context.workers.create(friendly_name="Alice", attributes=json.dumps({"skill": "support"}),
                                   activity_sid=activities["Available"])
    bob = context.workers.create(friendly_name="Bob", attributes=json.dumps({"skill": "support"}))
    return context, queue, workflow, alice, bob, activities


def _get(emu, path: str, status: int = 200):
    response = emu.http.get(path)
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def test_state_lists_accounts_workspaces_clock_and_inbox(emu, client):
    context, *_ = _desk(client)
    client.taskrouter.v1.workspaces.create(friendly_name="Second")
    state = _get(emu, f"{BASE}/state")
    assert state["clock"]["now"] == "2026-01-01T00:00:00.000Z" and state["clock"]["mode"] == "manual"
    [account] = state["accounts"]
    assert account["account_sid"] == ACCOUNT_SID
    assert [(w["friendly_name"], w["workers"], w["task_queues"]) for w in account["workspaces"]] == [
        ("Desk", 2, 1), ("Second", 0, 0)]
    assert state["inbox"]["count"] == len(emu.webhooks.inbox) > 0
    assert state["inbox"]["last_id"] == list(emu.webhooks.inbox)[-1].id


def test_workspace_view_shows_queue_figures_workers_tasks_and_reservations(emu, client):
    context, queue, workflow, alice, bob, activities = _desk(client)
    first = context.tasks.create(workflow_sid=workflow.sid, attributes="{}")
    second = context.tasks.create(workflow_sid=workflow.sid, attributes="{}", priority=5)
    emu.clock.advance(12)
    view = _get(emu, f"{BASE}/accounts/{ACCOUNT_SID}/workspaces/{context._solution['sid']}")

    [q] = view["task_queues"]
    assert q["sid"] == queue.sid
    assert q["realtime"]["tasks_by_status"] == {"pending": 1, "reserved": 1, "assigned": 0, "wrapping": 0}
    assert (q["realtime"]["total_eligible_workers"], q["realtime"]["total_available_workers"]) == (2, 1)
    assert q["realtime"]["longest_task_waiting_age"] == 12

    workers = {w["friendly_name"]: w for w in view["workers"]["items"]}
    assert [r["task_sid"] for r in workers["Alice"]["reservations"]] == [first.sid]
    assert workers["Bob"]["reservations"] == [] and workers["Bob"]["available"] is False
    default = next(c for c in workers["Alice"]["channels"] if c["task_channel_unique_name"] == "default")
    assert default["available_capacity_percentage"] == 0  # the pending reservation uses the one slot

    tasks = view["tasks"]
    assert [(t["sid"], t["assignment_status"], t["priority"], t["age"]) for t in tasks["items"]] == [
        (second.sid, "pending", 5, 12), (first.sid, "reserved", 0, 12)]  # newest first
    assert tasks["by_status"]["pending"] == 1 and tasks["by_status"]["reserved"] == 1
    assert [r["reservation_status"] for r in view["reservations"]["items"]] == ["pending"]


@pytest.mark.parametrize("query, expected", [
    ("PageSize=2", ["t4", "t3"]),
    ("PageSize=2&TaskPage=1", ["t2", "t1"]),
    ("PageSize=2&TaskPage=9", ["t0"]),  # past the end: the last page
    ("TaskStatus=reserved", ["t0"]),
    ("TaskStatus=canceled", []),
])
def test_tasks_are_paged_and_filtered(emu, client, query, expected):
    context, queue, workflow, *_ = _desk(client)
    for n in range(5):
        context.tasks.create(workflow_sid=workflow.sid, attributes=json.dumps({"name": f"t{n}"}))
    view = _get(emu, f"{BASE}/accounts/{ACCOUNT_SID}/workspaces/{context._solution['sid']}?{query}")
    assert [json.loads(t["attributes"])["name"] for t in view["tasks"]["items"]] == expected
    assert view["tasks"]["by_status"]["pending"] == 4  # counts ignore the filters


def test_task_queue_filter(emu, client):
    context, queue, workflow, *_ = _desk(client)
    other = context.task_queues.create(friendly_name="Other", target_workers="1 == 2")
    context.tasks.create(workflow_sid=workflow.sid, attributes="{}")
    sid = context._solution["sid"]
    assert _get(emu, f"{BASE}/accounts/{ACCOUNT_SID}/workspaces/{sid}?TaskQueueSid={queue.sid}")["tasks"]["total"] == 1
    assert _get(emu, f"{BASE}/accounts/{ACCOUNT_SID}/workspaces/{sid}?TaskQueueSid={other.sid}")["tasks"]["total"] == 0


@pytest.mark.parametrize("path, status, code", [
    ("/accounts/{ac}/workspaces/{ws}?PageSize=0", 400, 20001),
    ("/accounts/{ac}/workspaces/{ws}?PageSize=201", 400, 20001),
    ("/accounts/{ac}/workspaces/{ws}?TaskPage=-1", 400, 20001),
    ("/accounts/{ac}/workspaces/{ws}?TaskPage=%C2%B2", 400, 20001),
    ("/accounts/{ac}/workspaces/{ws}?TaskStatus=done", 400, 20001),
    ("/accounts/{ac}/workspaces/{ws}?ReservationStatus=maybe", 400, 20001),
    ("/accounts/{ac}/workspaces/{ws}?TaskQueueSid=WQ" + "0" * 32, 400, 20001),
    ("/accounts/not-an-account/workspaces/{ws}", 400, 20001),
    ("/accounts/AC" + "b" * 32 + "/workspaces/{ws}", 404, 20404),  # another account's view
    ("/accounts/{ac}/workspaces/WS" + "0" * 32, 404, 20404),
    ("/accounts/{ac}/workspaces/{ws}/tasks/WT" + "0" * 32, 404, 20404),
    ("/accounts/{ac}/workspaces/{ws}/workers/WK" + "0" * 32, 404, 20404),
])
def test_bad_input_is_a_twilio_error(emu, client, path, status, code):
    context, *_ = _desk(client)
    before = _get(emu, f"{BASE}/state")
    body = _get(emu, BASE + path.format(ac=ACCOUNT_SID, ws=context._solution["sid"]), status)
    assert body["code"] == code and body["status"] == status and body["message"]
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert _get(emu, f"{BASE}/state") == before


def test_task_timeline_follows_its_life_even_after_deletion(emu, client):
    context, queue, workflow, alice, bob, activities = _desk(client)
    task = context.tasks.create(workflow_sid=workflow.sid, attributes="{}")
    emu.clock.advance(60)  # Alice does not answer: timeout; no one else is available
    context.workers(bob.sid).update(activity_sid=activities["Available"])
    [offer] = [r for r in context.tasks(task.sid).reservations.list() if r.reservation_status == "pending"]
    context.tasks(task.sid).reservations(offer.sid).update(reservation_status="accepted")
    context.tasks(task.sid).update(assignment_status="wrapping")
    context.tasks(task.sid).update(assignment_status="completed")
    path = f"{BASE}/accounts/{ACCOUNT_SID}/workspaces/{context._solution['sid']}/tasks/{task.sid}"

    life = _get(emu, path)
    types = [e["event_type"] for e in life["events"]]
    assert types[0] == "task.created"
    for earlier, later in [("task-queue.entered", "reservation.created"), ("reservation.created", "reservation.timeout"),
                           ("reservation.timeout", "reservation.accepted"), ("task.wrapup", "task.completed")]:
        assert types.index(earlier) < types.index(later)
    timeout = next(e for e in life["events"] if e["event_type"] == "reservation.timeout")
    assert timeout["event_data"]["worker_name"] == "Alice"
    assert timeout["event_date_ms"] - life["events"][0]["event_date_ms"] == 60_000
    assert [(r["worker_name"], r["reservation_status"]) for r in life["reservations"]] == [
        ("Alice", "timeout"), ("Bob", "completed")]
    assert life["task"]["assignment_status"] == "completed"

    emu.clock.advance(301)  # finished tasks are deleted after five minutes; their events stay
    gone = _get(emu, path)
    assert gone["task"] is None and [e["event_type"] for e in gone["events"]][:len(types)] == types


def test_worker_activity_spans(emu, client):
    context, queue, workflow, alice, bob, activities = _desk(client)
    emu.clock.advance(30)
    context.workers(bob.sid).update(activity_sid=activities["Available"])
    emu.clock.advance(15)
    context.workers(bob.sid).update(activity_sid=activities["Unavailable"])
    emu.clock.advance(5)
    view = _get(emu, f"{BASE}/accounts/{ACCOUNT_SID}/workspaces/{context._solution['sid']}/workers/{bob.sid}")
    spans = [(s["activity_name"], s["start_ms"], s["end_ms"]) for s in view["activity_spans"]]
    t0 = spans[0][1]
    assert [(name, start - t0, end - t0 if end else None) for name, start, end in spans] == [
        ("Offline", 0, 30_000), ("Available", 30_000, 45_000), ("Unavailable", 45_000, None)]
    assert view["now_ms"] - t0 == 50_000
    assert view["worker"]["activity_name"] == "Unavailable"


def test_the_page_is_one_document_whose_policy_admits_only_its_own_script_and_style(emu):
    response = emu.http.get("/")
    assert response.status_code == 200 and response.content_type == "text/html; charset=utf-8"
    html = response.get_data(as_text=True)
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    for tag, directive in (("script", "script-src"), ("style", "style-src")):
        [body] = re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.S)
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert re.search(rf"{directive} 'sha256-{re.escape(digest)}'", policy)
    assert not re.findall(r"https?://", html.replace("http://www.w3.org/2000/svg", ""))  # nothing from elsewhere


def test_assets_ship_in_the_package():
    static = resources.files("emulator.dashboard") / "static"
    assert {"index.html", "dashboard.js", "dashboard.css"} <= {p.name for p in static.iterdir()}


def _strict_app():
    from emulator.facade import TaskRouterEmulator
    from emulator.http import Credentials

    credentials = Credentials(tokens={ACCOUNT_SID: "token-a", OTHER: "token-b"}, admin_token="admin-secret")
    app = TaskRouterEmulator(seed=3, credentials=credentials).app
    sids = {}
    for account, token in ((ACCOUNT_SID, "token-a"), (OTHER, "token-b")):
        response = app.test_client().post("/v1/Workspaces", data={"FriendlyName": f"of {account[-1]}",
                                                                   "EventCallbackUrl": "https://app.test/e"},
                                          headers=_basic(account, token))
        sids[account] = response.get_json()["sid"]
    return app.test_client(), sids


OTHER = "AC" + "b" * 32


def _basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize("who, status, accounts", [
    (None, 401, None),
    ((ACCOUNT_SID, "wrong"), 401, None),
    ((ACCOUNT_SID, "token-a"), 200, [ACCOUNT_SID]),
    (("admin", "admin-secret"), 200, [ACCOUNT_SID, OTHER]),
])
def test_strict_mode_the_data_routes_need_the_control_apis_credentials(who, status, accounts):
    http, sids = _strict_app()
    headers = _basic(*who) if who else {}
    assert http.get("/").status_code == 200  # the page itself holds no data
    response = http.get(f"{BASE}/state", headers=headers)
    assert response.status_code == status
    if accounts is None:
        assert response.get_json()["code"] == 20003
        return
    state = response.get_json()
    assert [a["account_sid"] for a in state["accounts"]] == accounts
    assert state["access"]["all_accounts"] == (len(accounts) == 2)
    assert state["inbox"]["count"] == len(accounts)  # each account's workspace.created callback


def test_strict_mode_an_account_sees_its_own_workspaces_only():
    http, sids = _strict_app()
    mine, theirs = f"{BASE}/accounts/{ACCOUNT_SID}/workspaces/{sids[ACCOUNT_SID]}", \
        f"{BASE}/accounts/{OTHER}/workspaces/{sids[OTHER]}"
    a = _basic(ACCOUNT_SID, "token-a")
    assert http.get(mine, headers=a).status_code == 200
    refused = http.get(theirs, headers=a)
    assert refused.status_code == 403 and refused.get_json()["code"] == 20403
    assert http.get(theirs + "/workers/WK" + "0" * 32, headers=a).status_code == 403
    assert http.get(theirs, headers=_basic("admin", "admin-secret")).status_code == 200


def test_the_standalone_server_serves_the_page_and_names_it_when_it_starts():
    import subprocess
    import sys
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "emulator", "serve", "--port", "0", "--blueprint", "helpdesk"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = ""
        while not line.startswith("TaskRouter emulator "):
            line = proc.stdout.readline()
            assert line, "the server exited before serving"
        url = line.split(" dashboard at ")[1].strip()
        with urllib.request.urlopen(url, timeout=10) as page:
            assert page.status == 200 and b"<title>TaskRouter emulator</title>" in page.read()
        with urllib.request.urlopen(url + "_emulator/dashboard/state", timeout=10) as state:
            [account] = json.load(state)["accounts"]
        assert [w["friendly_name"] for w in account["workspaces"]] == ["Help Desk"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_a_waiting_task_shows_its_queue_and_who_could_take_it(emu, client):
    context, queue, workflow, alice, bob, activities = _desk(client)
    first = context.tasks.create(workflow_sid=workflow.sid, attributes="{}")  # Alice takes it
    waiting = context.tasks.create(workflow_sid=workflow.sid, attributes="{}")
    base = f"{BASE}/accounts/{ACCOUNT_SID}/workspaces/{context._solution['sid']}/tasks/"
    view = _get(emu, base + waiting.sid)["task_queue"]
    assert view["sid"] == queue.sid and view["target_workers"] == "skill == 'support'"
    assert (view["realtime"]["total_eligible_workers"], view["realtime"]["total_available_workers"]) == (2, 1)
    assert [(w["friendly_name"], w["activity_name"], w["available"], w["channel"]["available_capacity_percentage"])
            for w in view["workers"]] == [("Alice", "Available", True, 0), ("Bob", "Offline", False, 100)]
    assert _get(emu, base + first.sid)["task_queue"]["workers_total"] == 2
