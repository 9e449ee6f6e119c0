"""``--state-file``: a real server process killed at any moment loses no acknowledged write;
SIGTERM exits in time whatever the callbacks do; nothing temporary is left behind."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from flask import Flask
from twilio.rest import Client

from emulator.server import Server

ACCOUNT = "AC" + "a" * 32
AUTH = (ACCOUNT, "token")


def _start(state: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "serve", "--port", "0", "--seed", "3",
                             "--state-file", str(state), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while True:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"the server exited before serving: {proc.stderr.read()}")
        if line.startswith("TaskRouter emulator "):
            return proc, line.split(" serving on ")[1].split()[0]


def _client(url: str) -> Client:
    client = Client(*AUTH)
    client.taskrouter.base_url = url
    return client


def _kill(proc: subprocess.Popen) -> None:
    proc.kill()  # SIGKILL: no handler runs, nothing is flushed on the way out
    proc.wait(timeout=10)
    proc.stdout.close()
    proc.stderr.close()


@pytest.mark.parametrize("sync", ["always", "everysec"])
def test_kill_9_mid_load_loses_no_acknowledged_write(tmp_path, sync):
    state = tmp_path / "state.json"
    # real clock: timers fire by themselves while writes come in; compactions run during the load
    proc, url = _start(state, "--clock", "real", "--webhooks", "capture", "--state-sync", sync,
                       "--state-interval", "0.2")
    client = _client(url)
    ws = client.taskrouter.v1.workspaces.create(friendly_name="Load", template="FIFO")
    workspace = client.taskrouter.v1.workspaces(ws.sid)
    activities = {a.friendly_name: a.sid for a in workspace.activities.list()}
    workers = [workspace.workers.create(friendly_name=f"w{n}").sid for n in range(4)]
    acknowledged: dict[str, dict] = {}
    activity_of: dict[str, tuple[str, str | None]] = {}  # worker -> (last acknowledged, in flight)
    stop = threading.Event()

    def load(n: int) -> None:
        session = requests.Session()
        names = ["Available", "Offline"]
        i = 0
        while not stop.is_set():
            i += 1
            try:
                answer = session.post(f"{url}/v1/Workspaces/{ws.sid}/Tasks", auth=AUTH, timeout=5,
                                      data={"Attributes": json.dumps({"n": n, "i": i}), "Timeout": "3600"})
                if answer.status_code == 201:
                    acknowledged[answer.json()["sid"]] = {"n": n, "i": i}
                wanted = activities[names[i % 2]]
                activity_of[workers[n]] = (activity_of.get(workers[n], (None, None))[0], wanted)
                answer = session.post(f"{url}/v1/Workspaces/{ws.sid}/Workers/{workers[n]}", auth=AUTH, timeout=5,
                                      data={"ActivitySid": wanted})
                if answer.status_code == 200:
                    activity_of[workers[n]] = (wanted, None)
            except requests.RequestException:
                return  # the server is gone

    threads = [threading.Thread(target=load, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(2.0)
    _kill(proc)
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    assert len(acknowledged) > 20

    proc, url = _start(state, "--clock", "real", "--webhooks", "capture", "--state-sync", sync)
    try:
        client = _client(url)
        kept = {t.sid: t.attributes for t in client.taskrouter.v1.workspaces(ws.sid).tasks.list(page_size=1000)}
        missing = [sid for sid in acknowledged if sid not in kept]
        assert missing == []
        assert all(json.loads(kept[sid]) == attributes for sid, attributes in acknowledged.items())
        for worker, (last, in_flight) in activity_of.items():
            now = client.taskrouter.v1.workspaces(ws.sid).workers(worker).fetch().activity_sid
            assert now in (last, in_flight)
        assert not list(tmp_path.glob("*.tmp"))
    finally:
        _kill(proc)


def _hanging_receiver() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(50)
    return sock


def test_sigterm_during_a_hanging_delivery_exits_in_time_and_loses_nothing(tmp_path):
    state = tmp_path / "state.json"
    hanging = _hanging_receiver()
    try:
        proc, url = _start(state, "--clock", "manual", "--webhooks", "http")
        client = _client(url)
        ws = client.taskrouter.v1.workspaces.create(
            friendly_name="Hanging", template="FIFO",
            event_callback_url=f"http://127.0.0.1:{hanging.getsockname()[1]}/events#rt=120000")
        task = client.taskrouter.v1.workspaces(ws.sid).tasks.create(attributes='{"kept": true}')
        time.sleep(0.2)  # the deliveries are under way, waiting for an answer that never comes
        proc.send_signal(signal.SIGTERM)
        # exited cleanly long before the deliveries' own 120 s read timeout: it did not wait for them
        assert proc.wait(timeout=60) == 0
        proc.stdout.close()
        proc.stderr.close()

        proc, url = _start(state, "--clock", "manual", "--webhooks", "capture")
        try:
            client = _client(url)
            assert json.loads(client.taskrouter.v1.workspaces(ws.sid).tasks(task.sid).fetch().attributes) == {"kept": True}
            # the callbacks that never finished are still there (and sent again: captured this time)
            inbox = requests.get(f"{url}/_emulator/webhooks", params={"TaskSid": task.sid}, timeout=5).json()
            assert [r["event_type"] for r in inbox["webhooks"]][:2] == ["task.created", "workflow.entered"]
            assert all(r["done"] for r in inbox["webhooks"])
            assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.json.journal.2"]
        finally:
            _kill(proc)
    finally:
        hanging.close()


def test_assignment_answers_and_restores_survive_a_kill(tmp_path):
    receiver = Flask("receiver")

    @receiver.post("/assign")
    def assign():
        return {"instruction": "accept"}

    state = tmp_path / "state.json"
    with Server(receiver, "127.0.0.1", 0) as answering:
        proc, url = _start(state, "--clock", "manual", "--webhooks", "http")
        client = _client(url)
        ws = client.taskrouter.v1.workspaces.create(friendly_name="Answers", template="FIFO")
        workspace = client.taskrouter.v1.workspaces(ws.sid)
        available = next(a.sid for a in workspace.activities.list() if a.friendly_name == "Available")
        workflow = workspace.workflows.list()[0]
        workspace.workflows(workflow.sid).update(assignment_callback_url=answering.url + "/assign")
        workspace.workers.create(friendly_name="alice", activity_sid=available)
        task = workspace.tasks.create(attributes="{}")
        deadline = time.monotonic() + 10
        while workspace.tasks(task.sid).fetch().assignment_status != "assigned":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1.2)  # the journal writes finished callbacks within a second
        _kill(proc)

    proc, url = _start(state, "--clock", "manual", "--webhooks", "capture")
    try:
        client = _client(url)
        assert client.taskrouter.v1.workspaces(ws.sid).tasks(task.sid).fetch().assignment_status == "assigned"
        assignment = requests.get(f"{url}/_emulator/webhooks", params={"Kind": "assignment"}, timeout=5).json()
        (record,) = assignment["webhooks"]
        assert record["response"]["status"] == 200 and "accept" in record["outcome"]
        # a restore becomes the journal's base at once: a kill right after keeps it
        document = requests.post(f"{url}/_emulator/snapshot", timeout=5).json()
        client.taskrouter.v1.workspaces.create(friendly_name="Gone after the restore")
        assert requests.post(f"{url}/_emulator/restore", json=document, timeout=5).ok
        client.taskrouter.v1.workspaces.create(friendly_name="After the restore")
        _kill(proc)
        proc, url = _start(state, "--clock", "manual", "--webhooks", "capture")
        names = sorted(w.friendly_name for w in _client(url).taskrouter.v1.workspaces.list())
        assert names == ["After the restore", "Answers"]
    finally:
        _kill(proc)


def test_a_state_file_that_cannot_be_written_stops_the_start(tmp_path):
    state = tmp_path / "state.json"
    (tmp_path / "state.json.tmp").mkdir()  # where the snapshot is written before its rename
    (tmp_path / "state.json.tmp" / "keep").write_text("x")
    result = subprocess.run([sys.executable, "-m", "emulator", "serve", "--port", "0", "--state-file", str(state)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert f"--state-file {state}" in result.stderr and "Traceback" not in result.stderr


def test_a_replay_rebuilds_the_same_state_while_timers_fire_between_writes(tmp_path):
    from emulator.facade import TaskRouterEmulator
    from emulator.journal import Journal

    wall = [1_000.0]  # a real-mode clock on a wall that moves only when the test says

    def build():
        emu = TaskRouterEmulator(clock="real", start="2026-01-01T00:00:00Z", seed=7, wall=lambda: wall[0])
        journal = Journal(str(tmp_path / "state.json"), emu.backend, emu.webhooks, emu.app, interval=0)
        return emu.clock, emu.app, journal

    def state(clock, app) -> list:
        # What happened and in which order; the instants a timer's effects are stamped with may
        # differ by the delay with which the real-mode clock fired it.
        clock.fire_due()
        http = app.test_client()
        base = f"/v1/Workspaces/{ws}"
        tasks = http.get(f"{base}/Tasks?PageSize=1000", auth=AUTH).get_json()["tasks"]
        reservations = [(r["sid"], r["task_sid"], r["worker_sid"], r["reservation_status"])
                        for t in tasks for r in http.get(f"{base}/Tasks/{t['sid']}/Reservations", auth=AUTH)
                        .get_json()["reservations"]]
        workers = http.get(f"{base}/Workers", auth=AUTH).get_json()["workers"]
        events = http.get(f"{base}/Events?PageSize=1000", auth=AUTH).get_json()["events"]
        inbox = http.get("/_emulator/webhooks").get_json()["webhooks"]
        return [[(t["sid"], t["assignment_status"], t["reason"], t["attributes"], t["date_created"]) for t in tasks],
                reservations, [(w["sid"], w["activity_sid"], w["available"]) for w in workers],
                [(e["event_type"], e["resource_sid"]) for e in events],
                [(r["id"], r["event_type"], r["params"].get("TaskSid")) for r in inbox]]

    clock, app, journal = build()
    assert journal.load() is False
    journal.start()
    http = app.test_client()
    ws = http.post("/v1/Workspaces", data={"FriendlyName": "Replay", "Template": "FIFO",
                                           "EventCallbackUrl": "https://app.test/e"}, auth=AUTH).get_json()["sid"]
    base = f"/v1/Workspaces/{ws}"
    available = next(a["sid"] for a in http.get(f"{base}/Activities", auth=AUTH).get_json()["activities"]
                     if a["friendly_name"] == "Available")
    workers = [http.post(f"{base}/Workers", data={"FriendlyName": f"w{n}", "ActivitySid": available},
                         auth=AUTH).get_json()["sid"] for n in range(2)]
    for n in range(12):
        wall[0] += 7.3  # past reservation timeouts (120 s) and task TTLs (20 s) now and then
        http.post(f"{base}/Tasks", data={"Attributes": json.dumps({"n": n}), "Timeout": "20"}, auth=AUTH)
        if n % 3 == 0:
            http.post(f"{base}/Workers/{workers[n % 2]}", data={"ActivitySid": available}, auth=AUTH)
        if n == 6:
            journal.compact()
    before = state(clock, app)
    assert any(status == "canceled" for _, status, *_ in before[0])  # timers did fire
    journal.close()
    clock.stop()

    clock, app, journal = build()
    assert journal.load() is True
    try:
        after = state(clock, app)
        assert after == before
    finally:
        journal.close()
        clock.stop()


def test_a_compaction_does_not_wait_for_a_hanging_receiver(tmp_path):
    from emulator.facade import TaskRouterEmulator
    from emulator.journal import Journal

    hanging = _hanging_receiver()
    emu = TaskRouterEmulator(start="2026-01-01T00:00:00Z", seed=5, webhooks="http")
    webhooks, app = emu.webhooks, emu.app
    journal = Journal(str(tmp_path / "state.json"), emu.backend, webhooks, app, interval=0)
    try:
        journal.load()
        journal.start()
        http = app.test_client()
        http.post("/v1/Workspaces", data={"FriendlyName": "Held", "EventCallbackUrl":
                                          f"http://127.0.0.1:{hanging.getsockname()[1]}/e#rt=120000"}, auth=AUTH)
        hanging_deliveries = [r for r in webhooks.inbox if not r.done]
        assert hanging_deliveries  # a delivery hangs, for up to 120 s
        journal.compact()
        # the compaction finished while the delivery still hung: it did not wait for it
        assert not any(r.done for r in hanging_deliveries)
        saved = json.loads((tmp_path / "state.json").read_text())
        assert saved["generation"] == 2 and sorted(p.name for p in tmp_path.iterdir()) == [
            "state.json", "state.json.journal.2"]
    finally:
        webhooks.close(timeout=0.1)
        journal.close()
        hanging.close()


def _journal(tmp_path):
    from emulator.facade import TaskRouterEmulator
    from emulator.journal import Journal

    emu = TaskRouterEmulator(start="2026-01-01T00:00:00Z", seed=7)
    return emu.backend, Journal(str(tmp_path / "state.json"), emu.backend, emu.webhooks, emu.app, interval=0)


@pytest.mark.parametrize("generation", ['"1"', "[1]", "1e400", "-1", "true"])
def test_a_state_file_with_a_bad_generation_is_refused_by_name(tmp_path, generation):
    from emulator.journal import STATE_FORMAT, JournalError

    _, journal = _journal(tmp_path)
    (tmp_path / "state.json").write_text(f'{{"format": "{STATE_FORMAT}", "generation": {generation}, "snapshot": {{}}}}')
    with pytest.raises(JournalError, match='"generation" must be a non-negative integer'):
        journal.load()


def test_damaged_journal_lines_are_skipped_and_the_others_replayed(tmp_path):
    from emulator.journal import JournalError

    backend, journal = _journal(tmp_path)
    journal.start()  # writes the state file (generation 1) that the journal lines follow
    journal.close()
    write = {"k": "http", "t": None, "m": "POST", "p": "/v1/Workspaces", "q": [], "f": [["FriendlyName", "Kept"]],
             "a": ACCOUNT, "mode": "manual"}
    damaged = [[1, 2], {"k": "http"}, {**write, "f": [["FriendlyName"]]}, {**write, "q": "x=1"},
               {"k": "done", "id": "1", "f": {}}, {"k": "done", "id": 1, "f": {}, "ans": {"bogus": 1}}, {"k": "other"}]
    lines = [json.dumps(entry) for entry in damaged] + ["not json", json.dumps(write)]
    segment = tmp_path / "state.json.journal.1"
    segment.write_text("".join(line + "\n" for line in lines))
    backend, journal = _journal(tmp_path)
    assert journal.load() is True
    assert [ws.friendly_name for ws in backend.workspaces(ACCOUNT).values()] == ["Kept"]
    # bytes that are not UTF-8: refused by name, no traceback
    segment.write_bytes(b"\xff\xfe\n")
    with pytest.raises(JournalError, match="cannot read the journal"):
        _journal(tmp_path)[1].load()


def test_the_state_file_and_its_journal_are_readable_by_their_owner_only(tmp_path):
    """The journal holds the auth tokens that requests were made with."""
    import os
    import stat

    _, journal = _journal(tmp_path)
    old_umask = os.umask(0o022)  # the usual umask: files made with the defaults would be 0644
    try:
        (tmp_path / "state.json.journal.1").write_text("")  # left world-readable by an older version
        journal.start()
        http = journal.app.test_client()
        assert http.post("/v1/Workspaces", data={"FriendlyName": "Secret"}, auth=(ACCOUNT, "s3cret")).status_code == 201
        journal.commit()
        written = sorted(tmp_path.iterdir())
        assert [p.name for p in written] == ["state.json", "state.json.journal.1"]
        assert "s3cret" in (tmp_path / "state.json.journal.1").read_text()
        assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in written} == {p.name: 0o600 for p in written}
        journal.compact()  # the snapshot goes through a temporary file: same mode
        assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()} == {
            "state.json": 0o600, "state.json.journal.2": 0o600}
    finally:
        os.umask(old_umask)
        journal.close()


def test_an_empty_state_file_is_a_fresh_start(tmp_path):
    state = tmp_path / "state.json"
    state.write_text("")  # what `touch` or `mktemp` leave
    proc, url = _start(state, "--clock", "manual")
    try:
        ws = _client(url).taskrouter.v1.workspaces.create(friendly_name="First")
        _kill(proc)
        proc, url = _start(state, "--clock", "manual")
        assert [w.sid for w in _client(url).taskrouter.v1.workspaces.list()] == [ws.sid]
    finally:
        _kill(proc)


def test_an_empty_state_file_with_a_journal_beside_it_is_refused_by_name(tmp_path):
    state = tmp_path / "state.json"
    state.write_text("")
    (tmp_path / "state.json.journal.3").write_text("{}\n")
    result = subprocess.run([sys.executable, "-m", "emulator", "serve", "--port", "0", "--state-file", str(state)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert f"{state} is empty but its journal" in result.stderr and "Expecting value" not in result.stderr
    assert (tmp_path / "state.json.journal.3").read_text() == "{}\n"  # nothing was touched
