"""Contract testing: shapes, the comparison's fixtures, live opt-in and the two-target fixtures."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from emulator.contract import cli, shapes, store
from emulator.contract.seed import seed
from emulator.contract.targets import LiveRefused, LiveSettings

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parent.parent
SID, TOKEN = "AC" + "1" * 32, "live-token"
LIVE_VARIABLES = ("TASKROUTER_LIVE", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_KEY",
                  "TWILIO_API_SECRET", "TASKROUTER_LIVE_CALLBACK_URL", "TASKROUTER_LIVE_CALLBACK_PORT")


@pytest.mark.parametrize("value, shape", [
    (None, "null"), (True, "boolean"), (3, "integer"), (1.5, "number"), ("x", "string"),
    ([], {"array": None}),
    ([{"a": 1}, {"a": None, "b": "x"}], {"array": {"object": {"a": ["integer", "null"], "b": "string"},
                                                   "optional": ["b"]}}),
    ({"links": {"self": "u"}}, {"object": {"links": {"object": {"self": "string"}}}}),
])
def test_shape_of(value, shape):
    assert shapes.shape_of(value) == shape


@pytest.mark.parametrize("text, kind", [
    ("", "empty"), ("true", "boolean"), ("1522392824", "integer"), ('{"a":1}', "json-object"),
    ('["x"]', "json-array"), ("{not json", "string"), ("America/Los_Angeles", "string"),
])
def test_callback_field_classes(text, kind):
    assert shapes.form_value_class(text) == kind


@pytest.mark.parametrize("recorded, observed, described", [
    ({"a": None}, {"a": "x"}, ['a: recorded "null", emulator "string"']),
    ({"links": {"x": "u"}}, {"links": {}}, ['links.x: recorded "string", emulator absent']),
    ({"items": [{"k": 1}]}, {"items": [{"k": 1, "extra": True}]}, ['items[].extra: recorded absent, emulator "boolean"']),
    ({"items": [{"k": 1}]}, {"items": []}, []),
    ({"a": {"b": 1}}, {"a": 1}, ['a: recorded object, emulator "integer"']),
])
def test_diff_names_the_path(recorded, observed, described):
    found = shapes.diff(shapes.shape_of(recorded), shapes.shape_of(observed))
    assert [d.describe() for d in found] == described


def test_response_shapes_compare_status_and_notable_headers():
    recorded = shapes.response_shape(201, {"sid": "WS1"}, {"Content-Type": "application/json; charset=utf-8",
                                                           "Twilio-Request-Id": "RQ1", "Date": "today"})
    assert recorded["headers"] == {"Content-Type": "application/json; charset=utf-8", "Twilio-Request-Id": "present"}
    observed = shapes.response_shape(200, {"sid": "WS2"}, {"Content-Type": "application/json"})
    assert [d.describe() for d in shapes.diff_response(recorded, observed)] == [
        "status: recorded 201, emulator 200",
        'header Content-Type: recorded "application/json; charset=utf-8", emulator "application/json"',
        'header Twilio-Request-Id: recorded "present", emulator absent']


def test_the_seed_fixtures_are_what_the_seed_code_writes(tmp_path):
    fixtures = ROOT / "fixtures" / "contract"
    (tmp_path / "recordings").symlink_to(fixtures / "recordings")
    written = seed(tmp_path)
    assert written
    for path in written:
        assert path.read_text() == (fixtures / path.relative_to(tmp_path)).read_text(), path.name


def test_every_allowlist_entry_has_a_reason_and_names_a_recorded_shape():
    fixtures = store.default_dir()
    recorded = store.load(fixtures)
    for entry in store.load_allowlist(fixtures):
        assert entry.reason.strip()
        assert any(re.fullmatch(entry.key.replace(".", r"\.").replace("*", ".*"), key)
                   for key in recorded.get(entry.scenario, {})), entry


def test_the_parity_report(capsys):
    assert cli.main(["parity"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"setup +CreateWorker\.201 +matches +2019-09-05T12:28:13Z +TwilioDevEd/task-router-django", out)
    assert re.search(r"routing +event\.task\.created +matches +2018-03-30", out)
    assert "Allowed differences" in out and "not in the 2018 recording" in out
    assert re.search(r"Recorded shapes cover 7/61 operations and 10/\d+ event types, and assignment callbacks", out)
    [summary] = re.findall(r"^(\d+)/(\d+) recorded shapes match", out, re.MULTILINE)
    assert int(summary[1]) == sum(len(v) for v in store.load(store.default_dir()).values())


def test_the_parity_report_as_json(capsys):
    from emulator.cli import main

    assert main(["parity", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    by_key = {(e["scenario"], e["key"]): e for e in document["shapes"]}
    assert by_key["setup", "CreateWorker.201"]["state"] == "matches"
    assert by_key["routing", "event.task.created"]["state"] == "matches"
    known = by_key["routing", "event.reservation.created"]["known"]
    assert any("WorkerVersion" in k["difference"] and "2018 recording" in k["reason"] for k in known)
    assert document["totals"]["recorded"] == len(document["shapes"]) and document["totals"]["differs"] == 0


def test_record_is_refused_without_the_opt_in(clean_environment, tmp_path, capsys):
    assert cli.main(["--fixtures", str(tmp_path), "record"]) == 2
    assert "record refused: a live TaskRouter run needs TASKROUTER_LIVE=1" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_parity_without_fixtures_says_so(tmp_path, capsys):
    assert cli.main(["--fixtures", str(tmp_path / "none"), "parity"]) == 2
    assert "no recorded shapes" in capsys.readouterr().err


@pytest.mark.parametrize("environ, missing", [
    ({}, ["TASKROUTER_LIVE=1", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"]),
    ({"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN}, ["TASKROUTER_LIVE=1"]),
    ({"TASKROUTER_LIVE": "1", "TWILIO_ACCOUNT_SID": SID}, ["TWILIO_AUTH_TOKEN"]),
    ({"TASKROUTER_LIVE": "yes", "TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN}, ["TASKROUTER_LIVE=1"]),
])
def test_live_settings_need_the_opt_in_and_credentials(environ, missing):
    with pytest.raises(LiveRefused) as refused:
        LiveSettings.from_environment(environ)
    for name in missing:
        assert name in str(refused.value)
    assert "nothing was sent to Twilio" in str(refused.value)


def test_live_settings_accept_an_api_key():
    settings = LiveSettings.from_environment({"TASKROUTER_LIVE": "1", "TWILIO_ACCOUNT_SID": SID,
                                              "TWILIO_API_KEY": "SK" + "2" * 32, "TWILIO_API_SECRET": "s"})
    assert (settings.account_sid, settings.username, settings.password) == (SID, "SK" + "2" * 32, "s")


# --- the plugin, in throwaway pytest sessions --------------------------------------------------------

# Stands in for the real service in the sessions below: the emulator, with strict credentials,
# intercepting https://taskrouter.twilio.com; it writes down what was left at the end of the run.
STAND_IN = """
    import json, pathlib
    from emulator import TaskRouterEmulator

    STAND_IN = TaskRouterEmulator(credentials={"SID": "TOKEN"}, webhooks="http")
    MOCK = STAND_IN.mock()
    CALLS = []
    _app = STAND_IN.app.wsgi_app

    def _logged(environ, start_response):
        CALLS.append(environ["REQUEST_METHOD"] + " " + environ["PATH_INFO"])
        return _app(environ, start_response)

    STAND_IN.app.wsgi_app = _logged

    def pytest_sessionstart(session):
        MOCK.__enter__()

    def pytest_sessionfinish(session):
        STAND_IN.webhooks.wait_idle()
        left = [w.friendly_name for w in STAND_IN.client("SID").taskrouter.v1.workspaces.list()]
        pathlib.Path("stand_in.json").write_text(json.dumps({"left": left, "calls": CALLS[:-1]}))
        MOCK.__exit__(None, None, None)
        STAND_IN.close()
