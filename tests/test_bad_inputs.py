"""Bad requests, sent as raw HTTP: each answers a Twilio error body and changes nothing."""

from __future__ import annotations

import base64
import json
import random

import pytest
from conftest import ACCOUNT_SID, OTHER_ACCOUNT_SID

from emulator import errors, spec


def basic(username: str, password: str = "token") -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


AUTH = basic(ACCOUNT_SID)
WS = "/v1/Workspaces/<ws>"
ZERO = "0" * 32


def config(*filters, default: str | None = "<wq>") -> str:
    routing: dict = {"filters": list(filters)}
    if default is not None:
        routing["default_filter"] = {"queue": default}
    return json.dumps({"task_routing": routing})


VALID_CONFIG = config()


def fill(value, ctx: dict):
    """Replace ``<name>`` placeholders (JSON-safe, unlike str.format) with the world's SIDs."""
    if isinstance(value, str):
        for key, sid in ctx.items():
            value = value.replace(f"<{key}>", sid)
        return value
    if isinstance(value, dict):
        return {k: fill(v, ctx) for k, v in value.items()}
    return value


def row(id_, method, path, status, code, *, form=None, query=None, headers=AUTH, message=None, mentions=None):
    """One bad request; ``message`` is the exact error text, ``mentions`` a fragment it must contain
    (so a row cannot pass because of some other, unintended error)."""
    return pytest.param(method, path, form, query, headers, status, code, message, mentions, id=id_)


