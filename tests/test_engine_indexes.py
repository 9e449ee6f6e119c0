"""Derived indexes of the engine (worker names, ...) agree with the records through every change,
including a snapshot restore, which rebuilds them."""

from __future__ import annotations

import random
from collections import OrderedDict
from datetime import timedelta

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


# --- list pages served from the table's derived order ------------------------------------------
class _Record:
    def __init__(self, sid: str, stamp: int = 0) -> None:
        self.sid = sid
        self.stamp = stamp


class _Owner:
    def __init__(self) -> None:
        self.records: OrderedDict[str, _Record] = OrderedDict()


def _some(record: _Record) -> bool:
    return int(record.sid[-2:], 16) % 3 != 0  # two records in three, here and there


def test_a_table_serves_the_same_pages_as_the_whole_list_through_appends_and_deletions():
    """``listing.Table`` (a page from the derived order, every record or those a test keeps)
    against ``listing.Items`` (the list made whole, as an ordered list is) after each change:
    appends, deletions at the front, in the middle and of the last item, enough deletions to
    rebuild the order, and a replaced table."""
    from emulator.engine.listing import Items, Table

    rng = random.Random(14)
    owner, made, gone = _Owner(), 0, []
    for step in range(600):
        action = rng.random()
        if step % 200 >= 100:
            action = 0.55 + action * 0.45  # deletions only for a while: gaps outnumber the records
        if step % 97 == 96:
            owner.records = OrderedDict(owner.records)  # replaced wholesale (a restore)
        elif action < 0.55 or not owner.records:
            for _ in range(rng.randint(1, 30)):
                made += 1
                owner.records[f"WT{made:032x}"] = _Record(f"WT{made:032x}")
        elif action < 0.7:
            for _ in range(min(len(owner.records), rng.randint(1, 30))):
                gone.append(owner.records.popitem(last=False)[0])  # the oldest go first
        else:
            for _ in range(min(len(owner.records), rng.randint(1, 30))):
                sid = rng.choice(list(owner.records))  # anywhere, the last one included
                del owner.records[sid]
                gone.append(sid)
        everything = list(owner.records.values())
        anchors = [None, *rng.sample(list(owner.records), min(3, len(owner.records))), *gone[-2:]]
        for test in (None, _some):
            kept = [r for r in everything if test is None or test(r)]
            assert Table(owner, "records", test).all() == kept
            for anchor in anchors:
                for kind in ("PA", "PB"):
                    size = rng.choice((1, 2, 3, 7, 50))
                    expected = Items(kept).page(kind if anchor else None, anchor, size)
                    assert Table(owner, "records", test).page(kind if anchor else None, anchor, size) == expected, step


@pytest.mark.parametrize("filters", [{}, {"assignment_status": "pending"}, {"ordering": "DateCreated:asc"}])
def test_paging_tasks_with_deletions_between_pages_through_the_client(client, workspace, filters):
    """The real client pages through the list in creation order (served from the table's order,
    filtered or not) and an ordered one (made whole) alike, with tasks deleted between its pages."""
    workflow = workspace.workflows.list()[0].sid
    sids = [workspace.tasks.create(workflow_sid=workflow, attributes="{}").sid for _ in range(12)]
    first = workspace.tasks.page(page_size=4, **filters)
    assert [t.sid for t in first] == sids[0:4]
    for sid in (sids[4], sids[0]):  # the next one and one already seen
        workspace.tasks(sid).delete()
    second = first.next_page()
    assert [t.sid for t in second] == sids[5:9]
    workspace.tasks(sids[11]).delete()
    third = second.next_page()
    assert [t.sid for t in third] == sids[9:11]
    assert third.next_page() is None
    assert [t.sid for t in third.previous_page()] == sids[5:9]
    workspace.tasks(sids[8]).delete()  # the anchor of the next page: that page starts at the top again
    assert [t.sid for t in second.next_page()] == [sids[1], sids[2], sids[3], sids[5]]
    assert [t.sid for t in workspace.tasks.list(page_size=3, **filters)] == \
        [sid for sid in sids if sid not in (sids[0], sids[4], sids[8], sids[11])]


def _stamp(record: _Record) -> int:
    return record.stamp


