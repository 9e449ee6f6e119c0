"""The pytest plugin, run inside throwaway pytest sessions (``pytester``)."""

from __future__ import annotations

import json
import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from emulator import pytest_plugin

pytest_plugins = ["pytester"]


def run(pytester: pytest.Pytester, *args: str, **kwargs):
    # -p no:cacheprovider: nothing written beside the throwaway tests
    return pytester.runpytest("-p", "no:cacheprovider", *args, **kwargs)


def test_the_plugin_is_registered_by_installing_the_package():
    assert "emulator.pytest_plugin" in {ep.value for ep in entry_points(group="pytest11") if ep.name == "taskrouter"}


def test_every_fixture_has_a_docstring():
    for name in ("taskrouter", "taskrouter_client", "taskrouter_server", "taskrouter_blueprint"):
        func = getattr(pytest_plugin, name)
        assert (getattr(func, "__wrapped__", func).__doc__ or "").strip(), name


def test_taskrouter_intercepts_clients_made_by_the_code_under_test(pytester):
    pytester.makepyfile(inner_app="""
        from twilio.rest import Client

        def open_ticket(account_sid, token, workspace_sid, subject):
            client = Client(account_sid, token)          # the application's own client
            return client.taskrouter.v1.workspaces(workspace_sid).tasks.create(
                attributes='{"subject": "%s"}' % subject)
    """)
    pytester.makepyfile(test_inner_app="""
        from datetime import datetime, timezone
        import inner_app

        def test_a_ticket_is_routed(taskrouter, taskrouter_client):
            assert taskrouter.clock.now() == datetime(2026, 1, 1, tzinfo=timezone.utc)
            assert taskrouter.clock.mode == "manual"
            ws = taskrouter_client.taskrouter.v1.workspaces.create(friendly_name="Desk", template="FIFO")
            worker = taskrouter_client.taskrouter.v1.workspaces(ws.sid).workers.create(friendly_name="Alice")
            available = [a.sid for a in taskrouter_client.taskrouter.v1.workspaces(ws.sid).activities.list()
                         if a.friendly_name == "Available"][0]
            taskrouter_client.taskrouter.v1.workspaces(ws.sid).workers(worker.sid).update(activity_sid=available)
            task = inner_app.open_ticket(taskrouter.account_sid, "any token", ws.sid, "printer")
            assert task.url.startswith("https://taskrouter.twilio.com/")
            [offer] = taskrouter_client.taskrouter.v1.workspaces(ws.sid).tasks(task.sid).reservations.list()
            assert offer.worker_sid == worker.sid
            taskrouter.clock.advance(120)
            assert offer.fetch().reservation_status == "timeout"
    """)
    run(pytester).assert_outcomes(passed=1)


SIDS = """
    import json, pathlib

    def _record(name, client):
        sid = client.taskrouter.v1.workspaces.create(friendly_name="W").sid
        with open("sids.jsonl", "a") as fh:
            fh.write(json.dumps([name, sid]) + "\\n")

    def test_one(taskrouter_client):
        _record("one", taskrouter_client)

    def test_two(taskrouter_client):
        _record("two", taskrouter_client)
"""


def _sids(pytester) -> list:
    path = pytester.path / "sids.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    path.unlink()
    return lines


def test_sids_are_per_test_by_default_and_fixed_by_the_seed_option(pytester):
    pytester.makepyfile(test_inner_sids=SIDS)
    run(pytester).assert_outcomes(passed=2)
    first = dict(_sids(pytester))
    run(pytester, "-k", "two").assert_outcomes(passed=1, deselected=1)
    assert dict(_sids(pytester)) == {"two": first["two"]}  # not dependent on which tests run
    assert first["one"] != first["two"]
    run(pytester, "--taskrouter-seed", "7").assert_outcomes(passed=2)
    seeded = dict(_sids(pytester))
    assert seeded["one"] == seeded["two"] != first["one"]