""".replace("SID", SID).replace("TOKEN", TOKEN)

BOTH = """
    import pytest

    def test_where(taskrouter_target, taskrouter_workspace, taskrouter_client):
        assert taskrouter_workspace.fetch().friendly_name.startswith("taskrouter-test-")
        worker = taskrouter_client.taskrouter.v1.workspaces(taskrouter_workspace.instance.sid).workers.create(
            friendly_name="made-by-the-test")
        print("TARGET", taskrouter_target.name, worker.sid)

    def test_clean_between_tests(taskrouter_workspace):
        assert [w.friendly_name for w in taskrouter_workspace.workers.list()] == []

    @pytest.mark.taskrouter_emulator_only("moves the clock by hours")
    def test_hours(taskrouter):
        taskrouter.clock.advance(7200)

    def test_uses_the_emulator(taskrouter):
        pass
"""


@pytest.fixture
def clean_environment(monkeypatch):
    for name in LIVE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def run(pytester, *args):
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly", *args)


def test_the_default_target_is_the_emulator_and_needs_nothing(pytester, clean_environment):
    pytester.makepyfile(test_both=BOTH)
    result = run(pytester, "-s")
    result.assert_outcomes(passed=4)
    assert "TARGET emulator" in result.stdout.str()


@pytest.mark.parametrize("environ, missing", [
    ({}, "TASKROUTER_LIVE=1"),
    ({"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN}, "TASKROUTER_LIVE=1"),
    ({"TASKROUTER_LIVE": "1"}, "TWILIO_ACCOUNT_SID"),
])
def test_a_live_run_is_refused_without_the_opt_in_and_credentials(pytester, clean_environment, environ, missing):
    for name, value in environ.items():
        clean_environment.setenv(name, value)
    pytester.makeconftest(STAND_IN)
    pytester.makepyfile(test_both=BOTH)
    result = run(pytester, "--taskrouter-target=live")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--taskrouter-target=live refused: a live TaskRouter run needs" in result.stderr.str()
    assert missing in result.stderr.str()
    assert not (pytester.path / "stand_in.json").exists()  # no session ran: nothing was sent


def test_a_live_run_with_the_opt_in_and_credentials_uses_one_workspace_and_deletes_everything(
        pytester, clean_environment):
    for name, value in {"TASKROUTER_LIVE": "1", "TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN}.items():
        clean_environment.setenv(name, value)
    pytester.makeconftest(STAND_IN)
    pytester.makepyfile(test_both=BOTH)
    result = run(pytester, "--taskrouter-target=live", "-s", "-rs")
    result.assert_outcomes(passed=2, skipped=2)
    out = result.stdout.str()
    assert "TARGET live" in out and "target=live" in out
    assert "emulator only: moves the clock by hours" in out and "emulator only: uses the taskrouter fixture" in out
    stand_in = json.loads((pytester.path / "stand_in.json").read_text())
    calls = stand_in["calls"]
    assert calls.count("POST /v1/Workspaces") == 1  # one workspace for the run
    [deleted] = [c for c in calls if re.fullmatch(r"DELETE /v1/Workspaces/WS\w{32}", c)]
    assert calls[-1] == deleted  # deleted at the end
    [worker] = re.findall(r"TARGET live (WK\w{32})", out)
    assert any(c.startswith("DELETE") and c.endswith("/Workers/" + worker) for c in calls)  # the test's worker
    assert stand_in["left"] == []


def _readme_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [example] = re.findall(r"<!-- The block below is run by tests/test_contract_targets.py.*?-->\n```python\n(.*?)```",
                           readme, re.DOTALL)
    return example


def test_the_readme_example_runs_on_the_emulator(pytester, clean_environment):
    pytester.makepyfile(test_readme=_readme_example())
    run(pytester, "--strict-markers").assert_outcomes(passed=2)


def test_the_readme_example_runs_live_with_callbacks(pytester, clean_environment):
    with socket.socket() as probe:  # a free port on this machine for the callback receiver
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for name, value in {"TASKROUTER_LIVE": "1", "TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN,
                        "TASKROUTER_LIVE_CALLBACK_URL": f"http://127.0.0.1:{port}",
                        "TASKROUTER_LIVE_CALLBACK_PORT": str(port)}.items():
        clean_environment.setenv(name, value)
    pytester.makeconftest(STAND_IN)
    pytester.makepyfile(test_readme=_readme_example())
    result = run(pytester, "--strict-markers", "--taskrouter-target=live", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    assert "emulator only: waits an hour" in result.stdout.str()


SHAPED = """
    import json

    def test_worker(taskrouter_workspace, taskrouter_client):
        ws = taskrouter_client.taskrouter.v1.workspaces(taskrouter_workspace.instance.sid)
        worker = ws.workers.create(friendly_name="shaped", attributes=json.dumps({"skills": ["x"]}))
        assert ws.workers(worker.sid).fetch().available is False
