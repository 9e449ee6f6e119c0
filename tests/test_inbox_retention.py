"""Bounded memory: the inbox keeps a configurable number of records for a configurable (virtual)
time, and ``GET /_emulator/webhooks`` answers in pages."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests
from conftest import ACCOUNT_SID

from emulator.facade import TaskRouterEmulator
from emulator.webhooks import Inbox, WebhookRecord

START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _record(n: int, at: datetime = START, done: bool = True) -> WebhookRecord:
    return WebhookRecord(id=n, kind="event", url="https://app.test/e", method="POST", params={}, headers={},
                         timestamp=at, account_sid=ACCOUNT_SID, workspace_sid="WS" + "0" * 32, done=done)


def test_the_oldest_records_go_past_the_count_but_an_unfinished_one_waits():
    inbox = Inbox(max_records=5)
    for n in range(1, 21):
        inbox.add(_record(n))
    assert [r.id for r in inbox] == [16, 17, 18, 19, 20] and inbox.dropped == 15
    assert inbox.get(15) is None and inbox.get(16) is not None
    pending = Inbox(max_records=2)
    pending.add(_record(1, done=False))  # still being delivered: its outcome must not be lost
    for n in range(2, 6):
        pending.add(_record(n))
    assert [r.id for r in pending][0] == 1 and len(pending) == 5
    pending.finish(pending.get(1), attempts=1)
    pending.add(_record(6))
    assert [r.id for r in pending] == [5, 6]


def test_records_older_than_the_age_go_as_new_ones_come():
    now = [START]
    inbox = Inbox(max_age=3600, now=lambda: now[0])
    for minute in range(0, 120, 10):
        now[0] = START + timedelta(minutes=minute)
        inbox.add(_record(minute, at=now[0]))
    assert [r.id for r in inbox] == [50, 60, 70, 80, 90, 100, 110]  # exactly an hour old stays


def test_a_webhooks_inbox_over_an_emulator_stays_within_its_limit():
    emu = TaskRouterEmulator(start=START, seed=2, inbox_retention={"max_records": 30})
    webhooks, http = emu.webhooks, emu.app.test_client()
    auth = (ACCOUNT_SID, "t")
    ws = http.post("/v1/Workspaces", data={"FriendlyName": "Busy", "Template": "FIFO",
                                           "EventCallbackUrl": "https://app.test/e"}, auth=auth).get_json()
    for _ in range(20):
        http.post(f"/v1/Workspaces/{ws['sid']}/Tasks", data={"Attributes": "{}"}, auth=auth)
    assert len(webhooks.inbox) == 30 and webhooks.inbox.dropped > 0
    ids = [r["id"] for r in http.get("/_emulator/webhooks").get_json()["webhooks"]]
    assert ids == sorted(ids) and ids[-1] == max(r.id for r in webhooks.inbox)


@pytest.fixture(scope="module")
def served():
    emu = TaskRouterEmulator(start=START, seed=6)
    for n in range(1, 26):
        emu.inbox.add(_record(n))
    emu.inbox.get(7).kind = "assignment"
    with emu.serve() as server:
        yield server


def test_the_control_api_pages_the_inbox(served):
    url, seen, pages = f"{served.url}/_emulator/webhooks?PageSize=10&Kind=event", [], 0
    while url:
        body = requests.get(url, timeout=5).json()
        assert len(body["webhooks"]) <= 10 and body["meta"]["page_size"] == 10
        seen += [r["id"] for r in body["webhooks"]]
        url, pages = body["meta"]["next_page_url"], pages + 1
    assert seen == [n for n in range(1, 26) if n != 7] and pages == 3
    assert requests.get(f"{served.url}/_emulator/webhooks", timeout=5).json()["meta"]["next_page_url"] is None


@pytest.mark.parametrize("size", ["0", "1001", "ten", "-1"])
def test_a_bad_page_size_is_a_400(served, size):
    answer = requests.get(f"{served.url}/_emulator/webhooks", params={"PageSize": size}, timeout=5)
    assert answer.status_code == 400 and answer.json()["code"] == 20001


def test_events_older_than_30_days_go_by_a_timer_not_by_reads():
    emu = TaskRouterEmulator(start=START, seed=3)
    backend, http = emu.backend, emu.app.test_client()
    auth = (ACCOUNT_SID, "t")
    sid = http.post("/v1/Workspaces", data={"FriendlyName": "Aging", "Template": "FIFO"}, auth=auth).get_json()["sid"]
    ws = backend.workspaces(ACCOUNT_SID)[sid]
    first = len(ws.events)
    backend.clock.advance(20 * 86400)
    http.post(f"/v1/Workspaces/{sid}/Tasks", data={"Attributes": "{}", "Timeout": "60"}, auth=auth)
    assert len(ws.events) > first
    backend.clock.advance(10 * 86400)  # the first events turn 30 days old: gone, with nobody reading
    assert len(ws.events) > 0 and all(e.event_date > START for e in ws.events.values())
    backend.clock.advance(25 * 86400)  # and then the rest
    assert len(ws.events) == 0
    assert http.get(f"/v1/Workspaces/{sid}/Events?Minutes=43200", auth=auth).get_json()["events"] == []
