"""Workspace blueprints: the bundled ones build what they say and route as described; bad ones
fail naming the entry and leave nothing behind."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from emulator import BlueprintError, TaskRouterEmulator, cli
from emulator.blueprints import available, read

START = "2026-01-01T00:00:00Z"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def shared():
    with TaskRouterEmulator(start=START, seed=21, strict_schema=True) as emulator:
        yield emulator


@pytest.fixture
def emu(shared):
    """One emulator for the module, reset to its constructed state before each test (cheaper than new ones)."""
    shared.reset()
    return shared


@pytest.fixture(scope="module")
def first_workspace_sid(shared) -> str:
    shared.reset()
    return shared.client().taskrouter.v1.workspaces.create(friendly_name="After").sid


def test_three_blueprints_are_bundled_and_fixtures_points_at_them():
    assert available() == ["chat_voice_team", "contact_centre", "helpdesk"]
    assert "emulator/blueprints/" in (ROOT / "fixtures" / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["chat_voice_team", "contact_centre", "helpdesk"])
def test_a_bundled_blueprint_builds_every_resource_it_names(emu, name):
    data = read(name)
    result = emu.load(name)
    ws = emu.client().taskrouter.v1.workspaces(result.workspace_sid)
    assert ws.fetch().friendly_name == data["friendly_name"] == result.friendly_name
    queues = {q.friendly_name: q for q in ws.task_queues.list()}
    assert {q["friendly_name"]: q.get("target_workers") for q in data["task_queues"]} == \
        {n: q.target_workers for n, q in queues.items()}
    assert {n: q.sid for n, q in queues.items()} == result.queues
    assert {w.friendly_name: w.sid for w in ws.workflows.list()} == result.workflows
    workers = {w.friendly_name: w for w in ws.workers.list()}
    assert {w.sid for w in workers.values()} == set(result.workers.values())
    for entry in data["workers"]:
        worker = workers[entry["friendly_name"]]
        assert json.loads(worker.attributes) == entry.get("attributes", {})
        assert worker.activity_name == entry.get("activity", "Offline")
        channels = {c.task_channel_unique_name: c for c in ws.workers(worker.sid).worker_channels.list()}
        for unique, settings in entry.get("channels", {}).items():
            assert channels[unique].configured_capacity == settings.get("capacity", 1)
            assert channels[unique].available == settings.get("available", True)
    assert set(result.activities) >= {a["friendly_name"] for a in data["activities"]}
    assert set(result.task_channels) >= {"default", "voice", "chat", "sms", "video"}


def test_load_by_path_and_by_dict_give_the_same_workspace(tmp_path):
    data = read("helpdesk")
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    shapes = []
    for source in (path, str(path), data):
        with TaskRouterEmulator(start=START, seed=3) as emu:
            result = emu.load(source)
            shapes.append((result.workspace_sid, result.queues, result.workers))
    assert shapes[0] == shapes[1] == shapes[2]
    assert data == read("helpdesk")  # loading does not touch the caller's dict


def _route(emu, result, workflow: str, attributes: dict, channel: str = "default"):
    ws = emu.client().taskrouter.v1.workspaces(result.workspace_sid)
    task = ws.tasks.create(attributes=json.dumps(attributes), workflow_sid=result.workflows[workflow],
                           task_channel=channel)
    return ws, task


def test_helpdesk_urgent_tickets_get_priority(emu):
    result = emu.load("helpdesk")
    ws, urgent = _route(emu, result, "Ticket Intake", {"urgency": "high"})
    _, normal = _route(emu, result, "Ticket Intake", {"urgency": "low"})
    assert (urgent.priority, normal.priority) == (10, 0)
    assert {ws.tasks(t.sid).fetch().task_queue_sid for t in (urgent, normal)} == {result.queues["Help Desk"]}


def test_contact_centre_routes_by_language_and_escalates_on_timeouts(emu):
    result = emu.load("contact_centre")
    ws, sale = _route(emu, result, "Inbound Calls", {"department": "sales", "language": "es"})
    [offer] = ws.tasks(sale.sid).reservations.list()
    assert offer.worker_sid == result.workers["Bruno"]
    offer.update(reservation_status="accepted")

    # No Spanish-speaking support agent is available: Support, then Senior with the language, then any Senior.
    _, support = _route(emu, result, "Inbound Calls", {"department": "support", "language": "es"})
    assert ws.tasks(support.sid).fetch().task_queue_sid == result.queues["Support"]
    emu.clock.advance(180)
    assert ws.tasks(support.sid).fetch().task_queue_sid == result.queues["Senior"]
    assert ws.tasks(support.sid).reservations.list() == []
    emu.clock.advance(300)
    task = ws.tasks(support.sid).fetch()
    assert (task.task_queue_sid, task.assignment_status) == (result.queues["Senior"], "reserved")
    assert [r.worker_sid for r in ws.tasks(support.sid).reservations.list()] == [result.workers["Dmitri"]]


def test_chat_voice_team_multitasks_chats_up_to_each_capacity(emu):
    result = emu.load("chat_voice_team")
    ws = emu.client().taskrouter.v1.workspaces(result.workspace_sid)
    chats = [_route(emu, result, "Omnichannel", {"channel": "chat", "n": i}, "chat")[1] for i in range(8)]
    reserved = {}
    for task in chats:
        for r in ws.tasks(task.sid).reservations.list():
            reserved.setdefault(r.worker_sid, []).append(task.sid)
    assert {w: len(t) for w, t in reserved.items()} == {result.workers["Alice"]: 3, result.workers["Bob"]: 4}
    assert sorted(ws.tasks(t.sid).fetch().assignment_status for t in chats) == ["pending"] + ["reserved"] * 7
    _, call = _route(emu, result, "Omnichannel", {"channel": "voice"}, "voice")
    assert ws.tasks(call.sid).fetch().priority == 10
    [offer] = ws.tasks(call.sid).reservations.list()  # the call is offered, to one voice agent
    assert offer.worker_sid in {result.workers["Alice"], result.workers["Carmen"]}


def _bad(change):
    data = copy.deepcopy(read("contact_centre"))
    change(data)
    return data


BAD = [
    (lambda d: d.pop("friendly_name"), "friendly_name: required"),
    (lambda d: d.update(queues=[]), "queues: unknown key"),
    (lambda d: d.update(multi_task_enabled="yes"), "multi_task_enabled: must be true or false"),
    (lambda d: d["workers"][2].update(attributes=["support"]), "workers[2].attributes: must be a JSON object"),
    (lambda d: d["workers"][0].update(nickname="Al"), "workers[0].nickname: unknown key"),
    (lambda d: d["workers"][1].update(activity="Asleep"), "workers[1].activity: no activity named 'Asleep'"),
    (lambda d: d["workers"][0].update(channels={"fax": {"capacity": 1}}), "workers[0].channels.fax: no task channel"),
    (lambda d: d["workers"][0].update(channels={"voice": {"capacity": True}}),
     "workers[0].channels.voice.capacity: must be an integer"),
    (lambda d: d["workers"][0].update(channels={"voice": {"capacity": 99}}), "workers[0].channels.voice: "),
    (lambda d: d["workers"][3].update(friendly_name="alice"), "workers[3]: "),
    (lambda d: d["task_queues"][0].update(target_workers="skills HAS"), "task_queues[0]: "),
    (lambda d: d["task_queues"][1].update(reservation_activity="Nope"),
     "task_queues[1].reservation_activity: no activity named 'Nope'"),
    (lambda d: d["task_queues"].append({"friendly_name": "Sales"}), "task_queues[5]: "),
    (lambda d: d["activities"][0].update(available=False), "activities[0].available: "),
    (lambda d: d["activities"].append("Lunch"), "activities[5]: must be a JSON object"),
    (lambda d: d.update(default_activity="Gone"), "default_activity: no activity named 'Gone'"),
    (lambda d: d["workflows"][0]["configuration"]["task_routing"]["filters"][1]["targets"][0].update(queue="Sale"),
     "workflows[0].configuration.task_routing.filters[1].targets[0].queue: no task queue named 'Sale'"),
    (lambda d: d["workflows"][0]["configuration"]["task_routing"].update(default_filter={"queue": "Nobody"}),
     "workflows[0].configuration.task_routing.default_filter.queue: no task queue named 'Nobody'"),
    (lambda d: d["workflows"][0]["configuration"]["task_routing"]["filters"][0].update(expression="tier =="),
     "workflows[0]: "),
    (lambda d: d["workflows"][0].update(configuration="{not json"), "workflows[0].configuration: not valid JSON"),
    (lambda d: d["workflows"][0].update(task_reservation_timeout=0), "workflows[0]: "),
    (lambda d: d["workflows"][0]["configuration"]["task_routing"].update(filters=3),
     "workflows[0].configuration.task_routing.filters: must be a list"),
    (lambda d: d["workflows"][0]["configuration"]["task_routing"]["filters"][0].update(targets="Sales"),
     "workflows[0].configuration.task_routing.filters[0].targets: must be a list"),
]


@pytest.mark.parametrize("change, message", BAD, ids=[f"{i}-{m.split(':')[0]}" for i, (_, m) in enumerate(BAD)])
def test_an_invalid_blueprint_names_the_bad_entry_and_changes_nothing(first_workspace_sid, emu, change, message):
    with pytest.raises(BlueprintError) as caught:
        emu.load(_bad(change))
    assert str(caught.value).startswith(message)
    client = emu.client()
    assert client.taskrouter.v1.workspaces.list() == []
    # No SID was drawn: the next workspace is the one a fresh emulator with the same seed makes.
    assert client.taskrouter.v1.workspaces.create(friendly_name="After").sid == first_workspace_sid


def test_an_unknown_blueprint_says_what_exists(emu):
    with pytest.raises(BlueprintError) as caught:
        emu.load("no-such-blueprint")
    assert str(caught.value) == ("no blueprint named 'no-such-blueprint': not a bundled blueprint "
                                 "(chat_voice_team, contact_centre, helpdesk) nor a file")
    with pytest.raises(TypeError, match="a blueprint is a bundled name, a path or a dict"):
        emu.load([1, 2])


def test_a_file_that_is_not_a_json_object_is_refused(emu, tmp_path):
    (tmp_path / "list.json").write_text("[]", encoding="utf-8")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(BlueprintError, match="a blueprint is a JSON object"):
        emu.load(tmp_path / "list.json")
    with pytest.raises(BlueprintError, match="not valid JSON"):
        emu.load(tmp_path / "broken.json")


def test_the_server_loads_blueprints_at_start_and_rejects_bad_ones(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"friendly_name": "x", "workers": [{"friendly_name": "a"}, {"attributes": {}}]}),
                   encoding="utf-8")
    assert cli.main(["serve", "--port", "0", "--blueprint", str(bad)]) == 2  # before serving anything
    assert f"--blueprint {bad}: workers[1].friendly_name: required" in capsys.readouterr().err
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "serve", "--port", "0", "--seed", "4",
                             "--blueprint", "helpdesk", "--blueprint", "chat_voice_team"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        loaded = [json.loads(proc.stdout.readline()) for _ in range(2)]
        banner = proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert [b["blueprint"] for b in loaded] == ["helpdesk", "chat_voice_team"]
    assert loaded[0]["task_queues"].keys() == {"Help Desk"}
    assert loaded[1]["workers"].keys() == {"Alice", "Bob", "Carmen"}
    assert banner.startswith("TaskRouter emulator ")


def test_an_unreadable_blueprint_file_says_so(tmp_path, emu):
    path = tmp_path / "latin1.json"
    path.write_bytes('{"friendly_name": "Caf\xe9"}'.encode("latin-1"))
    with pytest.raises(BlueprintError, match="cannot be read as UTF-8"):
        emu.load(path)


@pytest.mark.parametrize("argv, message", [
    (["--log-level", "chatty"], "--log-level: not a logging level"),
    (["--credentials", "/nonexistent/credentials.json"], "--credentials: /nonexistent/credentials.json"),
])
def test_the_server_refuses_bad_options_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:  # argparse's exit for a bad option
        cli.main(["serve", "--port", "0", *argv])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