@pytest.mark.parametrize("how", ["ini", "both"])
def test_settings_come_from_the_command_line_over_the_ini_file(pytester, how):
    pytester.makepyfile(test_inner_settings="""
        def test_settings(taskrouter, request):
            print("SETTINGS", taskrouter.clock.now().isoformat(), taskrouter.clock.mode, taskrouter.seed,
                  taskrouter.strict_schema)
    """)
    cli = ["--taskrouter-start", "2030-05-06T07:08:09Z", "--taskrouter-clock", "real", "--taskrouter-seed", "cli",
           "--taskrouter-strict-schema"]
    ini = ("[pytest]\ntaskrouter_start = 2031-01-01T00:00:00Z\ntaskrouter_clock = real\ntaskrouter_seed = ini\n"
           "taskrouter_strict_schema = true\n")
    if how in ("ini", "both"):
        pytester.makeini(ini)
    result = run(pytester, "-s", *(cli if how in ("cli", "both") else []))
    result.assert_outcomes(passed=1)
    line = next(line for line in result.outlines if "SETTINGS " in line)
    _, now, mode, seed, strict = line[line.index("SETTINGS "):].split()
    assert now.startswith("2031-01-01T00:00:0" if how == "ini" else "2030-05-06T07:08:")
    assert (mode, seed, strict) == ("real", "ini" if how == "ini" else "cli", "True")


def test_defaults_and_the_per_test_marker(pytester):
    pytester.makepyfile(test_inner_marker="""
        import pytest

        def test_defaults(taskrouter):
            assert taskrouter.clock.now().isoformat() == "2026-01-01T00:00:00+00:00"
            assert (taskrouter.clock.mode, taskrouter.strict_schema) == ("manual", False)
            assert taskrouter.seed == "test_inner_marker.py::test_defaults"

        @pytest.mark.taskrouter(seed=3, start="2027-02-03T00:00:00Z", strict_schema=True)
        def test_marked(taskrouter):
            assert taskrouter.clock.now().isoformat() == "2027-02-03T00:00:00+00:00"
            assert (taskrouter.seed, taskrouter.strict_schema) == (3, True)

        @pytest.mark.taskrouter(speed=2)
        def test_unknown(taskrouter):
            pass
    """)
    result = run(pytester, "--strict-markers")
    result.assert_outcomes(passed=2, errors=1)
    assert "unknown setting(s) speed" in result.stdout.str()


@pytest.mark.parametrize("args, message", [
    (["--taskrouter-start", "soon"], "taskrouter_start: not an ISO 8601 instant: 'soon'"),
    (["--taskrouter-clock", "fast"], "invalid choice: 'fast'"),
])
def test_bad_options_are_usage_errors(pytester, args, message):
    pytester.makepyfile(test_inner_nothing="def test_nothing(): pass")
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_blueprints_by_marker_and_by_indirect_parameter(pytester):
    pytester.makepyfile(test_inner_bp="""
        import pytest

        @pytest.mark.taskrouter_blueprint("helpdesk")
        def test_marker(taskrouter_client, taskrouter_blueprint):
            ws = taskrouter_client.taskrouter.v1.workspaces(taskrouter_blueprint.workspace_sid)
            assert ws.fetch().friendly_name == "Help Desk"
            assert taskrouter_blueprint.workers["Alice"] in [w.sid for w in ws.workers.list()]

        @pytest.mark.parametrize("taskrouter", ["contact_centre", "chat_voice_team"], indirect=True)
        def test_param(taskrouter, taskrouter_blueprint):
            assert taskrouter_blueprint.friendly_name in ("Contact Centre", "Chat and Voice Team")
            assert len(taskrouter.client().taskrouter.v1.workspaces.list()) == 1

        @pytest.mark.taskrouter_blueprint({"friendly_name": "Inline", "workers": [{"friendly_name": "Zed"}]})
        def test_dict(taskrouter_blueprint):
            assert list(taskrouter_blueprint.workers) == ["Zed"]

        def test_none(taskrouter_blueprint):
            pass

        @pytest.mark.taskrouter_blueprint({"friendly_name": "Bad", "workers": [{"friendly_name": 3}]})
        def test_bad(taskrouter):
            pass
    """)
    result = run(pytester, "--strict-markers")
    result.assert_outcomes(passed=4, errors=2)
    out = result.stdout.str()
    assert "no blueprint for this test" in out
    assert "workers[0].friendly_name: must be a string" in out


