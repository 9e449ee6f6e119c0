"""``TaskRouterEmulator``: construction, clock, reset, auth, client(), serve() and the public surface."""

from __future__ import annotations

import ast
import inspect
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

import emulator
from emulator import EmulatorMock, EmulatorServer, LoadResult, TaskRouterEmulator
from emulator.http import Credentials

START = "2026-01-01T00:00:00Z"
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
OTHER = "AC" + "b" * 32


@pytest.fixture
def emu():
    with TaskRouterEmulator(start=START, seed=5, strict_schema=True) as emulator:
        yield emulator


def test_the_package_imports_nothing_until_a_name_is_used():
    """The plugin imports ``emulator`` in every pytest session: its top level must stay import-free."""
    tree = ast.parse((Path(emulator.__file__)).read_text(encoding="utf-8"))
    assert [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
            and not (isinstance(node, ast.ImportFrom) and node.module == "__future__")] == []
    assert emulator.TaskRouterEmulator is TaskRouterEmulator
    with pytest.raises(AttributeError):
        emulator.NoSuchName  # noqa: B018


@pytest.mark.parametrize("start", [START, "2026-01-01T01:00:00+01:00", T0, T0.replace(tzinfo=None)])
def test_start_accepts_iso_text_and_datetimes(start):
    with TaskRouterEmulator(start=start) as emu:
        assert emu.clock.now() == T0
        assert emu.clock.mode == "manual"


@pytest.mark.parametrize("kwargs, error", [
    ({"clock": "fast"}, ValueError),
    ({"start": "yesterday"}, ValueError),
    ({"credentials": ["AC" + "a" * 32]}, TypeError),
])
def test_bad_construction_is_refused(kwargs, error):
    with pytest.raises(error):
        TaskRouterEmulator(**kwargs)


def test_manual_clock_moves_only_when_told_and_fires_timers(emu):
    client = emu.client()
    ws = client.taskrouter.v1.workspaces.create(friendly_name="Timers", template="FIFO")
    task = client.taskrouter.v1.workspaces(ws.sid).tasks.create(attributes="{}", timeout=30)
    assert emu.clock.now() == T0
    emu.clock.advance(29)
    assert client.taskrouter.v1.workspaces(ws.sid).tasks(task.sid).fetch().assignment_status == "pending"
    emu.clock.advance(1)
    fetched = client.taskrouter.v1.workspaces(ws.sid).tasks(task.sid).fetch()
    assert (fetched.assignment_status, fetched.reason) == ("canceled", "Task TTL Exceeded")
    emu.clock.set("2026-01-02T00:00:00Z")
    assert emu.clock.now() == datetime(2026, 1, 2, tzinfo=timezone.utc)


def test_real_clock_follows_the_wall_clock():
    with TaskRouterEmulator(clock="real", start=START) as emu:
        first = emu.clock.now()
        time.sleep(0.02)
        assert emu.clock.mode == "real"
        assert emu.clock.now() > first


def test_manual_clock_without_start_stays_at_its_first_instant():
    with TaskRouterEmulator() as emu:
        first = emu.clock.now()
        time.sleep(0.01)
        assert emu.clock.now() == first
        emu.clock.advance(5)
        emu.reset()
        assert emu.clock.now() == first


def test_reset_returns_to_the_constructed_state_with_the_same_sids(emu):
    client = emu.client()
    first = client.taskrouter.v1.workspaces.create(friendly_name="One", template="FIFO")
    client.taskrouter.v1.workspaces(first.sid).tasks.create(attributes="{}", timeout=100)
    emu.clock.advance(50)
    emu.reset()
    assert emu.clock.now() == T0
    assert emu.clock.pending() == []
    assert client.taskrouter.v1.workspaces.list() == []
    again = client.taskrouter.v1.workspaces.create(friendly_name="One", template="FIFO")
    assert (again.sid, again.date_created) == (first.sid, first.date_created)


RESETS = {
    "emu.reset()": lambda emu, account=None: emu.reset(account),
    "POST /_emulator/reset": lambda emu, account=None: emu.app.test_client().post(
        "/_emulator/reset", data={"AccountSid": account} if account else {}),
}


@pytest.mark.parametrize("how", sorted(RESETS))
def test_the_control_api_reset_and_emu_reset_are_one_operation(emu, how):
    client = emu.client()
    client.taskrouter.v1.workspaces.create(friendly_name="Hooked", event_callback_url="https://app.test/e")
    kept = emu.client(OTHER).taskrouter.v1.workspaces.create(friendly_name="Theirs").sid
    emu.clock.advance(30)
    RESETS[how](emu, emu.account_sid)  # one account: its state and callbacks go, time and SIDs carry on
    assert client.taskrouter.v1.workspaces.list() == []
    assert [w.sid for w in emu.client(OTHER).taskrouter.v1.workspaces.list()] == [kept]
    assert {r.account_sid for r in emu.inbox.records()} <= {OTHER}
    assert emu.clock.now() == datetime(2026, 1, 1, 0, 0, 30, tzinfo=timezone.utc)
    emu.clock.set_mode("real")
    RESETS[how](emu)  # everything: back to the constructed state
    assert (emu.clock.now(), emu.clock.mode, emu.clock.pending(), emu.inbox.records()) == (T0, "manual", [], [])
    with TaskRouterEmulator(start=START, seed=5) as fresh:
        assert client.taskrouter.v1.workspaces.create(friendly_name="A").sid == \
            fresh.client().taskrouter.v1.workspaces.create(friendly_name="A").sid


