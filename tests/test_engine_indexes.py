"""Derived indexes of the engine (worker names, ...) agree with the records through every change,
including a snapshot restore, which rebuilds them."""

from __future__ import annotations

import pytest

from emulator import errors, snapshot
from emulator.engine.backend import Backend

ACCOUNT = "AC" + "1" * 32


@pytest.fixture
def ws():
    backend = Backend(seed=5)
    return backend.create_workspace(ACCOUNT, "Indexes")


def taken(ws, name: str) -> bool:
    try:
        worker = ws.create_worker(name)
    except errors.InvalidParameter as exc:
        assert "already exists" in str(exc)
        return True
    ws.delete_worker(worker.sid)
    return False


def test_worker_names_stay_unique_case_insensitively_through_rename_and_delete(ws):
    alice = ws.create_worker("Alice")
    bob = ws.create_worker("Bob")
    assert taken(ws, "ALICE") and taken(ws, "bob")
    ws.update_worker(alice.sid, friendly_name="Carol")
    assert not taken(ws, "alice") and taken(ws, "carol")
    ws.update_worker(alice.sid, friendly_name="CAROL")  # its own name in another case
    with pytest.raises(errors.InvalidParameter):
        ws.update_worker(alice.sid, friendly_name="BOB")
    ws.delete_worker(bob.sid)
    assert not taken(ws, "Bob")
    assert [w.friendly_name for w in ws.workers.values()] == ["CAROL"]


def test_a_restored_workspace_rebuilds_the_name_index():
    backend = Backend(seed=5)
    ws = backend.create_workspace(ACCOUNT, "Indexes")
    ws.create_worker("Dana")
    document = snapshot.take(backend)
    ws.create_worker("Eve")
    snapshot.restore(backend, document)
    restored = backend.get_workspace(ACCOUNT, ws.sid)
    assert taken(restored, "dana") and not taken(restored, "eve")


def test_the_statistics_history_follows_the_log_as_it_is_written(ws):
    from emulator.engine import history

    worker = ws.create_worker("Frank")
    followed = history._HISTORIES[ws]  # built at the workspace's first event, not by a query
    assert followed.last_sid == list(ws.events)[-1]
    ws.update_worker(worker.sid, friendly_name="Frankie")
    assert followed.last_sid == list(ws.events)[-1]
    assert history.history(ws) is followed


@pytest.mark.parametrize("lookup, kind, sid", [
    ("get_worker", "Workers", "WQ" + "0" * 32),
    ("get_task", "Tasks", "XX" + "0" * 32),
    ("get_activity", "Activities", "WK" + "0" * 32),
    ("get_task_queue", "TaskQueues", "WA" + "0" * 32),
    ("get_workflow", "Workflows", "WT" + "0" * 32),
    ("get_event", "Events", "WW" + "0" * 32),
])
def test_an_unknown_sid_of_another_kind_is_not_found_at_the_path_asked_for(ws, lookup, kind, sid):
    """The 404 names the list the lookup went through, whatever prefix the SID has."""
    with pytest.raises(errors.NotFound) as raised:
        getattr(ws, lookup)(sid)
    assert raised.value.message == errors.RESOURCE_NOT_FOUND.format(path=f"/v1/Workspaces/{ws.sid}/{kind}/{sid}")
