"""Checkpoints: snapshot the whole state, keep going, restore, and the run replays identically."""

from __future__ import annotations

import json

import pytest
from conftest import ACCOUNT_SID

from emulator import snapshot


def _scenario(client):
    """A workspace with a task reserved (its reservation timeout pending) and one waiting."""
    ws = client.taskrouter.v1.workspaces.create(friendly_name="Checkpoint", template="FIFO")
    context = client.taskrouter.v1.workspaces(ws.sid)
    available = next(a for a in context.activities.list() if a.friendly_name == "Available")
    queue = context.task_queues.create(friendly_name="Support", target_workers="skill == 'support'")
    config = {"task_routing": {"filters": [{"filter_friendly_name": "all", "expression": "1 == 1",
                                            "targets": [{"queue": queue.sid, "timeout": 100}]}]}}
    workflow = context.workflows.create(friendly_name="Flow", configuration=json.dumps(config),
                                        task_reservation_timeout=60)
    context.workers.create(friendly_name="Alice", attributes=json.dumps({"skill": "support"}),
                           activity_sid=available.sid)
    for n in range(2):
        context.tasks.create(workflow_sid=workflow.sid, attributes=json.dumps({"n": n}), timeout=500)
    return context


def _history(context) -> dict:
    """Everything a client can see, as plain data."""
    return {
        "events": [(e.sid, e.event_type, e.resource_sid, e.event_date_ms) for e in context.events.list(minutes=600)],
        "tasks": [(t.sid, t.assignment_status, t.age) for t in context.tasks.list()],
        "workers": [(w.sid, w.activity_name, w.available) for w in context.workers.list()],
        "reservations": sorted((r.sid, r.reservation_status) for t in context.tasks.list()
                               for r in context.tasks(t.sid).reservations.list()),
    }


def test_restore_rewinds_state_clock_timers_and_sids(emu, client):
    context = _scenario(client)
    emu.clock.advance(10)
    document = json.loads(json.dumps(snapshot.take(emu.backend)))  # survives a JSON round trip
    before = _history(context)
    assert len(emu.clock.pending()) >= 2  # reservation timeout and task TTLs at least

    emu.clock.advance(90)  # the reservation times out, the task is re-offered
    context.tasks.create(workflow_sid=context.workflows.list()[0].sid, attributes="{}")
    emu.clock.advance(400)
    first_run = _history(context)
    assert first_run != before

    snapshot.restore(emu.backend, document)
    assert _history(context) == before
    assert emu.clock.now().isoformat() == document["clock"]["now"]

    emu.clock.advance(90)
    context.tasks.create(workflow_sid=context.workflows.list()[0].sid, attributes="{}")
    emu.clock.advance(400)
    assert _history(context) == first_run  # same SIDs, same instants, same order


def test_restore_is_idempotent_and_reusable(emu, client):
    context = _scenario(client)
    document = snapshot.take(emu.backend)
    context.tasks.create(workflow_sid=context.workflows.list()[0].sid, attributes="{}")
    snapshot.restore(emu.backend, document)
    once = _history(context)
    snapshot.restore(emu.backend, document)
    assert _history(context) == once
    assert snapshot.take(emu.backend)["state"] == document["state"]


def _evil(document: dict, path: str) -> dict:
    bad = json.loads(json.dumps(document))
    if path == "class":
        bad["state"] = {"$obj": 1, "cls": "os:system", "state": {}}
    elif path == "dunder":
        bad["state"] = {"$method": "__init__", "self": {"$ext": "backend"}}
    elif path == "format":
        bad["format"] = "pickle"
    elif path == "version":
        bad["version"] = 99
    elif path == "ref":
        bad["state"] = {"$ref": 12345}
    elif path == "tag":
        bad["state"] = {"$eval": "1"}
    elif path == "shape":
        bad["state"] = [1, 2]
    return bad


@pytest.mark.parametrize("corruption", ["class", "dunder", "format", "version", "ref", "tag", "shape"])
def test_a_bad_document_is_refused_and_changes_nothing(emu, client, corruption):
    context = _scenario(client)
    document = snapshot.take(emu.backend)
    before = _history(context)
    pending = [(t.due, t.name) for t in emu.clock.pending()]
    with pytest.raises(snapshot.SnapshotError):
        snapshot.restore(emu.backend, _evil(document, corruption))
    assert _history(context) == before
    assert [(t.due, t.name) for t in emu.clock.pending()] == pending


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