def test_reset_can_change_seed_start_and_clock_mode(emu):
    before = emu.client().taskrouter.v1.workspaces.create(friendly_name="Seeded").sid
    emu.reset(seed=6, start="2027-06-01T00:00:00Z")
    assert emu.clock.now() == datetime(2027, 6, 1, tzinfo=timezone.utc)
    after = emu.client().taskrouter.v1.workspaces.create(friendly_name="Seeded").sid
    assert after != before
    emu.reset(clock="real")
    assert emu.clock.mode == "real"
    with pytest.raises(ValueError):
        emu.reset(clock="fast")


def test_reset_of_one_account_keeps_the_others_and_time(emu):
    mine, theirs = emu.client(), emu.client(OTHER)
    mine.taskrouter.v1.workspaces.create(friendly_name="Mine")
    kept = theirs.taskrouter.v1.workspaces.create(friendly_name="Theirs").sid
    emu.clock.advance(10)
    emu.reset(emu.account_sid)
    assert mine.taskrouter.v1.workspaces.list() == []
    assert [w.sid for w in theirs.taskrouter.v1.workspaces.list()] == [kept]
    assert emu.clock.now() == datetime(2026, 1, 1, 0, 0, 10, tzinfo=timezone.utc)


@pytest.mark.parametrize("kwargs", [
    {"auth_token": "s3cret"},
    {"credentials": {"AC" + "a" * 32: "s3cret"}},
    {"credentials": Credentials(tokens={"AC" + "a" * 32: "s3cret"})},
])
def test_strict_auth_client_uses_the_right_token_and_a_wrong_one_is_refused(kwargs):
    with TaskRouterEmulator(start=START, **kwargs) as emu:
        assert emu.client().taskrouter.v1.workspaces.list() == []
        with pytest.raises(TwilioRestException) as caught:
            emu.client(auth_token="wrong").taskrouter.v1.workspaces.create(friendly_name="No")
        assert (caught.value.status, caught.value.code) == (401, 20003)


def test_client_stays_in_process_with_region_and_edge(emu):
    client = emu.client(region="au1", edge="sydney")
    ws = client.taskrouter.v1.workspaces.create(friendly_name="Far away")
    assert ws.url.startswith("https://taskrouter.sydney.au1.twilio.com/v1/Workspaces/")
    assert emu.client().taskrouter.v1.workspaces(ws.sid).fetch().friendly_name == "Far away"


def test_strict_schema_is_an_option_that_can_change(emu):
    assert emu.strict_schema is True
    emu.strict_schema = False
    assert emu.app.config["strict_schema"] is False
    with TaskRouterEmulator() as lax:
        assert lax.strict_schema is False


def test_emulators_share_routes_but_not_state_or_additions(emu):
    with TaskRouterEmulator(seed=2) as other:
        emu.app.add_url_rule("/extra", "extra", lambda: "added")  # a route of one app only
        ws = emu.client().taskrouter.v1.workspaces.create(friendly_name="Mine")
        assert emu.app.test_client().get("/extra").text == "added"
        assert other.app.test_client().get("/extra").status_code == 404
        assert [w.sid for w in emu.client().taskrouter.v1.workspaces.list()] == [ws.sid]
        assert other.client().taskrouter.v1.workspaces.list() == []
        assert other.app.test_client().get("/_emulator/health").status_code == 200
    with TaskRouterEmulator() as later:  # made after the addition: the shared table is untouched
        assert later.app.test_client().get("/extra").status_code == 404


def test_serve_gives_a_real_server_sharing_the_state(emu):
    in_process = emu.client().taskrouter.v1.workspaces.create(friendly_name="Shared")
    server = emu.serve()
    assert isinstance(server, EmulatorServer)
    assert server.url.startswith("http://127.0.0.1:")
    over_http = server.client().taskrouter.v1.workspaces(in_process.sid).fetch()
    assert over_http.url == f"{server.url}/v1/Workspaces/{in_process.sid}"
    clock = requests.post(server.url + "/_emulator/clock/advance", data={"Seconds": "60"}, timeout=5).json()
    assert clock["now"] == "2026-01-01T00:01:00.000Z"
    assert emu.clock.now() == datetime(2026, 1, 1, 0, 1, tzinfo=timezone.utc)
    server.stop()
    server.stop()  # idempotent
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_close_stops_every_server():
    emu = TaskRouterEmulator(start=START)
    ports = [emu.serve().port, emu.serve().port]
    emu.close()
    for port in ports:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_load_goes_into_the_default_account_or_the_one_given(emu):
    mine = emu.load("helpdesk")
    theirs = emu.load("helpdesk", account_sid=OTHER)
    assert [w.sid for w in emu.client().taskrouter.v1.workspaces.list()] == [mine.workspace_sid]
    assert [w.sid for w in emu.client(OTHER).taskrouter.v1.workspaces.list()] == [theirs.workspace_sid]