ROWS = [
    # --- missing required parameters ----------------------------------------------------------
    row("workspace-no-name", "POST", "/v1/Workspaces", 400, 20001, form={"Template": "FIFO"},
        message=errors.MISSING_PARAMETER.format(name="FriendlyName")),
    row("activity-no-name", "POST", WS + "/Activities", 400, 20001, form={"Available": "true"},
        message=errors.MISSING_PARAMETER.format(name="FriendlyName")),
    row("queue-no-name", "POST", WS + "/TaskQueues", 400, 20001, form={"TargetWorkers": "1==1"},
        message=errors.MISSING_PARAMETER.format(name="FriendlyName")),
    row("worker-no-name", "POST", WS + "/Workers", 400, 20001, form={"Attributes": "{}"},
        message=errors.MISSING_PARAMETER.format(name="FriendlyName")),
    row("worker-blank-name", "POST", WS + "/Workers", 400, 20001, form={"FriendlyName": "   "},
        mentions='FriendlyName'),
    row("workflow-no-name", "POST", WS + "/Workflows", 400, 20001, form={"Configuration": VALID_CONFIG},
        message=errors.MISSING_PARAMETER.format(name="FriendlyName")),
    row("workflow-no-configuration", "POST", WS + "/Workflows", 400, 20001, form={"FriendlyName": "W"},
        message=errors.MISSING_PARAMETER.format(name="Configuration")),
    row("channel-no-name", "POST", WS + "/TaskChannels", 400, 20001, form={"UniqueName": "email"},
        message=errors.MISSING_PARAMETER.format(name="FriendlyName")),
    row("channel-no-unique-name", "POST", WS + "/TaskChannels", 400, 20001, form={"FriendlyName": "Email"},
        message=errors.MISSING_PARAMETER.format(name="UniqueName")),
    row("channel-bad-unique-name", "POST", WS + "/TaskChannels", 400, 20001,
        form={"FriendlyName": "Email", "UniqueName": "e mail"}, mentions="UniqueName"),
    # --- malformed and unknown SIDs -----------------------------------------------------------
    row("malformed-sid-in-body", "POST", WS + "/Workers", 400, 20001,
        form={"FriendlyName": "New", "ActivitySid": "WAxyz"},
        message=errors.INVALID_SID.format(value="WAxyz", name="ActivitySid")),
    row("malformed-default-activity", "POST", WS, 400, 20001, form={"DefaultActivitySid": "WKxyz"},
        mentions='DefaultActivitySid'),
    row("malformed-sid-in-body-wrong-prefix", "POST", WS + "/Tasks", 400, 20001,
        form={"WorkflowSid": "WQ" + ZERO}, mentions='WorkflowSid'),
    row("malformed-worker-path", "GET", WS + "/Workers/WKxyz", 404, 20404, mentions='/Workers/WKxyz'),
    row("malformed-task-path", "POST", WS + "/Tasks/WT123", 404, 20404, form={"Priority": "1"},
        mentions='/Tasks/WT123'),
    row("malformed-workspace-path", "DELETE", "/v1/Workspaces/nope", 404, 20404,
        mentions='/v1/Workspaces/nope'),
    row("unknown-workspace", "GET", "/v1/Workspaces/WS" + ZERO, 404, 20404,
        mentions='WS00000000000000000000000000000000'),
    row("unknown-worker", "GET", WS + "/Workers/WK" + ZERO, 404, 20404,
        message=errors.RESOURCE_NOT_FOUND.format(path="/v1/Workspaces/<ws>/Workers/WK" + ZERO)),
    row("unknown-task-update", "POST", WS + "/Tasks/WT" + ZERO, 404, 20404, form={"Priority": "3"},
        mentions='WT00000000000000000000000000000000'),
    row("unknown-activity-delete", "DELETE", WS + "/Activities/WA" + ZERO, 404, 20404,
        mentions='WA00000000000000000000000000000000'),
    row("unknown-worker-channel", "POST", WS + "/Workers/<wk>/Channels/fax", 404, 20404, form={"Capacity": "2"},
        mentions='/Channels/fax'),
    row("unknown-activity-in-body", "POST", WS + "/Workers", 400, 20001,
        form={"FriendlyName": "New", "ActivitySid": "WA" + ZERO}, mentions='ActivitySid'),
    row("unknown-workflow-in-body", "POST", WS + "/Tasks", 400, 20001, form={"WorkflowSid": "WW" + ZERO},
        mentions='WorkflowSid'),
    row("unknown-task-channel", "POST", WS + "/Tasks", 400, 20001, form={"TaskChannel": "fax"},
        mentions='TaskChannel'),
    row("other-accounts-workspace", "GET", WS, 404, 20404, headers=basic(OTHER_ACCOUNT_SID),
        mentions='<ws>'),
    # --- integers -----------------------------------------------------------------------------
    row("priority-negative", "POST", WS + "/Tasks", 400, 20001, form={"Priority": "-1"},
        mentions='Priority'),
    row("priority-not-integer", "POST", WS + "/Tasks", 400, 20001, form={"Priority": "high"},
        mentions='Priority'),
    row("priority-float", "POST", WS + "/Tasks/<wt>", 400, 20001, form={"Priority": "1.5"},
        mentions='Priority'),
    row("timeout-zero", "POST", WS + "/Tasks", 400, 20001, form={"Timeout": "0"}, mentions='Timeout'),
    row("max-reserved-workers-51", "POST", WS + "/TaskQueues", 400, 20001,
        form={"FriendlyName": "Q", "MaxReservedWorkers": "51"}, mentions='MaxReservedWorkers'),
    row("reservation-timeout-zero", "POST", WS + "/Workflows/<ww>", 400, 20001,
        form={"TaskReservationTimeout": "0"}, mentions='TaskReservationTimeout'),
    row("capacity-too-big", "POST", WS + "/Workers/<wk>/Channels/voice", 400, 20001, form={"Capacity": "51"},
        mentions='Capacity'),
    row("page-size-zero", "GET", WS + "/Workers", 400, 20001, query={"PageSize": "0"}, mentions='PageSize'),
    row("page-size-1001", "GET", WS + "/Activities", 400, 20001, query={"PageSize": "1001"},
        mentions='PageSize'),
    row("events-minutes-zero", "GET", WS + "/Events", 400, 20001, query={"Minutes": "0"},
        mentions='Minutes'),
    row("events-minutes-huge", "GET", WS + "/Events", 400, 20001, query={"Minutes": "9999999999999999999"},
        mentions='Minutes'),
    # --- booleans -----------------------------------------------------------------------------
    row("bad-boolean-multitask", "POST", WS, 400, 20001, form={"MultiTaskEnabled": "maybe"},
        mentions='MultiTaskEnabled'),
    row("bad-boolean-channel", "POST", WS + "/TaskChannels", 400, 20001,
        form={"FriendlyName": "E", "UniqueName": "email", "ChannelOptimizedRouting": "perhaps"},
        mentions='ChannelOptimizedRouting'),
    row("bad-boolean-list", "GET", WS + "/Tasks", 400, 20001, query={"HasAddons": "sure"},
        mentions='HasAddons'),
    # --- enums --------------------------------------------------------------------------------
    row("task-order-xyz", "POST", WS + "/TaskQueues", 400, 20001, form={"FriendlyName": "Q", "TaskOrder": "XYZ"},
        mentions='TaskOrder'),
    row("template-bad", "POST", "/v1/Workspaces", 400, 20001, form={"FriendlyName": "W", "Template": "BAD"},
        mentions='Template'),
    row("assignment-status-bogus", "POST", WS + "/Tasks/<wt>", 400, 20001, form={"AssignmentStatus": "bogus"},
        mentions='AssignmentStatus'),
    row("assignment-status-assigned", "POST", WS + "/Tasks/<wt>", 400, 20001, form={"AssignmentStatus": "assigned"},
        mentions='AssignmentStatus'),
    row("queue-order-random", "POST", WS, 400, 20001, form={"PrioritizeQueueOrder": "RANDOM"},
        mentions='PrioritizeQueueOrder'),
    row("ordering-unknown", "GET", WS + "/Tasks", 400, 20001, query={"Ordering": "Age:desc"},
        mentions='Ordering'),
    # --- JSON attributes ----------------------------------------------------------------------
    row("attributes-not-json", "POST", WS + "/Workers", 400, 20001, form={"FriendlyName": "New", "Attributes": "{bad"},
        mentions='Attributes'),
    row("attributes-array", "POST", WS + "/Tasks", 400, 20001, form={"Attributes": "[1, 2]"},
        message=errors.INVALID_JSON.format(name="Attributes", reason="not an object")),
    row("attributes-null-update", "POST", WS + "/Tasks/<wt>", 400, 20001, form={"Attributes": "null"},
        mentions='Attributes'),
    row("attributes-too-long", "POST", WS + "/Workers/<wk>", 400, 20001,
        form={"Attributes": json.dumps({"x": "y" * 4090})},
        message=errors.ATTRIBUTES_TOO_LONG.format(name="Attributes", limit=4096)),
    row("attributes-and-status", "POST", WS + "/Tasks/<wt>", 400, 20001,
        form={"Attributes": "{}", "AssignmentStatus": "canceled"}, message=errors.TASK_ATTRIBUTES_AND_STATUS),
    row("attributes-nan", "POST", WS + "/Workers", 400, 20001, form={"FriendlyName": "New", "Attributes": '{"a": NaN}'},
        mentions='Attributes'),
    row("attributes-number-overflows", "POST", WS + "/Tasks/<wt>", 400, 20001, form={"Attributes": '{"a": 1e999}'},
        mentions='Attributes'),
    row("evaluate-worker-attributes-too-deep", "GET", WS + "/TaskQueues", 400, 20001,
        query={"EvaluateWorkerAttributes": '{"a":' + "[" * 5000 + "]" * 5000 + "}"},
        mentions='EvaluateWorkerAttributes'),
    row("evaluate-worker-attributes-not-json", "GET", WS + "/TaskQueues", 400, 20001,
        query={"EvaluateWorkerAttributes": "{nope"}, mentions='EvaluateWorkerAttributes'),
    # --- workflow configuration ---------------------------------------------------------------
    row("config-not-json", "POST", WS + "/Workflows", 400, 20001, form={"FriendlyName": "W", "Configuration": "{"},
        mentions='Configuration'),
    row("config-no-task-routing", "POST", WS + "/Workflows", 400, 20001,
        form={"FriendlyName": "W", "Configuration": '{"routing": {}}'}, mentions='task_routing'),
    row("config-unknown-queue", "POST", WS + "/Workflows", 400, 20001,
        form={"FriendlyName": "W", "Configuration": config(default="WQ" + ZERO)},
        mentions='WQ00000000000000000000000000000000'),
    row("config-first-target-without-queue", "POST", WS + "/Workflows", 400, 20001,
        form={"FriendlyName": "W", "Configuration": config({"expression": "1==1", "targets": [{"priority": 1}]})},
        mentions='targets[0].queue'),
    row("config-bad-expression", "POST", WS + "/Workflows", 400, 20001,
        form={"FriendlyName": "W", "Configuration": config({"expression": "type ==", "targets": [{"queue": "<wq>"}]})},
        mentions='filters[0].expression'),
    row("config-infinity", "POST", WS + "/Workflows/<ww>", 400, 20001,
        form={"Configuration": '{"task_routing": {"default_filter": {"queue": "<wq>"}}, "x": Infinity}'},
        mentions='Configuration'),
    row("config-timeout-zero", "POST", WS + "/Workflows/<ww>", 400, 20001,
        form={"Configuration": config({"targets": [{"queue": "<wq>", "timeout": 0}]})}, mentions='timeout'),
    # --- expressions --------------------------------------------------------------------------
    row("target-workers-bad", "POST", WS + "/TaskQueues", 400, 20001,
        form={"FriendlyName": "Q", "TargetWorkers": "languages HAS"}, mentions='languages HAS'),
    row("target-workers-expression-bad", "GET", WS + "/Workers", 400, 20001,
        query={"TargetWorkersExpression": "((("}, mentions='TargetWorkersExpression'),
    row("evaluate-task-attributes-bad", "GET", WS + "/Tasks", 400, 20001, query={"EvaluateTaskAttributes": "a =="},
        mentions='EvaluateTaskAttributes'),
    # --- uniqueness ---------------------------------------------------------------------------
    row("duplicate-queue", "POST", WS + "/TaskQueues", 400, 20001, form={"FriendlyName": "Sample Queue"},
        message=errors.QUEUE_NAME_TAKEN.format(name="Sample Queue", workspace_sid="<ws>", account_sid=ACCOUNT_SID)),
    row("duplicate-worker-casefold", "POST", WS + "/Workers", 400, 20001, form={"FriendlyName": "ALICE"},
        message=errors.WORKER_NAME_TAKEN.format(name="ALICE", workspace_sid="<ws>", account_sid=ACCOUNT_SID)),
    row("duplicate-channel", "POST", WS + "/TaskChannels", 400, 20001,
        form={"FriendlyName": "Voice 2", "UniqueName": "voice"}, mentions='voice'),
    row("duplicate-activity", "POST", WS + "/Activities", 400, 20001, form={"FriendlyName": "offline"},
        mentions='offline'),
    # --- state rules --------------------------------------------------------------------------
    row("activity-available-immutable", "POST", WS + "/Activities/<wa_busy>", 400, 20001,
        form={"Available": "true"}, message=errors.ACTIVITY_AVAILABLE_IMMUTABLE),
    row("delete-default-activity", "DELETE", WS + "/Activities/<wa_offline>", 400, 20001,
        mentions='default activity'),
    row("delete-activity-in-use", "DELETE", WS + "/Activities/<wa_busy>", 400, 20001,
        message=errors.ACTIVITY_IN_USE.format(sid="<wa_busy>", reason="the current activity of one or more Workers")),
    row("delete-queue-with-tasks", "DELETE", WS + "/TaskQueues/<wq>", 400, 20001,
        message=errors.QUEUE_IN_USE.format(sid="<wq>", reason="Tasks are still routed to it")),
    row("delete-routed-queue", "DELETE", WS + "/TaskQueues/<wq_vip>", 400, 20001,
        message=errors.QUEUE_IN_USE.format(sid="<wq_vip>", reason="Workflow Default Fifo Workflow routes to it")),
    row("delete-workflow-with-pending-task", "DELETE", WS + "/Workflows/<ww>", 400, 20001,
        message=errors.WORKFLOW_IN_USE.format(sid="<ww>")),
    row("delete-channel-with-active-task", "DELETE", WS + "/TaskChannels/default", 400, 20001,
        mentions='active Tasks'),
    row("reject-pending-to-available", "POST", WS + "/Workers/<wk>", 400, 20001,
        form={"ActivitySid": "<wa_available>", "RejectPendingReservations": "true"},
        mentions='RejectPendingReservations'),
    row("if-match-mismatch", "POST", WS + "/Tasks/<wt>", 412, 20412, form={"Priority": "4"},
        headers={**AUTH, "If-Match": "99"}, mentions='If-Match'),
    row("virtual-start-time-future", "POST", WS + "/Tasks", 400, 20001,
        form={"VirtualStartTime": "2026-01-02T00:00:00Z"}, mentions='VirtualStartTime'),
    row("virtual-start-time-not-a-date", "POST", WS + "/Tasks", 400, 20001, form={"VirtualStartTime": "yesterday"},
        mentions='VirtualStartTime'),
    row("routing-target-bad-format", "POST", WS + "/Tasks", 400, 20001, form={"RoutingTarget": "XX123"},
        message=errors.ROUTING_TARGET_INVALID.format(value="XX123", workspace_sid="<ws>", account_sid=ACCOUNT_SID)),
    row("cancel-canceled-task", "POST", WS + "/Tasks/<wt_done>", 400, 20001, form={"AssignmentStatus": "canceled"},
        mentions='<wt_done>'),
    # --- paging -------------------------------------------------------------------------------
    row("page-without-token", "GET", WS + "/Workers", 400, 20001, query={"Page": "2"}, mentions='Page'),
    row("page-token-garbage", "GET", WS + "/Tasks", 400, 20001, query={"PageToken": "garbage"},
        mentions='PageToken'),
    # --- routes and methods -------------------------------------------------------------------
    row("put-workspaces", "PUT", "/v1/Workspaces", 405, 20004, form={"FriendlyName": "X"},
        message=errors.METHOD_NOT_ALLOWED.format(method="PUT", path="/v1/Workspaces")),
    row("patch-worker", "PATCH", WS + "/Workers/<wk>", 405, 20004, form={"FriendlyName": "X"},
        mentions='PATCH'),
    row("delete-events", "DELETE", WS + "/Events", 405, 20004, mentions='DELETE'),
    row("unknown-route", "GET", "/v1/Nope", 404, 20404,
        message=errors.RESOURCE_NOT_FOUND.format(path="/v1/Nope")),
    row("unknown-version", "GET", "/v2/Workspaces", 404, 20404, mentions='/v2/Workspaces'),
    # --- authentication -----------------------------------------------------------------------
    row("no-auth", "GET", "/v1/Workspaces", 401, 20003, headers={}, message=errors.AUTH_REQUIRED),
    row("bearer-auth", "GET", "/v1/Workspaces", 401, 20003, headers={"Authorization": "Bearer abc"},
        mentions='Authentication Error'),
    row("auth-not-base64", "POST", WS + "/Workers", 401, 20003, form={"FriendlyName": "Z"},
        headers={"Authorization": "Basic !!!"}, message=errors.AUTH_INVALID),
    row("auth-not-a-sid", "GET", "/v1/Workspaces", 401, 20003, headers=basic("someone"),
        mentions='Authentication Error'),
    row("auth-unknown-api-key", "GET", "/v1/Workspaces", 401, 20003, headers=basic("SK" + "1" * 32, "secret"),
        mentions='Authentication Error'),
]