def test_a_window_of_stamped_records_serves_the_same_pages_as_the_records_filtered_by_stamp():
    """``Table.window`` (a run of the order found by its stamps, as events by their dates) against
    the records filtered one by one, through appends (several per stamp) and deletions; stamps
    that go down turn the window off (None), so a caller looks at every record."""
    from emulator.engine.listing import Items, Table

    rng = random.Random(41)
    owner, made, stamp = _Owner(), 0, 0
    for step in range(300):
        if rng.random() < 0.7 or not owner.records:
            for _ in range(rng.randint(1, 20)):
                made += 1
                stamp += rng.choice((0, 0, 1, 3))
                owner.records[f"EV{made:032x}"] = _Record(f"EV{made:032x}", stamp)
        else:
            for _ in range(min(len(owner.records), rng.randint(1, 15))):
                if rng.random() < 0.6:
                    owner.records.popitem(last=False)
                else:
                    del owner.records[rng.choice(list(owner.records))]
        since = rng.randint(-2, stamp + 2)
        until = rng.choice((None, rng.randint(since, stamp + 3)))
        test = rng.choice((None, _some))
        inside = [r for r in owner.records.values()
                  if r.stamp >= since and (until is None or r.stamp <= until) and (test is None or test(r))]
        window = Table.window(owner, "records", _stamp, since, until, test)
        assert window is not None
        assert window.all() == inside
        for anchor in [None, *rng.sample(list(owner.records), min(3, len(owner.records)))]:
            for kind in ("PA", "PB"):
                size = rng.choice((1, 2, 5, 50))
                expected = Items(inside).page(kind if anchor else None, anchor, size)
                assert window.page(kind if anchor else None, anchor, size) == expected, step
    owner.records[f"EV{made + 1:032x}"] = _Record(f"EV{made + 1:032x}", stamp - 1)
    assert Table.window(owner, "records", _stamp, 0, None) is None


def test_paging_events_by_time_through_the_client(emu, client, workspace):
    """Events listed by a time window alone (served from the log's order) page through the real
    client to exactly the events of the window, as the list made whole (the engine's query) has them."""
    from emulator.engine import queries

    start = emu.emulator.clock.now()
    for minute in range(6):
        workspace.workers.create(friendly_name=f"w{minute}")
        emu.emulator.clock.advance(60)
    ws = emu.emulator.backend.get_workspace(workspace.instance.account_sid, workspace.instance.sid)
    since, until = start + timedelta(minutes=2), start + timedelta(minutes=4)
    expected = [e.sid for e in queries.events(ws, start_date=since, end_date=until)]
    assert expected and len(expected) < len(ws.events)
    listed = workspace.events.list(start_date=since, end_date=until, page_size=2)
    assert [e.sid for e in listed] == expected
    assert [e.sid for e in workspace.events.list(minutes=3, page_size=1)] == \
        [e.sid for e in queries.events(ws, minutes=3)]
    created = [e.sid for e in queries.events(ws, minutes=30, event_type="worker.created")]
    assert len(created) == 6
    assert [e.sid for e in workspace.events.list(minutes=30, event_type="worker.created", page_size=4)] == created


# --- Ordered: the routing index's sorted SIDs (a heap; the first is looked at where it stands) ------
def _ordered(*pairs):
    from emulator.engine.routing.index import Ordered
    pool = Ordered()
    for sid, key in pairs:
        pool.add(sid, (key,))
    return pool


def _walk(pool, on_first=None) -> list:
    seen = []
    entries = pool.in_order()
    try:
        for entry in entries:
            seen.append(entry[1])
            if on_first is not None and len(seen) == 1:
                on_first(pool)
    finally:
        entries.close()
    return seen


@pytest.mark.parametrize("change, walked, after", [
    (None, ["a", "b", "c"], ["a", "b", "c"]),
    (lambda pool: pool.add("z", (0,)), ["a", "z", "b", "c"], ["z", "a", "b", "c"]),  # smaller key added
    (lambda pool: pool.discard("a"), ["a", "b", "c"], ["b", "c"]),  # the first taken out while looked at
    (lambda pool: pool.add("a", (9,)), ["a", "b", "c", "a"], ["b", "c", "a"]),  # the first moved back
    (lambda pool: _walk(pool), ["a", "b", "c"], ["a", "b", "c"]),  # a walk inside a walk
    (lambda pool: pool.discard("b"), ["a", "c"], ["a", "c"]),
])
def test_ordered_walks_in_key_order_through_changes(change, walked, after):
    pool = _ordered(("b", 2), ("a", 1), ("c", 3))
    assert _walk(pool, change) == walked
    assert _walk(pool) == after and len(pool) == len(after)


def test_ordered_first_only_leaves_the_heap_as_it_was():
    pool = _ordered(*((f"t{i}", i) for i in range(100)))
    heap = list(pool._heap)
    entries = pool.in_order()
    assert next(entries)[1] == "t0"
    entries.close()
    assert pool._heap == heap  # looked at where it stands: nothing popped and pushed back