def test_the_server_fixture_is_shared_per_session_and_reset_between_tests(pytester):
    pytester.makepyfile(test_inner_server="""
        import pytest, requests

        PORTS = set()

        @pytest.mark.parametrize("n", range(3))
        def test_fresh_each_time(taskrouter_server, n):
            PORTS.add(taskrouter_server.url)
            client = taskrouter_server.client()
            assert client.taskrouter.v1.workspaces.list() == []
            client.taskrouter.v1.workspaces.create(friendly_name=f"W{n}")
            assert requests.get(taskrouter_server.url + "/_emulator/clock", timeout=5).json()["now"] == \\
                "2026-01-01T00:00:00.000Z"
            requests.post(taskrouter_server.url + "/_emulator/clock/advance", data={"Seconds": 60}, timeout=5)
            assert len(PORTS) == 1

        @pytest.mark.taskrouter_blueprint("helpdesk")
        def test_blueprint_on_the_server(taskrouter_server, taskrouter_blueprint):
            ws = taskrouter_server.client().taskrouter.v1.workspaces(taskrouter_blueprint.workspace_sid)
            assert ws.fetch().url.startswith(taskrouter_server.url)

        @pytest.mark.taskrouter_blueprint("helpdesk")
        def test_blueprint_in_both(taskrouter_server, taskrouter, taskrouter_blueprint):
            # Each got its own copy; same seed and start, so the same SIDs in both.
            sid = taskrouter_blueprint.workspace_sid
            assert taskrouter.client().taskrouter.v1.workspaces(sid).fetch().friendly_name == "Help Desk"
            assert [w.sid for w in taskrouter_server.client().taskrouter.v1.workspaces.list()] == [sid]

        @pytest.mark.taskrouter(strict_schema=True)
        def test_settings_follow_the_test(taskrouter_server):
            assert taskrouter_server.emulator.strict_schema is True
            assert taskrouter_server.emulator.seed == "test_inner_server.py::test_settings_follow_the_test"
    """)
    run(pytester).assert_outcomes(passed=6)


def test_xdist_workers_each_get_their_own_emulators(pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile(test_inner_workers="""
        import json, os
        import pytest

        @pytest.mark.parametrize("n", range(6))
        def test_isolated(taskrouter_server, taskrouter_client, n):
            taskrouter_client.taskrouter.v1.workspaces.create(friendly_name="mine")
            assert len(taskrouter_client.taskrouter.v1.workspaces.list()) == 1
            server = taskrouter_server.client()
            server.taskrouter.v1.workspaces.create(friendly_name="served")
            assert len(server.taskrouter.v1.workspaces.list()) == 1
            with open(f"worker-{os.getpid()}-{n}.json", "w") as fh:
                json.dump(taskrouter_server.url, fh)
    """)
    run(pytester, "-n", "2").assert_outcomes(passed=6)
    seen = {}
    for path in pytester.path.glob("worker-*.json"):
        seen.setdefault(path.name.split("-")[1], set()).add(json.loads(path.read_text()))
    assert len(seen) == 2  # two worker processes
    urls = [u for per_worker in seen.values() for u in per_worker]
    assert all(len(per_worker) == 1 for per_worker in seen.values())  # one server per worker session
    assert len(set(urls)) == 2


def test_the_readme_example_test_passes(pytester):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    [example] = re.findall(r"<!-- The block below is run by tests/test_plugin.py.*?-->\n```python\n(.*?)```",
                           readme, re.DOTALL)
    pytester.makepyfile(test_inner_readme=example)
    run(pytester, "--strict-markers").assert_outcomes(passed=1)
