"""The virtual clock (``emulator.clock.Clock``) and the ``/_emulator`` control API."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from conftest import ACCOUNT_SID, OTHER_ACCOUNT_SID, START

from emulator import __version__
from emulator.clock import MANUAL, REAL, Clock, parse_instant

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def clock():
    clock = Clock(MANUAL, start=START)
    yield clock
    clock.stop()


def recorder(clock: Clock, reactions: dict | None = None) -> list:
    """Make ``clock`` hand its timers to a recorder: each fired timer appends ``(subject, now)``
    (``(thread name, now)`` with ``thread=True``), then runs ``reactions[subject]`` if any."""
    fired: list = []
    reactions = reactions or {}

    def dispatch(timer):
        if timer.kind == "boom":
            raise RuntimeError("timer failure")
        who = threading.current_thread().name if timer.kind == "thread" else timer.subject
        fired.append((who, clock.now()))
        if timer.subject in reactions:
            reactions[timer.subject]()

    clock.set_dispatch(dispatch)
    return fired


def wait_for(predicate, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


# --- manual mode --------------------------------------------------------------------------------
def test_manual_now_advance_and_set(clock):
    assert clock.mode == MANUAL
    assert clock.now() == T0
    assert clock.now().tzinfo is not None
    time.sleep(0.02)
    assert clock.now() == T0  # manual time does not follow the wall clock
    assert clock.advance(90) == at(90)
    assert clock.now() == at(90)
    assert clock.advance(0.25) == at(90.25)
    assert clock.now_ms() == int(at(90.25).timestamp() * 1000)
    assert clock.set("2026-01-01T01:00:00Z") == at(3600)
    assert clock.set(datetime(2026, 1, 1, 2, 0)) == at(7200)  # naive is taken as UTC
    assert clock.set(at(7200)) == at(7200)  # standing still is allowed


@pytest.mark.parametrize("move", [
    lambda c: c.advance(-1),
    lambda c: c.set(at(-1)),
    lambda c: c.set("2025-12-31T23:59:59Z"),
], ids=["advance-negative", "set-earlier", "set-earlier-text"])
def test_cannot_go_backwards(clock, move):
    clock.advance(10)
    with pytest.raises(ValueError):
        move(clock)
    assert clock.now() == at(10)


def test_bad_modes_are_refused(clock):
    with pytest.raises(ValueError):
        Clock("sometimes")
    with pytest.raises(ValueError):
        clock.set_mode("fast")
    assert clock.mode == MANUAL


def test_timers_fire_in_due_order_each_at_its_own_time(clock):
    fired = recorder(clock)
    clock.call_later(30, "test", "WS", "c")
    clock.call_later(10, "test", "WS", "a")
    clock.call_at(at(20), "test", "WS", "b1")
    clock.call_at(at(20), "test", "WS", "b2")  # same due time: scheduling order
    clock.call_later(100, "test", "WS", "late")
    clock.advance(29)
    assert fired == [("a", at(10)), ("b1", at(20)), ("b2", at(20))]
    assert clock.now() == at(29)
    clock.advance(1)  # due exactly at the new instant: fires
    assert fired[-1] == ("c", at(30))
    assert [(t.kind, t.workspace, t.subject) for t in clock.pending()] == [("test", "WS", "late")]
    assert clock.pending()[0].due == at(100)


def test_timers_scheduled_by_a_timer_fire_in_the_same_advance(clock):
    def first():
        clock.call_later(5, "test", "WS", "inside")
        clock.call_later(50, "test", "WS", "outside")

    fired = recorder(clock, {"first": first})
    clock.call_later(10, "test", "WS", "first")
    clock.advance(20)
    assert fired == [("first", at(10)), ("inside", at(15))]
    assert clock.now() == at(20)
    clock.advance(40)
    assert fired[-1] == ("outside", at(60))


def test_cancelled_timers_do_not_fire(clock):
    fired = recorder(clock)
    keep = clock.call_later(5, "test", "WS", "keep")
    drop = clock.call_later(3, "test", "WS", "drop")
    drop.cancel()
    assert [t.subject for t in clock.pending()] == ["keep"]
    clock.advance(10)
    assert [who for who, _ in fired] == ["keep"]
    assert clock.pending() == []
    keep.cancel()  # cancelling a fired timer is harmless
    clock.call_later(1, "test", "WS", "cleared")
    clock.clear()
    assert clock.pending() == []
    clock.advance(5)
    assert [who for who, _ in fired] == ["keep"]


def test_set_fires_timers_on_the_way(clock):
    fired = recorder(clock)
    clock.call_at(at(3600), "test", "WS", "x")
    clock.set("2026-01-01T02:00:00Z")
    assert fired == [("x", at(3600))]


def test_parse_instant_accepts_offsets_and_fractions():
    assert parse_instant("2026-01-01T00:00:00Z") == T0
    assert parse_instant("2026-01-01T01:00:00+01:00") == T0
    assert parse_instant("2026-01-01T00:00:00.500Z") == at(0.5)
    with pytest.raises(ValueError):
        parse_instant("yesterday")


# --- real mode ----------------------------------------------------------------------------------
def test_real_mode_follows_the_wall_clock_from_the_switch():
    wall = [1000.0]
    clock = Clock(MANUAL, start=START, wall=lambda: wall[0])
    try:
        clock.advance(60)
        wall[0] += 500  # ignored in manual mode
        assert clock.now() == at(60)
        clock.set_mode(REAL)
        assert clock.mode == REAL
        assert clock.now() == at(60)  # the virtual instant is kept
        wall[0] += 2.5
        assert clock.now() == at(62.5)
        clock.set_mode(MANUAL)
        wall[0] += 100
        assert clock.now() == at(62.5)
    finally:
        clock.stop()


def test_real_mode_fires_timers_from_the_background_thread(clock):
    fired = recorder(clock)
    clock.set_mode(REAL)
    clock.call_later(0.05, "thread")
    assert wait_for(lambda: fired)
    name, when = fired[0]
    assert name == "taskrouter-emulator-clock"
    assert name != threading.current_thread().name
    assert when >= T0 + timedelta(seconds=0.05)
    assert clock.pending() == []


def test_real_mode_survives_a_failing_timer(clock):
    fired = recorder(clock)
    clock.set_mode(REAL)
    clock.call_later(0.01, "boom")
    clock.call_later(0.03, "test", "WS", "after")
    assert wait_for(lambda: fired)
    assert [who for who, _ in fired] == ["after"]


def test_stop_ends_the_background_thread():
    clock = Clock(REAL, start=START)
    assert wait_for(lambda: any(t.name == "taskrouter-emulator-clock" and t.is_alive()
                                for t in threading.enumerate()))
    thread = clock._thread
    clock.stop()
    assert not thread.is_alive()
    fired = recorder(clock)
    clock.call_later(0.01, "test", "WS", "late")
    time.sleep(0.1)
    assert fired == []  # nothing fires timers any more
    assert clock.now() > T0  # but the clock still answers


# --- the /_emulator control API -----------------------------------------------------------------
def error_of(answer) -> tuple[int, int]:
    body = answer.get_json()
    assert set(body) == {"code", "message", "more_info", "status"}
    assert body["status"] == answer.status_code
    return answer.status_code, body["code"]


def test_health(emu):
    answer = emu.http.get("/_emulator/health")
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ok", "version": __version__}


def test_reset_drops_everything(emu, client, workspace):
    workspace.tasks.create(attributes="{}", timeout=60)
    emu.client(OTHER_ACCOUNT_SID).taskrouter.v1.workspaces.create(friendly_name="B")
    assert emu.clock.pending()
    answer = emu.http.post("/_emulator/reset")
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ok", "reset": "all"}
    assert client.taskrouter.v1.workspaces.list() == []
    assert emu.client(OTHER_ACCOUNT_SID).taskrouter.v1.workspaces.list() == []
    assert emu.clock.pending() == []  # the task's TTL timer went with it
    assert client.taskrouter.v1.workspaces.create(friendly_name="Again").friendly_name == "Again"


def test_reset_of_one_account(emu, client, workspace):
    other = emu.client(OTHER_ACCOUNT_SID)
    theirs = other.taskrouter.v1.workspaces.create(friendly_name="B", template="FIFO")
    other.taskrouter.v1.workspaces(theirs.sid).tasks.create(attributes="{}", timeout=60)
    workspace.tasks.create(attributes="{}", timeout=120)
    answer = emu.http.post("/_emulator/reset", data={"AccountSid": ACCOUNT_SID})
    assert answer.get_json() == {"status": "ok", "reset": ACCOUNT_SID}
    assert client.taskrouter.v1.workspaces.list() == []
    assert [w.sid for w in other.taskrouter.v1.workspaces.list()] == [theirs.sid]
    # the other account's task TTL, and its workspace's events turning 30 days old
    assert [t.due for t in emu.clock.pending()] == [at(60), at(30 * 86400)]
    bad = emu.http.post("/_emulator/reset", data={"AccountSid": "ACnope"})
    assert error_of(bad) == (400, 20001)
    assert [w.sid for w in other.taskrouter.v1.workspaces.list()] == [theirs.sid]


def test_get_and_set_clock(emu):
    assert emu.http.get("/_emulator/clock").get_json() == \
        {"now": "2026-01-01T00:00:00.000Z", "now_ms": 1767225600000, "mode": "manual"}
    moved = emu.http.post("/_emulator/clock", data={"Now": "2026-01-01T00:10:00.250Z"})
    assert moved.status_code == 200
    assert moved.get_json() == {"now": "2026-01-01T00:10:00.250Z", "now_ms": 1767226200250, "mode": "manual"}
    assert emu.clock.now() == at(600.25)


@pytest.mark.parametrize("form", [
    {"Now": "2025-12-31T00:00:00Z"},
    {"Now": "tomorrow"},
    {"Mode": "fast"},
    {"Now": "2026-02-01T00:00:00Z", "Mode": "fast"},
    {"Now": "9999-12-31T23:00:00Z"},
], ids=["backwards", "not-a-date", "bad-mode", "bad-mode-with-now", "past-the-latest-instant"])
def test_set_clock_errors(emu, form):
    answer = emu.http.post("/_emulator/clock", data=form)
    assert error_of(answer) == (400, 20001)
    assert emu.clock.now() == T0
    assert emu.clock.mode == MANUAL


def test_switch_clock_mode_over_http(emu):
    try:
        answer = emu.http.post("/_emulator/clock", data={"Mode": "real"})
        assert answer.get_json()["mode"] == "real"
        assert wait_for(lambda: emu.clock.now() > T0)
        answer = emu.http.post("/_emulator/clock", data={"Mode": "manual"})
        assert answer.get_json()["mode"] == "manual"
        frozen = emu.clock.now()
        time.sleep(0.02)
        assert emu.clock.now() == frozen
    finally:
        emu.clock.stop()


def test_advance_clock_fires_due_work(emu, workspace):
    task = workspace.tasks.create(attributes="{}", timeout=60)
    answer = emu.http.post("/_emulator/clock/advance", data={"Seconds": "61"})
    assert answer.status_code == 200
    assert answer.get_json()["now"] == "2026-01-01T00:01:01.000Z"
    assert workspace.tasks(task.sid).fetch().assignment_status == "canceled"
    answer = emu.http.post("/_emulator/clock/advance", query_string={"Seconds": "0.5"})
    assert answer.get_json()["now_ms"] == 1767225661500


@pytest.mark.parametrize("form", [{}, {"Seconds": "abc"}, {"Seconds": "-1"}, {"Seconds": "nan"}, {"Seconds": "inf"},
                                  {"Seconds": "1e10"}, {"Seconds": "3e11"}],
                         ids=["missing", "not-a-number", "negative", "nan", "inf", "too-far", "past-the-latest-instant"])
def test_advance_clock_errors(emu, form):
    answer = emu.http.post("/_emulator/clock/advance", data=form)
    assert error_of(answer) == (400, 20001)
    assert emu.clock.now() == T0


def test_control_api_needs_credentials_in_strict_mode_and_stays_off_v1(emu):
    from emulator.facade import TaskRouterEmulator
    strict = TaskRouterEmulator(auth_token="secret").app.test_client()
    assert strict.get("/_emulator/health").status_code == 200
    assert strict.get("/_emulator/clock").status_code == 401
    assert strict.get("/_emulator/clock", auth=("AC" + "a" * 32, "secret")).get_json()["mode"] == "manual"
    assert strict.get("/v1/Workspaces").status_code == 401
    assert error_of(emu.http.get("/_emulator/nothing")) == (404, 20404)
    assert emu.http.get("/_emulator/reset").status_code == 405


def test_cancelled_timers_do_not_pile_up_and_live_ones_still_fire_in_order():
    clock = Clock(MANUAL, start="2026-01-01T00:00:00Z")
    fired: list = []
    clock.set_dispatch(lambda timer: fired.append(int(timer.subject)))
    keep = []
    for n in range(20_000):
        timer = clock.call_later(10 + n % 50, "test", "WS", str(n))
        if n % 1000 == 0:
            keep.append(n)
        else:
            timer.cancel()
    assert len(clock._timers) < 2 * 1024 + len(keep)  # compacted as it grew, not 20,000 entries
    assert len(clock.pending()) == len(keep)
    clock.advance(100)
    assert sorted(fired) == keep
    assert fired == sorted(keep, key=lambda n: (10 + n % 50, n))  # due order, then scheduling order
