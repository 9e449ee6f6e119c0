"""Checkpoints: the state as a versioned JSON document of plain data; restore rewinds the run
exactly, and any invalid document is refused with nothing changed (in-process, through
``POST /_emulator/restore`` and through ``--state-file``)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from conftest import ACCOUNT_SID

from emulator import cli, snapshot

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
GOLDEN = FIXTURES / "snapshot-v3.json"
GOLDEN_V2 = FIXTURES / "snapshot-v2.json"  # written by the emulator before events were rows


def _scenario(client, callbacks: bool = False):
    """A workspace with a task reserved (its reservation timeout pending) and one waiting."""
    ws = client.taskrouter.v1.workspaces.create(
        friendly_name="Checkpoint", template="FIFO", **({"event_callback_url": "https://app.test/events"}
                                                        if callbacks else {}))
    context = client.taskrouter.v1.workspaces(ws.sid)
    available = next(a for a in context.activities.list() if a.friendly_name == "Available")
    queue = context.task_queues.create(friendly_name="Support", target_workers="skill == 'support'")
    backup = context.task_queues.create(friendly_name="Backup", target_workers="1 == 1")
    config = {"task_routing": {"filters": [
        {"filter_friendly_name": "all", "expression": "n >= 0",
         "targets": [{"queue": queue.sid, "timeout": 100, "order_by": "worker.level DESC",
                      "expression": "worker.skill == 'support'"},
                     {"queue": backup.sid, "priority": 5}]}],
        "default_filter": {"queue": backup.sid}}}
    workflow = context.workflows.create(friendly_name="Flow", configuration=json.dumps(config),
                                        task_reservation_timeout=60)
    context.workers.create(friendly_name="Alice", attributes=json.dumps({"skill": "support", "level": 3}),
                           activity_sid=available.sid)
    for n in range(2):
        context.tasks.create(workflow_sid=workflow.sid, attributes=json.dumps({"n": n}), timeout=500)
    return context


def _history(context) -> dict:
    """Everything a client can see, as plain data."""
    return {
        "events": [(e.sid, e.event_type, e.resource_sid, e.event_date_ms) for e in context.events.list(minutes=600)],
        "tasks": [(t.sid, t.assignment_status, t.age, t.task_queue_sid, t.priority) for t in context.tasks.list()],
        "workers": [(w.sid, w.activity_name, w.available) for w in context.workers.list()],
        "reservations": sorted((r.sid, r.reservation_status) for t in context.tasks.list()
                               for r in context.tasks(t.sid).reservations.list()),
    }


def test_restore_rewinds_state_clock_timers_and_sids(emu, client):
    context = _scenario(client)
    emu.clock.advance(10)
    document = json.loads(json.dumps(snapshot.take(emu.backend)))  # survives a JSON round trip
    before = _history(context)
    assert {t["kind"] for t in document["timers"]} >= {"reservation-timeout", "task-ttl", "target-timeout"}

    emu.clock.advance(90)  # the reservation times out, the task is re-offered
    context.tasks.create(workflow_sid=context.workflows.list()[0].sid, attributes="{}")
    emu.clock.advance(400)
    first_run = _history(context)
    assert first_run != before

    snapshot.restore(emu.backend, document)
    assert _history(context) == before
    assert emu.clock.now().isoformat() == document["clock"]["now"]
    assert [(t.due.isoformat(), t.kind, t.workspace, t.subject) for t in emu.clock.pending()] == \
        [tuple(t.values()) for t in document["timers"]]

    emu.clock.advance(90)
    context.tasks.create(workflow_sid=context.workflows.list()[0].sid, attributes="{}")
    emu.clock.advance(400)
    assert _history(context) == first_run  # same SIDs, same instants, same order, same steps


def test_restore_is_idempotent_and_the_document_round_trips(emu, client):
    context = _scenario(client, callbacks=True)
    document = snapshot.take(emu.backend, emu.webhooks)
    context.tasks.create(workflow_sid=context.workflows.list()[0].sid, attributes="{}")
    snapshot.restore(emu.backend, document, emu.webhooks)
    once = _history(context)
    snapshot.restore(emu.backend, document, emu.webhooks)
    assert _history(context) == once
    assert snapshot.take(emu.backend, emu.webhooks) == document


def test_the_lock_is_held_only_while_copying_and_swapping(emu, client):
    _scenario(client)
    timings: dict = {}
    document = snapshot.take(emu.backend, timings=timings)
    assert timings["lock_ms"] >= 0
    restored: dict = {}
    snapshot.restore(emu.backend, document, timings=restored)
    assert restored["lock_ms"] >= 0


CODE_NAMES = re.compile(r"(^|[^A-Za-z])(emulator|builtins|os|sys|subprocess)\.[A-Za-z_]+(:|\.)|<function |"
                        r"<bound method| object at 0x|__[a-z]+__")


def test_a_snapshot_names_no_code(emu, client):
    """No class, function, module or private attribute of the emulator appears in a document:
    keys are the format's field names (or an event's PascalCase fields), values are data."""
    context = _scenario(client, callbacks=True)
    [offer] = [r for t in context.tasks.list() for r in context.tasks(t.sid).reservations.list()
               if r.reservation_status == "pending"]
    offer.update(instruction="conference", from_="+15550001111")
    emu.clock.advance(30)
    document = snapshot.take(emu.backend, emu.webhooks)
    properties: set[str] = set()

    def collect(schema):
        if isinstance(schema, dict):
            properties.update(schema.get("properties", {}))
            for value in schema.values():
                collect(value)
        elif isinstance(schema, list):
            for value in schema:
                collect(value)

    collect(snapshot.schema())

    def walk(value, inside_data=False):
        if isinstance(value, dict):
            for key, item in value.items():
                assert not key.startswith(("_", "$")), key
                assert inside_data or key in properties, key
                walk(item, inside_data=key in ("data", "params", "headers"))
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            assert not CODE_NAMES.search(value), value
        else:
            assert value is None or isinstance(value, (bool, int, float)), type(value)

    walk(document)
    assert not CODE_NAMES.search(json.dumps(document))


def test_other_accounts_and_workspace_deletion_survive(emu, client):
    context = _scenario(client)
    document = snapshot.take(emu.backend)
    client.taskrouter.v1.workspaces(context._solution["sid"]).delete()
    assert emu.backend.workspaces(ACCOUNT_SID) == {}
    snapshot.restore(emu.backend, document)
    assert [ws.friendly_name for ws in client.taskrouter.v1.workspaces.list()] == ["Checkpoint"]


def test_save_and_load_a_state_file(emu, client, tmp_path):
    context = _scenario(client)
    path = tmp_path / "state.json"
    snapshot.save(emu.backend, str(path))
    before = _history(context)
    emu.backend.reset()
    assert client.taskrouter.v1.workspaces.list() == []
    snapshot.load(emu.backend, str(path))
    assert _history(context) == before
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary left behind


def test_loading_a_broken_file_says_so(emu, tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with pytest.raises(snapshot.SnapshotError, match="not JSON"):
        snapshot.load(emu.backend, str(path))


def _inbox(emu) -> list:
    return emu.http.get("/_emulator/webhooks").get_json()["webhooks"]


def test_control_api_snapshot_and_restore_carry_the_inbox(emu, client):
    client.taskrouter.v1.workspaces.create(friendly_name="Hooked", event_callback_url="https://app.test/events")
    taken = emu.http.post("/_emulator/snapshot")
    assert taken.status_code == 200
    before = _inbox(emu)
    assert [w["params"]["EventType"] for w in before][:1] == ["workspace.created"]

    client.taskrouter.v1.workspaces.create(friendly_name="Later", event_callback_url="https://app.test/events")
    assert len(_inbox(emu)) > len(before)

    restored = emu.http.post("/_emulator/restore", json=taken.get_json())
    assert restored.status_code == 200
    assert _inbox(emu) == before
    assert [ws.friendly_name for ws in client.taskrouter.v1.workspaces.list()] == ["Hooked"]
    # ids go on from the checkpoint, so an ``After`` cursor taken then stays meaningful
    client.taskrouter.v1.workspaces.create(friendly_name="Again", event_callback_url="https://app.test/events")
    assert _inbox(emu)[len(before)]["id"] == before[-1]["id"] + 1


def test_a_document_with_sorted_keys_still_restores(emu, client):
    """JSON tools (jq -S, Go maps) reorder object keys; restoring must not depend on their order."""
    context = _scenario(client)
    document = json.loads(json.dumps(snapshot.take(emu.backend), sort_keys=True))
    before = _history(context)
    emu.backend.reset()
    snapshot.restore(emu.backend, document)
    assert _history(context) == before


def test_a_body_nested_too_deep_for_json_is_a_400(emu):
    reply = emu.http.post("/_emulator/restore", data="[" * 200_000, content_type="application/json")
    assert reply.status_code == 400 and reply.get_json()["code"] == 20001


# --- hostile documents ------------------------------------------------------------------------
def _ws(doc):
    return doc["accounts"][0]["workspaces"][0]


def _first(rows, **match):
    return next(r for r in rows if all(r.get(k) == v for k, v in match.items()))


def _nest(depth: int):
    value: object = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


def _set(path: str, value):
    """A change that sets the field at ``path`` (dots; ``ws`` is the first workspace; ``task``,
    ``reservation``, ``worker``, ``timer``, ``record`` are the first of theirs, ``event`` the
    first event's row, ``events`` the workspace's event table)."""
    def change(doc):
        head, _, rest = path.partition(".")
        roots = {"ws": lambda: _ws(doc), "task": lambda: _ws(doc)["tasks"][0],
                 "reservation": lambda: _ws(doc)["reservations"][0], "worker": lambda: _ws(doc)["workers"][0],
                 "event": lambda: _ws(doc)["events"]["rows"][0],
                 "events": lambda: _ws(doc)["events"], "timer": lambda: doc["timers"][0],
                 "record": lambda: doc["inbox"]["records"][0], "queue": lambda: _ws(doc)["task_queues"][0],
                 "workflow": lambda: _ws(doc)["workflows"][0],
                 "route": lambda: next(t for t in _ws(doc)["tasks"] if t["routing"]["route"])["routing"]["route"]}
        target = roots[head]() if head in roots else doc
        keys = rest.split(".") if head in roots else path.split(".")
        for key in keys[:-1]:
            target = target[int(key)] if isinstance(target, list) else target[key]
        last = keys[-1]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
        return doc
    return change


def _add(path: str, key: str, value):
    def change(doc):
        holder = _set(path + ".__probe__", None)(doc)
        # find the dict the probe landed in, then replace the probe with the hostile key
        def fix(node):
            if isinstance(node, dict):
                if "__probe__" in node:
                    del node["__probe__"]
                    node[key] = value
                for item in node.values():
                    fix(item)
            elif isinstance(node, list):
                for item in node:
                    fix(item)
        fix(holder)
        return holder
    return change


def _legacy() -> dict:
    return json.loads(GOLDEN_V2.read_text(encoding="utf-8"))


def _duplicate_task(doc):
    tasks = _ws(doc)["tasks"]
    tasks.append(copy.deepcopy(tasks[0]))
    return doc


HOSTILE = {
    # not this format, or not this version
    "an array": lambda doc: [doc],
    "a string": lambda doc: "snapshot",
    "other format": _set("format", "pickle"),
    "version 1 (Python objects)": lambda doc: {"format": snapshot.FORMAT, "version": 1,
                                               "state": {"$obj": 1, "cls": "emulator.engine.backend:Backend"}},
    "version 99": _set("version", 99),
    "version as text": _set("version", "3"),
    "version 2 with an unknown key": lambda doc: _add("clock", "cls", "x")(_legacy()),
    "version 2 with an event of another resource": lambda doc: _set("accounts.0.workspaces.0.events.0.sid",
                                                                    "WT" + "0" * 32)(_legacy()),
    # unknown keys, names of code
    "unknown key in the clock": _add("clock", "cls", "emulator.server:Server"),
    "a class name as a key": lambda doc: {**doc, "$obj": 1, "cls": "os:system"},
    "unknown key in a task": _add("task", "__class__", "emulator.engine.state:Task"),
    "a method in place of the clock": _set("clock", {"$method": "reset", "self": {"$ext": "backend"}}),
    "missing accounts": lambda doc: {k: v for k, v in doc.items() if k != "accounts"},
    # wrong types
    "clock instant in words": _set("clock.now", "tomorrow"),
    "clock mode unknown": _set("clock.mode", "fast"),
    "sids state too short": _set("sids.state", [1, 2, 3]),
    "sids state position past the end": lambda doc: _set("sids.state.624", 100_000)(doc),
    "task priority as text": _set("task.priority", "10"),
    "task attributes as an object": _set("task.attributes", {"a": 1}),
    "task attributes not JSON": _set("task.attributes", "{"),
    "reservation status unknown": _set("reservation.reservation_status", "eaten"),
    "worker capacity negative": _set("worker.channels.0.configured_capacity", -1),
    "event date without zone": _set("event.9", "2026-01-01T00:00:00"),
    "event SID of another resource": _set("event.0", "WT" + "0" * 32),
    "event SID with a line break": _set("event.0", "EV" + "0" * 32 + "\nEV" + "1" * 32),
    "event type as a number": _set("event.1", 7),
    "event row naming no shape": _set("event.10", 99),
    "event shape as text": _set("event.10", "0"),
    "event row missing a value": lambda doc: (_ws(doc)["events"]["rows"][0].pop(), doc)[1],
    "event row too short": _set("events.rows.0", ["EV" + "0" * 32]),
    "event shape naming code": _set("events.shapes.0.0", "__class__"),
    "event columns reordered": _set("events.columns.0", "event_type"),
    "event value as an object": _set("event.11", {"$obj": 1}),
    "event value huge": _set("event.11", 10 ** 30),
    "event value not a number": _set("event.11", float("nan")),
    # huge numbers
    "huge float priority": _set("task.priority", 1e300),
    "huge integer priority": _set("task.priority", 10 ** 40),
    "huge timer instant": _set("timer.due", "9" * 100_000),
    "huge inbox id": _set("inbox.next_id", 10 ** 30),
    # deep nesting
    "deep nesting in event data": _set("event.12", _nest(400)),
    "deep nesting everywhere": _set("accounts", [_nest(450)]),
    # references to what does not exist
    "reservation of a missing task": _set("reservation.task_sid", "WT" + "0" * 32),
    "reservation of a missing worker": _set("reservation.worker_sid", "WK" + "0" * 32),
    "worker in a missing activity": _set("worker.activity_sid", "WA" + "0" * 32),
    "task on a missing channel": _set("task.task_channel_sid", "TC" + "0" * 32),
    "task of a missing workflow": _set("task.workflow_sid", "WW" + "0" * 32),
    "missing default activity": _set("ws.default_activity_sid", "WA" + "0" * 32),
    "timer of a missing task": _set("timer.subject", "WT" + "0" * 32),
    "timer of a missing workspace": _set("timer.workspace", "WS" + "0" * 32),
    "route step past its targets": _set("route.index", 7),
    "workflow naming a missing queue": lambda doc: _set("workflow.configuration", json.dumps(
        {"task_routing": {"default_filter": {"queue": "WQ" + "0" * 32}}}))(doc),
    "a task twice": _duplicate_task,
    # timers of unknown kinds
    "timer of an unknown kind": _set("timer.kind", "format-disk"),
    "timer naming a method": _set("timer.kind", "emulator.engine.router:Router._ttl_expired"),
    # expressions that do not parse
    "queue expression broken": _set("queue.target_workers", "((("),
    "route expression broken": _set("route.targets.0.expression", "worker.x =="),
    "inbox record with an unknown key": _add("record", "action", "os.system"),
}


@pytest.fixture
def hostile_base(emu, client):
    _scenario(client, callbacks=True)
    emu.clock.advance(5)
    return json.loads(json.dumps(snapshot.take(emu.backend, emu.webhooks)))


def test_the_table_is_large_and_each_change_bites(hostile_base):
    assert len(HOSTILE) >= 30
    for name, change in HOSTILE.items():
        assert change(copy.deepcopy(hostile_base)) != hostile_base, name


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_document_is_a_400_that_changes_nothing(emu, hostile_base, name):
    bad = HOSTILE[name](copy.deepcopy(hostile_base))
    before = emu.http.post("/_emulator/snapshot").get_json()
    with pytest.raises(snapshot.SnapshotError):
        snapshot.restore(emu.backend, bad, emu.webhooks)
    reply = emu.http.post("/_emulator/restore", json=bad)
    assert reply.status_code == 400, reply.get_json()
    body = reply.get_json()
    assert (body["code"], body["status"]) == (20001, 400) and body["message"]
    assert emu.http.post("/_emulator/snapshot").get_json() == before


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_state_file_refuses_to_start(hostile_base, name, tmp_path, capsys):
    path = tmp_path / "state.json"
    path.write_text(json.dumps(HOSTILE[name](copy.deepcopy(hostile_base))))
    # an unusable host: were the document accepted, start-up would still stop (with another message)
    code = cli.main(["serve", "--state-file", str(path), "--clock", "manual", "--port", "0",
                     "--host", "256.256.256.256", "--webhooks", "capture"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"--state-file {path}: ") and len(err.strip()) > len(f"--state-file {path}: ") + 5


def test_a_version_1_document_is_refused_by_name(emu):
    with pytest.raises(snapshot.SnapshotError, match="version 1"):
        snapshot.restore(emu.backend, HOSTILE["version 1 (Python objects)"]({}))


# --- the golden document ------------------------------------------------------------------------
def golden_document() -> dict:
    """A seeded run whose snapshot is kept in fixtures/snapshot-v3.json (fixtures/snapshot-v2.json
    is the same run, written before events were rows)."""
    from emulator.facade import TaskRouterEmulator

    emulator = TaskRouterEmulator(seed="golden", start="2026-01-01T00:00:00Z")
    client = emulator.client()
    context = _scenario(client, callbacks=True)
    emulator.clock.advance(12)
    [offer] = [r for t in context.tasks.list() for r in context.tasks(t.sid).reservations.list()]
    offer.update(reservation_status="accepted")
    emulator.clock.advance(3)
    return emulator.snapshot()


def test_the_golden_snapshot_restores_and_round_trips(emu, client):
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert golden["version"] == snapshot.VERSION
    snapshot.restore(emu.backend, golden, emu.webhooks)
    [ws] = client.taskrouter.v1.workspaces.list()
    context = client.taskrouter.v1.workspaces(ws.sid)
    assert ws.friendly_name == "Checkpoint"
    statuses = sorted(t.assignment_status for t in context.tasks.list())
    assert statuses == ["assigned", "pending"]
    assert emu.clock.now().isoformat() == "2026-01-01T00:00:15+00:00"
    assert snapshot.take(emu.backend, emu.webhooks) == golden, \
        "the snapshot format changed: bump VERSION, migrate or refuse the old one, and regenerate the fixture"
    # and the run goes on: the waiting task is offered once Alice finishes
    [assigned] = [t for t in context.tasks.list() if t.assignment_status == "assigned"]
    context.tasks(assigned.sid).update(assignment_status="completed")
    assert sorted(t.assignment_status for t in context.tasks.list()) == ["completed", "reserved"]


def test_a_version_2_document_is_migrated(emu, client):
    """The version 2 golden document (an object per event) restores to the state the current one
    holds: taken again, it is the current golden document."""
    snapshot.restore(emu.backend, _legacy(), emu.webhooks)
    assert snapshot.take(emu.backend, emu.webhooks) == json.loads(GOLDEN.read_text(encoding="utf-8"))
    [ws] = client.taskrouter.v1.workspaces.list()
    events = client.taskrouter.v1.workspaces(ws.sid).events.list(minutes=600)
    assert events and all(e.event_data for e in events if e.event_type == "task.created")


if __name__ == "__main__":  # python tests/test_snapshot.py: regenerate the golden document
    GOLDEN.write_text(json.dumps(golden_document(), indent=1) + "\n", encoding="utf-8")