"""


def test_each_tests_shapes_are_recorded_live_and_compared_on_the_emulator(pytester, clean_environment):
    for name, value in {"TASKROUTER_LIVE": "1", "TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN}.items():
        clean_environment.setenv(name, value)
    pytester.makeconftest(STAND_IN)
    pytester.makepyfile(test_shaped=SHAPED)
    run(pytester, "--taskrouter-target=live", "--taskrouter-shapes=record",
        "--taskrouter-shapes-dir=shapes").assert_outcomes(passed=1)
    folder = pytester.path / "shapes" / "test_shaped.py__test_worker"
    assert sorted(p.name for p in folder.glob("*.json")) == ["CreateWorker.201.json", "FetchWorker.200.json"]
    recorded = json.loads((folder / "FetchWorker.200.json").read_text())
    assert recorded["shape"]["body"]["object"]["available"] == "boolean"
    assert recorded["source"] == "recorded live by pytest test_shaped.py::test_worker"

    for name in LIVE_VARIABLES:
        clean_environment.delenv(name, raising=False)
    run(pytester, "--taskrouter-shapes=compare", "--taskrouter-shapes-dir=shapes").assert_outcomes(passed=1)

    recorded["shape"]["body"]["object"]["available"] = "string"  # as if the real service said otherwise
    (folder / "FetchWorker.200.json").write_text(json.dumps(recorded))
    result = run(pytester, "--taskrouter-shapes=compare", "--taskrouter-shapes-dir=shapes")
    result.assert_outcomes(passed=1, errors=1)
    assert 'available: recorded "string", emulator "boolean"' in result.stdout.str()


@pytest.mark.parametrize("args, message", [
    (["--taskrouter-shapes=record"], "--taskrouter-shapes=record needs --taskrouter-target=live"),
])
def test_recording_shapes_needs_the_live_target(pytester, clean_environment, args, message):
    pytester.makepyfile(test_shaped=SHAPED)
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR and message in result.stderr.str()


@pytest.mark.parametrize("scenario", ["setup", "routing", "families"])
def test_record_writes_what_the_service_answered_and_leaves_nothing_behind(tmp_path, scenario):
    from emulator import TaskRouterEmulator
    from emulator.contract import record_live, run_on_emulator

    # the emulator stands in for the real service: record_live talks to https://taskrouter.twilio.com
    with TaskRouterEmulator(credentials={SID: TOKEN}) as stand_in, stand_in.mock():
        written = record_live(LiveSettings(SID, SID, TOKEN), tmp_path, [scenario])
        assert stand_in.client(SID).taskrouter.v1.workspaces.list() == []
    recorded = store.load(tmp_path)[scenario]
    assert {p.stem for p in written} == set(recorded)
    assert recorded["CreateWorker.201"].source == "recorded live by python -m emulator.contract record"
    # without a callback URL no callbacks were recorded; the emulator's run of the same scenario matches
    comparison = store.compare(scenario, recorded, run_on_emulator(scenario), [])
    assert comparison.results and not comparison.failures, comparison.report()


def test_the_contract_suite_holds_on_the_live_path(pytester, clean_environment):
    """The project's contract suite with --taskrouter-target=live, the emulator standing in for
    Twilio: the live plumbing (one workspace, clean-up between tests) leaves nothing behind."""
    for name, value in {"TASKROUTER_LIVE": "1", "TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN}.items():
        clean_environment.setenv(name, value)
    pytester.makepyfile(stand_in_plugin=STAND_IN)
    pytester.syspathinsert()
    result = run(pytester, str(ROOT / "contract_tests"), "-p", "stand_in_plugin", "--taskrouter-target=live",
                 f"--rootdir={ROOT}")
    outcomes = result.parseoutcomes()
    # everything passes but the recorded-shape comparison, which is emulator-only
    assert set(outcomes) == {"passed", "skipped"} and outcomes["skipped"] == 5 and outcomes["passed"] >= 20, outcomes
    assert json.loads((pytester.path / "stand_in.json").read_text())["left"] == []