# Which list operation shows each collection of the snapshot, and its JSON key.
LISTS = [
    ("ListWorkspace", "/v1/Workspaces", "workspaces"),
    ("ListActivity", WS + "/Activities", "activities"),
    ("ListTaskChannel", WS + "/TaskChannels", "channels"),
    ("ListTaskQueue", WS + "/TaskQueues", "task_queues"),
    ("ListWorker", WS + "/Workers", "workers"),
    ("ListWorkerChannel", WS + "/Workers/<wk>/Channels", "channels"),
    ("ListWorkflow", WS + "/Workflows", "workflows"),
    ("ListTask", WS + "/Tasks", "tasks"),
    ("ListTaskReservation", WS + "/Tasks/<wt>/Reservations", "reservations"),
    ("ListWorkerReservation", WS + "/Workers/<wk>/Reservations", "reservations"),
]


@pytest.fixture
def world(emu) -> dict:
    """A FIFO workspace whose workflow also routes VIPs to an empty queue, a worker in a custom
    (unavailable) activity, a pending task in the sample queue and canceled tasks (``wt_done`` the last)."""
    client = emu.client()
    ws = client.taskrouter.v1.workspaces.create(friendly_name="Bad inputs", template="FIFO")
    context = client.taskrouter.v1.workspaces(ws.sid)
    activities = {a.friendly_name: a.sid for a in context.activities.list()}
    sample = context.task_queues.list()[0].sid
    vip = context.task_queues.create(friendly_name="VIP").sid
    workflow = context.workflows.list()[0].sid
    context.workflows(workflow).update(configuration=fill(
        config({"expression": "vip == true", "targets": [{"queue": "<wq_vip>"}]}), {"wq": sample, "wq_vip": vip}))
    busy = context.activities.create(friendly_name="Busy")
    worker = context.workers.create(friendly_name="Alice", activity_sid=busy.sid)
    task = context.tasks.create(attributes='{"type": "support"}', task_channel="default")
    # two canceled tasks: the clock holds the first one's deletion, the workspace's registry the second's
    for _ in range(2):
        done = context.tasks.create(attributes="{}")
        context.tasks(done.sid).update(assignment_status="canceled")
    emu.client(OTHER_ACCOUNT_SID).taskrouter.v1.workspaces.create(friendly_name="Elsewhere")
    world = {"ws": ws.sid, "wk": worker.sid, "wt": task.sid, "wt_done": done.sid, "wq": sample, "wq_vip": vip,
             "ww": workflow, "wa_offline": activities["Offline"], "wa_available": activities["Available"],
             "wa_busy": busy.sid}
    assert context.tasks(task.sid).fetch().task_queue_sid == sample
    return world


