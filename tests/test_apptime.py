"""The bridge from the virtual clock to the application's now, with each library it can use."""

from __future__ import annotations

import time
from datetime import date, datetime, timezone

import pytest

from emulator import TaskRouterEmulator
from emulator.apptime import available

pytest_plugins = ["pytester"]
START = datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)


def app_now() -> datetime:
    """Application code: it reads the time as most code does."""
    return datetime.now(timezone.utc)


@pytest.mark.parametrize("library", ["time_machine", "freezegun"])
def test_the_application_now_follows_the_virtual_clock(library):
    pytest.importorskip(library)
    with TaskRouterEmulator(start=START) as emu:
        client = emu.client()
        ws = client.taskrouter.v1.workspaces.create(friendly_name="Desk", template="FIFO")
        task = client.taskrouter.v1.workspaces(ws.sid).tasks.create(attributes="{}", timeout=5280)
        real = datetime.now(timezone.utc)
        with emu.app_time(library) as bridge:
            assert bridge.library == library
            assert app_now() == START and date.today() == date(2026, 1, 1)
            assert time.time() == START.timestamp()
            emu.clock.advance(1800)                    # the application sees the half hour pass
            assert app_now() == datetime(2026, 1, 1, 9, 30, tzinfo=timezone.utc)
            emu.clock.advance(3600)                    # the task's TTL fires on the way, at 10:28
            assert app_now() == datetime(2026, 1, 1, 10, 30, tzinfo=timezone.utc)
            fetched = client.taskrouter.v1.workspaces(ws.sid).tasks(task.sid).fetch()
            assert fetched.assignment_status == "canceled"
            assert fetched.date_updated == datetime(2026, 1, 1, 10, 28, tzinfo=timezone.utc)
            emu.reset()                                # back to the start instant, and so is the app
            assert app_now() == START
        assert abs((datetime.now(timezone.utc) - real).total_seconds()) < 60   # the wall clock again
        emu.clock.advance(60)
        assert abs((datetime.now(timezone.utc) - real).total_seconds()) < 60   # the bridge is off


def test_the_bridge_refuses_the_real_clock():
    if not available():
        pytest.skip("neither time-machine nor freezegun is installed")
    with TaskRouterEmulator(clock="real") as emu, pytest.raises(ValueError, match="manual virtual clock"):
        emu.app_time().start()


def test_the_marker_and_the_ini(pytester):
    if not available():
        pytest.skip("neither time-machine nor freezegun is installed")
    pytester.makeini("[pytest]\ntaskrouter_start = 2030-05-01T08:00:00Z\n")
    pytester.makepyfile(test_bridge="""
        from datetime import datetime, timezone
        import pytest

        @pytest.mark.taskrouter(app_time=True)
        def test_bridged(taskrouter):
            assert datetime.now(timezone.utc) == datetime(2030, 5, 1, 8, tzinfo=timezone.utc)
            taskrouter.clock.advance(90)
            assert datetime.now(timezone.utc) == datetime(2030, 5, 1, 8, 1, 30, tzinfo=timezone.utc)

        def test_not_bridged(taskrouter):
            assert datetime.now(timezone.utc).year < 2030
    """)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