def test_repr_says_clock_and_seed(emu):
    assert repr(emu) == "<TaskRouterEmulator clock=manual now=2026-01-01T00:00:00+00:00 seed=5>"


PUBLIC = [TaskRouterEmulator, EmulatorServer, EmulatorMock, LoadResult]


@pytest.mark.parametrize("owner", PUBLIC, ids=lambda o: o.__name__)
def test_every_public_name_has_a_docstring(owner):
    assert inspect.getdoc(owner)
    undocumented = [name for name, member in vars(owner).items()
                    if not name.startswith("_") and (inspect.isfunction(member) or isinstance(member, property))
                    and not (member.__doc__ or "").strip()]
    assert undocumented == []


# --- callbacks and checkpoints through the facade ---------------------------------------------
def _routed_desk(emu, assignment_url: str | None = "https://app.test/assign"):
    """The helpdesk blueprint with callbacks on, and one urgent task routed."""
    desk = emu.load("helpdesk")
    client = emu.client()
    ws = client.taskrouter.v1.workspaces(desk.workspace_sid)
    ws.update(event_callback_url="https://app.test/events")
    flow = desk.workflows["Ticket Intake"]
    if assignment_url:
        ws.workflows(flow).update(assignment_callback_url=assignment_url)
    task = ws.tasks.create(workflow_sid=flow, attributes='{"urgency": "high"}')
    return ws, task


def test_the_inbox_holds_signed_callbacks_and_reset_empties_it_keeping_the_clock(emu):
    from twilio.request_validator import RequestValidator

    clock = emu.clock
    ws, task = _routed_desk(emu)
    [assignment] = emu.inbox.records(kind="assignment", task_sid=task.sid)
    assert assignment.params["TaskSid"] == task.sid
    validator = RequestValidator(emu.token_for(emu.account_sid))
    assert validator.validate(assignment.url, assignment.params, assignment.headers["X-Twilio-Signature"])
    assert "task.created" in emu.inbox.event_types(task_sid=task.sid)

    emu.reset()
    assert len(emu.inbox) == 0
    assert emu.clock is clock  # the same clock object, back at the start
    # callbacks go on being captured after a reset: the clock's delivery hook survived it
    _routed_desk(emu)
    emu.clock.advance(60)
    assert "reservation.timeout" in emu.inbox.event_types()


@pytest.mark.parametrize("answer, status", [
    ({"instruction": "accept"}, "accepted"),
    ({"instruction": "reject"}, "rejected"),
    (None, "pending"),
])
def test_on_assignment_answers_from_python(emu, answer, status):
    seen = []
    emu.on_assignment(lambda record: seen.append(record.params["ReservationSid"]) or answer)
    ws, task = _routed_desk(emu)
    reservation = ws.tasks(task.sid).reservations(seen[0]).fetch()
    assert reservation.reservation_status == status


def test_snapshot_and_restore_through_the_facade(emu):
    import json as json_module

    ws, task = _routed_desk(emu)
    checkpoint = json_module.loads(json_module.dumps(emu.snapshot()))
    inbox_then = [r.to_dict() for r in emu.inbox]
    emu.clock.advance(60)  # the offer times out, the task is offered again
    later = ws.tasks(task.sid).reservations.list()
    assert len(later) == 2

    emu.restore(checkpoint)
    assert [r.to_dict() for r in emu.inbox] == inbox_then
    assert len(ws.tasks(task.sid).reservations.list()) == 1
    emu.clock.advance(60)  # the same future happens again, with the same SIDs
    assert [r.sid for r in ws.tasks(task.sid).reservations.list()] == [r.sid for r in later]


def test_reset_drops_callback_handlers_and_routes_too(emu):
    emu.on_assignment(lambda record: {"instruction": "reject"})
    emu.webhooks.respond("https://app.test/", lambda record: {"instruction": "reject"})
    emu.reset()
    ws, task = _routed_desk(emu, assignment_url="https://app.test/assign")
    [offer] = ws.tasks(task.sid).reservations.list()
    assert offer.reservation_status == "pending"  # captured, unanswered: nothing from before the reset


@pytest.mark.parametrize("reach", ["client", "mock"])
def test_paging_stays_in_process_with_a_public_url(reach):
    with TaskRouterEmulator(start=START, seed=5, public_url="https://tr.example.test") as emu:
        client = emu.client()
        ws = client.taskrouter.v1.workspaces.create(friendly_name="Paged")
        for name in ("a", "b", "c"):
            client.taskrouter.v1.workspaces(ws.sid).workers.create(friendly_name=name)
        if reach == "mock":
            from twilio.rest import Client

            with emu.mock():
                listed = Client(emu.account_sid, "t").taskrouter.v1.workspaces(ws.sid).workers.list(page_size=2)
        else:
            listed = client.taskrouter.v1.workspaces(ws.sid).workers.list(page_size=2)
        assert [w.friendly_name for w in listed] == ["a", "b", "c"]  # the second page came from public_url