def snapshot(emu, ctx: dict) -> dict:
    """Everything a request could change: every list of the workspace (schema-checked), the events
    and timers behind them, the clock and the SID generator."""
    state = {}
    for operation_id, path, key in LISTS:
        answer = emu.http.get(fill(path, ctx), query_string={"PageSize": "1000"}, headers=AUTH)
        body = answer.get_json()
        assert answer.status_code == 200, body
        assert spec.validation_errors(operation_id, body, 200) == []
        state[path] = body[key]
    state["events"] = {ws.sid: [e.sid for e in ws.events.values()]
                       for workspaces in emu.backend.accounts.values() for ws in workspaces.values()}
    state["timers"] = [(t.due, t.name) for t in emu.clock.pending()]
    # (the clock holds one finished-task deletion per workspace; the registries hold every one)
    state["registered timers"] = [(t.due, t.seq, t.name) for workspaces in emu.backend.accounts.values()
                                  for ws in workspaces.values() for t in ws.timers.rows()]
    state["now"] = emu.clock.now()
    state["sids"] = emu.backend.sids.getstate()
    return state


@pytest.mark.parametrize("method, path, form, query, headers, status, code, message, mentions", ROWS)
def test_bad_request(emu, world, method, path, form, query, headers, status, code, message, mentions):
    before = snapshot(emu, world)
    answer = emu.http.open(fill(path, world), method=method, data=fill(form, world) if form else None,
                           query_string=query, headers=headers)
    body = answer.get_json()
    assert answer.status_code == status, body
    assert answer.content_type.startswith("application/json")
    assert set(body) == {"code", "message", "more_info", "status"}
    assert body["code"] == code
    assert body["status"] == status
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert isinstance(body["message"], str) and body["message"]
    if message is not None:
        assert body["message"] == fill(message, world)
    if mentions is not None:
        assert fill(mentions, world) in body["message"]
    assert snapshot(emu, world) == before


