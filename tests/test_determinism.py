"""With a seed, a scenario gives the same SIDs, timestamps and event history every run, in-process
and over loopback HTTP alike."""

from __future__ import annotations

import json

import requests
from twilio.rest import Client

from emulator import TaskRouterEmulator

ACCOUNT = "AC" + "a" * 32
START = "2026-01-01T00:00:00Z"
SEED = "determinism"
HOST = "https://taskrouter.twilio.com"
# Everything a scenario leaves behind, listed through the API (each followed over every page).
# Callbacks are captured (the facade's default), so the inbox is part of what must repeat.
EVENTS_URL = "https://app.test/taskrouter/events"
ASSIGNMENT_URL = "https://app.test/taskrouter/assignment"
LISTINGS = ["Activities", "TaskChannels", "TaskQueues", "Workflows", "Workers", "Tasks", "Events"]


def scenario(client: Client, advance) -> str:
    """Workspace, activities, queues, workflow, workers; tasks routed, accepted, rejected, timed out,
    completed; the clock moved past reservation timeouts and finished-task deletion."""
    ws = client.taskrouter.v1.workspaces.create(friendly_name="Determinism", event_callback_url=EVENTS_URL)
    api = client.taskrouter.v1.workspaces(ws.sid)
    activities = {a.friendly_name: a.sid for a in api.activities.list()}
    busy = api.activities.create(friendly_name="Busy", available=False).sid
    sales = api.task_queues.create(friendly_name="Sales", target_workers="skills HAS 'sales'",
                                   reservation_activity_sid=busy, assignment_activity_sid=busy).sid
    everyone = api.task_queues.create(friendly_name="Everyone", target_workers="1==1").sid
    workflow = api.workflows.create(friendly_name="Inbound", task_reservation_timeout=30,
                                    assignment_callback_url=ASSIGNMENT_URL, configuration=json.dumps({
        "task_routing": {"filters": [{"expression": "type == 'sales'",
                                      "targets": [{"queue": sales, "timeout": 60}, {"queue": everyone}]}],
                         "default_filter": {"queue": everyone}}})).sid
    workers = [api.workers.create(friendly_name=name, attributes=json.dumps({"skills": skills}),
                                  activity_sid=activities["Available"]).sid
               for name, skills in (("Alice", ["sales"]), ("Bob", ["support"]), ("Carol", ["sales", "support"]))]
    tasks = [api.tasks.create(workflow_sid=workflow, attributes=json.dumps({"type": kind, "n": n}), timeout=3600).sid
             for n, kind in enumerate(("sales", "support", "sales", "sales"))]
    advance(5)
    accepted = 0
    for task in tasks:
        for reservation in api.tasks(task).reservations.list(reservation_status="pending"):
            if accepted < 2:
                reservation.update(reservation_status="accepted")
                accepted += 1
            else:
                reservation.update(reservation_status="rejected")
    advance(45)   # reservation timeouts
    advance(30)   # sales target timeout: on to Everyone
    for task in tasks:
        if api.tasks(task).fetch().assignment_status == "assigned":
            api.tasks(task).update(assignment_status="completed", reason="done")
    api.workers(workers[1]).update(activity_sid=activities["Offline"])
    advance(400)  # finished tasks are deleted five minutes after they end
    return ws.sid


def history(get, workspace_sid: str, base: str) -> dict:
    """Every listing of the workspace over all its pages, with the host taken out of URLs."""
    found = {}
    for name in LISTINGS:
        url, pages = f"{base}/v1/Workspaces/{workspace_sid}/{name}?PageSize=7", []
        while url:
            page = get(url)
            pages.append(page)
            url = page["meta"]["next_page_url"]
        found[name] = json.loads(json.dumps(pages).replace(base, "{host}"))
    return found


def in_process_run() -> tuple[str, dict]:
    with TaskRouterEmulator(start=START, seed=SEED, strict_schema=True) as emu, emu.mock():
        sid = scenario(Client(ACCOUNT, "token"), emu.clock.advance)
        found = history(lambda url: requests.get(url, auth=(ACCOUNT, "token"), timeout=5).json(), sid, HOST)
        found["inbox"] = emu.app.test_client().get("/_emulator/webhooks").get_json()["webhooks"]
        return sid, found


def server_run() -> tuple[str, dict]:
    with TaskRouterEmulator(start=START, seed=SEED, strict_schema=True) as emu, emu.serve() as server:
        def advance(seconds):
            requests.post(f"{server.url}/_emulator/clock/advance", data={"Seconds": seconds}, timeout=5)

        sid = scenario(server.client(), advance)
        found = history(lambda url: requests.get(url, auth=(ACCOUNT, "token"), timeout=5).json(), sid, server.url)
        found["inbox"] = requests.get(f"{server.url}/_emulator/webhooks", timeout=5).json()["webhooks"]
        return sid, found


def test_the_same_seeded_scenario_is_identical_in_process_and_over_loopback():
    runs = [in_process_run(), in_process_run(), server_run(), server_run()]
    first_sid, first = runs[0]
    events = [e for page in first["Events"] for e in page["events"]]
    # The scenario did what it says, so the comparison covers real routing history.
    kinds = {e["event_type"] for e in events}
    assert {"reservation.accepted", "reservation.rejected", "reservation.timeout", "task.completed",
            "task-queue.moved", "worker.activity.update"} <= kinds
    completed = {e["resource_sid"] for e in events if e["event_type"] == "task.completed"}
    listed = {t["sid"] for page in first["Tasks"] for t in page["tasks"]}
    assert completed and not completed & listed  # deleted five minutes after completion
    assert len(first["Events"]) > 3  # several pages
    assert max(e["event_date"] for e in events) > "2026-01-01T00:01:00Z"  # timers fired on the virtual clock
    inbox = first["inbox"]
    assert {w["kind"] for w in inbox} == {"event", "assignment"}
    # one event callback per event of the workspace, and an assignment callback per reservation
    assert sorted(w["params"]["Sid"] for w in inbox if w["kind"] == "event") == sorted(e["sid"] for e in events)
    assert (sorted(w["params"]["ReservationSid"] for w in inbox if w["kind"] == "assignment")
            == sorted(e["resource_sid"] for e in events if e["event_type"] == "reservation.created"))
    for sid, found in runs[1:]:
        assert sid == first_sid
        for name in [*LISTINGS, "inbox"]:
            assert found[name] == first[name], name


def test_a_seeded_emulator_mints_the_same_api_keys_and_tokens_every_run():
    def run():
        emu = TaskRouterEmulator(seed=SEED, start=START, account_sid=ACCOUNT)
        key = emu.add_api_key()
        ws = emu.client().taskrouter.v1.workspaces.create(friendly_name="Keys")
        return key, emu.worker_token(None, ws.sid, role="admin"), emu

    (key, token, emu), (key2, token2, _) = run(), run()
    assert key == key2 and token == token2
    assert key[0].startswith("SK") and len(key[0]) == 34 and len(key[1]) == 32
    # a different seed draws a different key; a key given is kept
    assert TaskRouterEmulator(seed="other", account_sid=ACCOUNT).add_api_key() != key
    assert emu.add_api_key("SK" + "1" * 32, "s3cret") == ("SK" + "1" * 32, "s3cret")