@pytest.mark.parametrize("body", [None, {"format": "nope"}, [1, 2]])
def test_control_api_restore_refuses_what_is_not_a_snapshot(emu, client, body):
    client.taskrouter.v1.workspaces.create(friendly_name="Kept")
    reply = emu.http.post("/_emulator/restore", json=body) if body is not None else emu.http.post(
        "/_emulator/restore", data="Now=1")
    assert reply.status_code == 400
    assert set(reply.get_json()) == {"code", "message", "more_info", "status"}
    assert reply.get_json()["code"] == 20001
    assert [ws.friendly_name for ws in client.taskrouter.v1.workspaces.list()] == ["Kept"]


def test_a_document_with_sorted_keys_still_restores(emu, client):
    """JSON tools (jq -S, Go maps) reorder object keys; decoding must not depend on their order."""
    context = _scenario(client)
    document = json.loads(json.dumps(snapshot.take(emu.backend), sort_keys=True))
    before = _history(context)
    emu.backend.reset()
    snapshot.restore(emu.backend, document)
    assert _history(context) == before


def _replace_first(node, test, new):
    """Deep-copied ``node`` with the first sub-value ``test`` accepts replaced by ``new(value)``."""
    done = []

    def walk(value):
        if not done and test(value):
            done.append(True)
            return new(value)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    result = walk(node)
    assert done, "the corruption found nothing to corrupt"
    return result


def _is_timer(value):
    return isinstance(value, dict) and value.get("cls") == "emulator.clock:Timer"


def _is_record(value):
    return isinstance(value, dict) and value.get("cls") == "emulator.webhooks.inbox:WebhookRecord"


def _set_field(name, bad):
    def change(value):
        return {**value, "state": [[k, bad if k == name else v] for k, v in value["state"]]}
    return change


CORRUPTIONS = {
    # a class outside the state modules, even one of the emulator's (importing it would run the CLI)
    "main module": lambda doc: {**doc, "state": {"$obj": 1, "cls": "emulator.__main__:X", "state": []}},
    "server class": lambda doc: {**doc, "state": {"$obj": 1, "cls": "emulator.server:Server", "state": []}},
    "bad regex": lambda doc: {**doc, "state": {"$re": "("}},
    "huge duration": lambda doc: {**doc, "state": {"$td": 1e300}},
    "timers not a list": lambda doc: _replace_first(doc, lambda v: isinstance(v, list) and len(v) == 2
                                                    and v[0] == "timers" and isinstance(v[1], list),
                                                    lambda v: ["timers", 5]),
    # found only after everything else decoded: must still change nothing
    "timer due is text": lambda doc: _replace_first(doc, _is_timer, _set_field("due", "tomorrow")),
    "record id is text": lambda doc: _replace_first(doc, _is_record, _set_field("id", "7")),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_document_that_fails_late_is_refused_and_changes_nothing(emu, client, corruption):
    client.taskrouter.v1.workspaces.create(friendly_name="Hooked", event_callback_url="https://app.test/events")
    context = _scenario(client)
    document = json.loads(json.dumps(snapshot.take(emu.backend, emu.webhooks)))
    before, inbox = _history(context), _inbox(emu)
    pending = [(t.due, t.name) for t in emu.clock.pending()]
    with pytest.raises(snapshot.SnapshotError):
        snapshot.restore(emu.backend, CORRUPTIONS[corruption](document), emu.webhooks)
    reply = emu.http.post("/_emulator/restore", json=CORRUPTIONS[corruption](document))
    assert reply.status_code == 400 and reply.get_json()["code"] == 20001
    assert (_history(context), _inbox(emu)) == (before, inbox)
    assert [(t.due, t.name) for t in emu.clock.pending()] == pending


def test_a_body_nested_too_deep_for_json_is_a_400(emu):
    reply = emu.http.post("/_emulator/restore", data="[" * 200_000, content_type="application/json")
    assert reply.status_code == 400 and reply.get_json()["code"] == 20001