def test_snapshot_sees_a_change(emu, world):
    """The "changed nothing" check above is only worth something if a real change shows."""
    before = snapshot(emu, world)
    answer = emu.http.post(fill(WS + "/Workers/<wk>", world), data={"Attributes": '{"x": 1}'}, headers=AUTH)
    assert answer.status_code == 200
    after = snapshot(emu, world)
    assert after != before
    assert after[WS + "/Workers"][0]["attributes"] == '{"x":1}'
    assert len(after["events"][world["ws"]]) == len(before["events"][world["ws"]]) + 1


def test_table_is_broad():
    assert len(ROWS) >= 35
    assert len({p.id for p in ROWS}) == len(ROWS)


# --- fuzzing ------------------------------------------------------------------------------------
JUNK = ["", "x", "WS", "WK" + ZERO, "WS" + ZERO, "Stats", "..", "%00", "ü", "' OR 1=1", "{}", "[]",
        "-1", "1e9", "true", "null", "a" * 300, "WT" + "f" * 32, "Channels", "Reservations", "voice"]
FIELDS = ["FriendlyName", "Attributes", "Priority", "Timeout", "ActivitySid", "Configuration", "TargetWorkers",
          "AssignmentStatus", "TaskChannel", "WorkflowSid", "Capacity", "Available", "PageSize", "Page",
          "PageToken", "Template", "UniqueName", "MaxReservedWorkers", "TaskOrder", "VirtualStartTime",
          "RoutingTarget", "Ordering", "Minutes", "EventType", "ReservationStatus", "Instruction", "Junk"]
VALUES = JUNK + ['{"a": 1}', "[1]", "{", "FIFO", "canceled", "completed", "1==1", "(((", "2026-01-01T00:00:00Z",
                 "2999-01-01T00:00:00Z", "0", "51", "1001", "Priority:desc", "accepted"]


def random_path(rng: random.Random, world: dict, segments: list[str]) -> str:
    """A real route of the spec, its SIDs filled from the world (or junk), then maybe mangled."""
    op = rng.choice([o for o in spec.operations().values() if "Statistics" not in o.path])
    parts = []
    for part in op.path.strip("/").split("/"):
        if part.startswith("{"):
            prefix = (op.parameter(part[1:-1]).schema.get("pattern") or "^..")[1:3]
            fits = [sid for sid in world.values() if sid.startswith(prefix)] or ["voice", "default"]
            part = rng.choice(fits) if rng.random() < 0.8 else rng.choice(JUNK + list(world.values()))
        parts.append(part)
    mangle = rng.random()
    if mangle < 0.15:
        parts[rng.randrange(len(parts))] = rng.choice(JUNK + segments)
    elif mangle < 0.25:
        parts.insert(rng.randrange(len(parts) + 1), rng.choice(JUNK + segments))
    elif mangle < 0.3:
        parts = parts[:rng.randrange(1, len(parts) + 1)]
    return "/" + "/".join(parts)


def test_random_garbage_never_answers_5xx(emu, world):
    rng = random.Random(7)
    segments = sorted({part for op in spec.operations().values() for part in op.path.strip("/").split("/")
                       if not part.startswith("{") and "Statistics" not in part})
    statuses = []
    for _ in range(300):
        path = random_path(rng, world, segments)
        form = {rng.choice(FIELDS): rng.choice(VALUES) for _ in range(rng.randint(0, 4))}
        method = rng.choice(["GET", "GET", "POST", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"])
        if method == "DELETE" and path == f"/v1/Workspaces/{world['ws']}":
            method = "GET"  # keep the world alive so later requests reach real handlers
        headers = AUTH if rng.random() < 0.85 else rng.choice([{}, basic("ACnope"), {"Authorization": "Basic"}])
        if method in ("GET", "DELETE", "HEAD"):
            answer = emu.http.open(path, method=method, query_string=form, headers=headers)
        else:
            answer = emu.http.open(path, method=method, data=form, headers=headers)
        assert answer.status_code < 500, (method, path, form, answer.get_data(as_text=True))
        statuses.append(answer.status_code)
    # the garbage reached real handlers, not only the router's 404
    assert {200, 400, 401, 404, 405} <= set(statuses)
    assert statuses.count(404) < 200
