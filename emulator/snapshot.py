"""Checkpoints: the whole emulator state as a versioned JSON document of plain data, and back.

Format ``taskrouter-emulator-snapshot``, version 3 (JSON Schema: ``emulator/snapshot.schema.json``,
shipped in the package)::

    {"format": "taskrouter-emulator-snapshot", "version": 3,
     "clock":    {"now": "2026-01-01T00:10:00+00:00", "mode": "manual"},
     "sids":     {"seed": 1234, "state": [625 integers: the SID generator's position]},
     "accounts": [{"account_sid": "AC..", "workspaces": [{"sid": "WS..", "friendly_name": ..., settings,
                   "activities": [...], "task_channels": [...], "task_queues": [...], "workers": [...],
                   "workflows": [...], "tasks": [...], "reservations": [...],
                   "events": {"columns": ["sid", ..., "event_date", "shape"], "shapes": [["TaskSid", ...], ...],
                              "rows": [["EV..", "task.created", ..., "2026-..", 0, "WT..", ...], ...]}}]}],
     "timers":   [{"due": "...", "kind": "reservation-timeout", "workspace": "WS..", "subject": "WR.."}],
     "inbox":    {"next_id": 12, "records": [{"id": 1, "kind": "event", "url": ..., ...}]}}

Each record holds the fields of the REST representation (attributes and workflow configurations
as the JSON text the service echoes); a task also holds its routing state (its route's targets
as workflow-configuration targets, the workers passed over, its reservation attempts); timers are
listed in the order they fire. Events are a table, as the engine keeps them: one row per event in
log order, its fixed ``columns``, then the index of its shape (the names of its data fields, each
shape listed once) and its data values; an object per event made most of a document's size and
most of the time to write and to check it. A workspace where a task transfer (the Worker SDK's) was made also
lists ``"transfers"``, and its task and reservations name theirs (``transfer_sid``). A document
names no code: no class, function or attribute of the emulator appears in it. Derived state
(routing indexes, parsed expressions and configurations, statistics) is rebuilt on restore.

``restore`` checks the document against the schema, then builds the whole new state aside,
checking every reference (a reservation's task and worker, a worker's activity, a timer's
subject, ...); only when all of it holds does it swap the state in, so an invalid document
raises ``SnapshotError`` and changes nothing. Version 2 documents (an object per event) are checked
against their own schema (``snapshot-v2.schema.json``) and migrated; version 1 documents (which
described Python objects) are refused with a message saying so.

The engine lock is held only while the state is copied (``take``) or swapped in (``restore``),
never while a document is checked, encoded or written.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import json
import os
import re
import tempfile
import time
from collections import Counter, OrderedDict
from datetime import datetime
from importlib import resources
from operator import attrgetter, itemgetter
from typing import Any

import fastjsonschema
import jsonschema

from . import errors
from .clock import Clock, utc
from .engine import lifecycle
from .engine import validation as v
from .engine.events import stored_layout
from .engine.expressions import parse as parse_expression
from .engine.state import (
    ORIGIN,
    Activity,
    Event,
    EventLayout,
    Reservation,
    ReservationStatus,
    Route,
    Task,
    TaskChannel,
    TaskQueue,
    TaskRouting,
    Transfer,
    Worker,
    WorkerChannel,
    Workflow,
)
from .engine.workflow_config import Target, WorkflowConfiguration
from .engine.workspace import Workspace
from .webhooks.inbox import WebhookRecord

FORMAT = "taskrouter-emulator-snapshot"
VERSION = 3
MIGRATED = 2  # the older version still read (migrated on restore)
MAX_DOCUMENT_DEPTH = 64  # the schema's deepest path is 9 levels; anything far deeper is refused unread


class SnapshotError(ValueError):
    """A document is not a snapshot this emulator can restore (the message names the problem)."""


_SCHEMA_FILES = {VERSION: "snapshot.schema.json", MIGRATED: "snapshot-v2.schema.json"}


@functools.lru_cache(maxsize=2)
def schema(version: int = VERSION) -> dict:
    """The JSON Schema of the current format (or of the older version still read)."""
    text = resources.files("emulator").joinpath(_SCHEMA_FILES[version]).read_text(encoding="utf-8")
    return json.loads(text)


@functools.lru_cache(maxsize=2)
def _fast_check(version: int = VERSION):
    """The schema compiled to Python (fastjsonschema): checks a 100 MB document in seconds where
    an interpreting validator takes minutes. Only a document it refuses goes to ``_validator``,
    for the message."""
    return fastjsonschema.compile(schema(version))


@functools.lru_cache(maxsize=2)
def _validator(version: int = VERSION) -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(schema(version))
    return cls(schema(version))


# --- copying the state (under the lock) -------------------------------------------------------
ACTIVITY_FIELDS = ("sid", "friendly_name", "available", "date_created", "date_updated")
TASK_CHANNEL_FIELDS = ("sid", "friendly_name", "unique_name", "channel_optimized_routing", "date_created",
                       "date_updated")
TASK_QUEUE_FIELDS = ("sid", "friendly_name", "target_workers", "max_reserved_workers", "task_order",
                     "reservation_activity_sid", "assignment_activity_sid", "date_created", "date_updated")
WORKER_FIELDS = ("sid", "friendly_name", "attributes", "activity_sid", "date_created", "date_updated",
                 "date_status_changed", "version")
WORKER_CHANNEL_FIELDS = ("sid", "task_channel_sid", "configured_capacity", "available", "assigned_tasks",
                         "date_created", "date_updated")
WORKFLOW_FIELDS = ("sid", "friendly_name", "configuration", "assignment_callback_url",
                   "fallback_assignment_callback_url", "task_reservation_timeout", "document_content_type",
                   "date_created", "date_updated")
TASK_FIELDS = ("sid", "attributes", "assignment_status", "priority", "timeout", "task_channel_sid", "workflow_sid",
               "task_queue_sid", "date_created", "date_updated", "virtual_start_time", "task_queue_entered_date",
               "reason", "routing_target", "ignore_capacity", "addons", "version", "requested_queue_sid")
RESERVATION_FIELDS = ("sid", "task_sid", "worker_sid", "reservation_status", "date_created", "date_updated",
                      "post_work_activity_sid")
# A transfer (the Worker SDK's) exists only while one was made: tasks and reservations carry
# ``transfer_sid`` and the workspace ``transfers`` only then, so documents without any are unchanged.
TRANSFER_FIELDS = ("sid", "task_sid", "transfer_type", "transfer_mode", "transfer_to", "transfer_status",
                   "initiating_reservation_sid", "initiating_worker_sid", "initiating_queue_sid",
                   "initiating_workflow_sid", "date_created", "date_updated", "transfer_failed_reason",
                   "reservation_sid")
EVENT_FIELDS = ("sid", "event_type", "description", "resource_type", "resource_sid", "resource_path", "actor_type",
                "actor_sid", "actor_path", "event_date")
# An event row: these columns, then the event's data values in the order of its shape's names.
EVENT_COLUMNS = (*EVENT_FIELDS, "shape")
WORKSPACE_FIELDS = ("sid", "friendly_name", "event_callback_url", "events_filter", "multi_task_enabled",
                    "prioritize_queue_order", "date_created", "date_updated", "default_activity_sid",
                    "timeout_activity_sid")
RECORD_FIELDS = ("id", "kind", "url", "method", "params", "headers", "timestamp", "account_sid", "workspace_sid",
                 "event_type", "task_sid", "reservation_sid", "delivery", "attempts", "response", "error", "outcome",
                 "done")
_get = {name: attrgetter(*fields) for name, fields in (
    ("activity", ACTIVITY_FIELDS), ("task_channel", TASK_CHANNEL_FIELDS), ("task_queue", TASK_QUEUE_FIELDS),
    ("worker", WORKER_FIELDS), ("worker_channel", WORKER_CHANNEL_FIELDS), ("workflow", WORKFLOW_FIELDS),
    ("task", TASK_FIELDS), ("reservation", RESERVATION_FIELDS), ("workspace", WORKSPACE_FIELDS),
    ("transfer", TRANSFER_FIELDS))}


def _copy_workspace(ws: Workspace) -> tuple:
    """The workspace's state as tuples of field values, enough to encode it later without the
    lock. Records that change are copied field by field; events never change once logged, so the
    event log is copied as references, and so are reservations that are over (``_is_over``). Tasks are copied whatever
    their status: a finished task's attributes may still be updated."""
    workers = [(_get["worker"](w), ws.last_assigned.get(w.sid),
                [_get["worker_channel"](c) for c in w.channels.values()]) for w in ws.workers.values()]
    routing = {}
    for sid, state in ws.task_routing.items():
        route = state.route
        routing[sid] = (None if route is None else (route.targets, route.workflow_sid, route.filter_name,
                                                    route.filter_index, route.index, route.worker_sid),
                        list(state.excluded), state.attempts)
    get_task = _get["task"]
    return (_get["workspace"](ws),
            [_get["activity"](a) for a in ws.activities.values()],
            [_get["task_channel"](c) for c in ws.task_channels.values()],
            [_get["task_queue"](q) for q in ws.task_queues.values()],
            workers,
            [_get["workflow"](w) for w in ws.workflows.values()],
            [(get_task(t), routing.get(t.sid), t.transfer_sid) for t in ws.tasks.values()],
            [r if _is_over(r) else (_get["reservation"](r), r.transfer_sid, _reservation_extras(r))
             for r in ws.reservations.values()],
            list(ws.events.values()),
            [_get["transfer"](x) for x in ws.transfers.values()])


# Reservations no transition leaves, whose fields nothing changes any more (what an offer that ends
# restores, and the instructions of an accepted one, are settled in the call that ends it). A completed reservation
# still holding a post-work activity is not among them: the activity is cleared once applied.
_OVER = frozenset((ReservationStatus.REJECTED, ReservationStatus.TIMEOUT, ReservationStatus.CANCELED,
                   ReservationStatus.RESCINDED))


def _is_over(r: Reservation) -> bool:
    return r.reservation_status in _OVER or (r.reservation_status == ReservationStatus.COMPLETED
                                             and r.post_work_activity_sid is None)


def _copy_inbox(webhooks) -> tuple[int, list]:
    state = webhooks.checkpoint()
    # a record is final once delivered; one still queued is copied now
    records = [r if r.done else _record_data(r) for r in state["records"]]
    return _count_next(state["ids"]), records


def _count_next(counter) -> int:
    # ``repr(count(7))`` is ``count(7)``: the next value, read without consuming it.
    match = re.fullmatch(r"count\((-?\d+)\)", repr(counter))
    if match is None:
        raise SnapshotError("the webhooks' id counter is not an integer counter")
    return int(match.group(1))


# --- encoding (no lock) -----------------------------------------------------------------------
class _Instants(dict):
    """The ISO text of each instant met while encoding: what one call changes shares its instant."""

    def __missing__(self, instant: datetime) -> str:
        text = self[instant] = instant.isoformat()
        return text


_DATES = frozenset(("date_created", "date_updated", "date_status_changed", "virtual_start_time",
                    "task_queue_entered_date"))


def _rows(fields: tuple[str, ...], records, iso: _Instants) -> list[dict]:
    """Each record's field values as an object, its instants as text."""
    make = _row_maker(fields)
    return [make(values, iso) for values in records]


@functools.cache
def _row_maker(fields: tuple[str, ...]):
    """A function of a record's field values (and the instants' texts) giving its object, written
    out for ``fields``: one dict display per record rather than a zip and an update per instant."""
    items = ", ".join(f"{name!r}: iso[v[{i}]]" if name in _DATES else f"{name!r}: v[{i}]"
                      for i, name in enumerate(fields))
    scope: dict = {}
    exec(f"def make(v, iso):\n    return {{{items}}}\n", scope)  # (field names are constants of this module)
    return scope["make"]


def _encode_workspace(copy: tuple, iso: _Instants) -> dict:
    settings, activities, channels, queues, workers, workflows, tasks, reservations, events, transfers = copy
    [doc] = _rows(WORKSPACE_FIELDS, [settings], iso)
    doc["activities"] = _rows(ACTIVITY_FIELDS, activities, iso)
    doc["task_channels"] = _rows(TASK_CHANNEL_FIELDS, channels, iso)
    doc["task_queues"] = _rows(TASK_QUEUE_FIELDS, queues, iso)
    doc["workers"] = [{**w, "last_assigned": iso[last], "channels": _rows(WORKER_CHANNEL_FIELDS, chans, iso)}
                      for w, (_, last, chans) in zip(_rows(WORKER_FIELDS, [w[0] for w in workers], iso), workers,
                                                     strict=True)]
    doc["workflows"] = _rows(WORKFLOW_FIELDS, workflows, iso)
    doc["tasks"] = task_rows = _rows(TASK_FIELDS, [t[0] for t in tasks], iso)
    for row, (_, routing, transfer_sid) in zip(task_rows, tasks, strict=True):
        row["routing"] = _encode_routing(routing)
        if transfer_sid is not None:
            row["transfer_sid"] = transfer_sid
    get_reservation = _get["reservation"]
    held = [(get_reservation(r), r.transfer_sid, _reservation_extras(r)) if isinstance(r, Reservation) else r
            for r in reservations]
    doc["reservations"] = reservation_rows = _rows(RESERVATION_FIELDS, [r[0] for r in held], iso)
    for row, (_, transfer_sid, extras) in zip(reservation_rows, held, strict=True):
        if transfer_sid is not None:
            row["transfer_sid"] = transfer_sid
        row.update(extras)
    doc["events"] = _encode_events(events, iso)
    if transfers:
        doc["transfers"] = _rows(TRANSFER_FIELDS, transfers, iso)
    return doc


class _EventRows(dict):
    """The row function of each layout met while encoding (layouts are shared objects: by identity),
    and the shapes their names make."""

    def __init__(self, iso: _Instants) -> None:
        super().__init__()
        self.iso = iso
        self.shapes: dict[tuple[str, ...], int] = {}

    def __missing__(self, layout: EventLayout):
        shape = self.shapes.setdefault(layout.names, len(self.shapes))
        row = self[layout] = _event_row(layout, shape, self.iso)
        return row


def _encode_events(events: list[Event], iso: _Instants) -> dict:
    encoders = _EventRows(iso)
    rows = [encoders[e[1]](e) for e in events]  # (e[1]: the event's layout)
    return {"columns": list(EVENT_COLUMNS), "shapes": [list(names) for names in encoders.shapes], "rows": rows}


def _event_row(layout: EventLayout, shape: int, iso: _Instants):
    """A function of an event giving its row (``EVENT_COLUMNS``, then the values),
    written out for the layout: the texts an event keeps as parts are built here, once per event
    and snapshot, so the per-event work is one call."""
    description, resource_sid, resource_path = layout.texts
    # a value read more than once (a SID in the description, the resource SID, the path, the data) is read once
    uses = Counter(source for spec in layout.texts if spec is not None for source in spec[1])
    if layout.actor is None:
        uses[(ORIGIN, 0)] += 1
    uses.update(position for position in layout.positions.values() if position[0] not in layout.whole)
    names = {position: f"v{k}" for k, position in enumerate(p for p, n in uses.items() if n > 1)}

    def value(position: tuple[int, int], blank: bool) -> str:
        text = names.get(position) or f"p[{position[0]}][{position[1]}]"
        return f"b({text})" if blank else text

    def text(spec) -> str:
        if spec is None:
            return "None"
        template, sources, nullable = spec
        if template is None:
            return value(sources[0], False)
        pieces = [piece.replace("%%", "%").replace("{", "{{").replace("}", "}}") for piece in template.split("%s")]
        if not sources:
            return repr(pieces[0])
        # an f-string: the fastest way to build the text (its values are strings)
        fields = [f"{{{value(source, blank)}}}" for source, blank in zip(sources, nullable, strict=True)]
        return "f" + repr("".join(piece + field for piece, field in zip(pieces, [*fields, ""], strict=True)))

    actor = f"'workspace', {value((ORIGIN, 0), False)}, ''" if layout.actor is None else \
        f"*p[{layout.actor[0]}][{layout.actor[1]}:{layout.actor[1] + 3}]"
    values: list[str] = []
    for part, index in layout.positions.values():
        if part not in layout.whole:
            values.append(value((part, index), False))
        elif index == 0:
            values.append(f"*p[{part}]")
    bind = "".join(f"    {name} = p[{position[0]}][{position[1]}]\n" for position, name in names.items())
    source = (f"def row(p):\n{bind}    return [p[0], {layout.event_type!r}, {text(description)}, "
              f"{layout.resource_type!r}, {text(resource_sid)}, {text(resource_path)}, {actor}, iso[p[2]], {shape}, "
              f"{', '.join(values)}]\n")
    scope: dict = {"b": _blank, "iso": iso}
    exec(source, scope)  # made of the layout's positions and texts (repr() quotes the texts)
    return scope["row"]


def _blank(value):
    return "" if value is None else value


def _reservation_extras(r: Reservation) -> dict:
    """A reservation's ETag version, the activity it moved its worker from and the instructions it
    received, each only when it has one (so documents of reservations without them are unchanged)."""
    extras: dict = {}
    if r.version:
        extras["version"] = r.version
    if r.previous_activity_sid is not None:
        extras["previous_activity_sid"] = r.previous_activity_sid
    if r.instructions:
        extras["instructions"] = [dict(i) for i in r.instructions]
    return extras


def _transfer_sid(sid: str | None) -> dict:
    return {} if sid is None else {"transfer_sid": sid}


def _encode_routing(routing: tuple | None) -> dict | None:
    if routing is None:
        return None
    route, excluded, attempts = routing
    encoded = None
    if route is not None:
        targets, workflow_sid, filter_name, filter_index, index, worker_sid = route
        encoded = {"targets": [t.to_data() for t in targets], "workflow_sid": workflow_sid, "filter_name": filter_name,
                   "filter_index": filter_index, "index": index, "worker_sid": worker_sid}
    return {"route": encoded, "excluded": sorted(excluded), "attempts": attempts}


def _record_data(record) -> dict:
    data = {name: getattr(record, name) for name in RECORD_FIELDS}
    data["timestamp"] = record.timestamp.isoformat()
    data["params"], data["headers"] = dict(record.params), dict(record.headers)
    return data


# --- the document -----------------------------------------------------------------------------
def take(backend, webhooks=None, timings: dict | None = None) -> dict:
    """The whole state of ``backend`` (and its clock's pending timers), and of ``webhooks``'
    inbox when given, as a JSON-ready dict. ``timings`` (a dict) receives ``lock_ms``, how long
    the engine lock was held."""
    clock: Clock = backend.clock
    if webhooks is not None:
        webhooks.wait_idle()  # no callback half-delivered: its answer would be lost to the snapshot
    collecting = gc.isenabled()
    with backend.lock:
        # the copy makes many small objects: no collector pass while the lock is held
        gc.disable()
        try:
            started = time.perf_counter()
            now, mode = clock.now(), clock.mode
            seed, sid_state = backend.sids.seed, backend.sids.getstate()
            accounts = [(account_sid, [_copy_workspace(ws) for ws in workspaces.values()])
                        for account_sid, workspaces in backend.accounts.items() if workspaces]
            # every live timer is in its workspace's registry (one row per pending deletion,
            # though the clock holds only the first of each workspace's); entries never change once made
            live = [timer for workspaces in backend.accounts.values() for ws in workspaces.values()
                    for timer in ws.timers.rows()]
            inbox = _copy_inbox(webhooks) if webhooks is not None else None
            held = time.perf_counter() - started
        except BaseException:
            if collecting:
                gc.enable()
            raise
    # the lock is released; the encoding makes many objects and none of them is garbage
    try:
        return _encode(now, mode, seed, sid_state, accounts, live, inbox)
    finally:
        if collecting:
            gc.enable()
        if timings is not None:
            timings["lock_ms"] = held * 1000


_FIRE_ORDER = attrgetter("due", "seq")


def _encode(now, mode, seed, sid_state, accounts, live, inbox) -> dict:
    live.sort(key=_FIRE_ORDER)  # the order they fire in (Timer's own order, compared without its __lt__)
    iso = _Instants({None: None})
    return {
        "format": FORMAT,
        "version": VERSION,
        "clock": {"now": now.isoformat(), "mode": mode},
        "sids": {"seed": seed, "state": list(sid_state[1])},
        "accounts": [{"account_sid": account_sid, "workspaces": [_encode_workspace(c, iso) for c in copies]}
                     for account_sid, copies in accounts],
        "timers": [{"due": iso[t.due], "kind": t.kind, "workspace": t.workspace, "subject": t.subject} for t in live],
        "inbox": None if inbox is None else {
            "next_id": inbox[0],
            "records": [r if isinstance(r, dict) else _record_data(r) for r in inbox[1]]},
    }


def check(document: Any) -> dict:
    """Raise ``SnapshotError`` unless ``document`` is valid against its version's schema (and, in
    the current version, its event rows against the rules of their columns); the document in the
    current version (a version 2 document migrated)."""
    if not isinstance(document, dict):
        raise SnapshotError("not a TaskRouter emulator snapshot: the document is not a JSON object")
    if document.get("format") != FORMAT:
        raise SnapshotError(f"not a TaskRouter emulator snapshot: \"format\" must be {FORMAT!r}")
    version = document.get("version")
    if version == 1:
        raise SnapshotError("snapshot version 1 (written by an earlier emulator, as Python objects) cannot be "
                            "restored: start without it and take a new snapshot")
    if version not in (VERSION, MIGRATED) or isinstance(version, bool):
        raise SnapshotError(f"snapshot version {_short(version)} is not supported (this emulator reads versions "
                            f"{MIGRATED} and {VERSION})")
    if _depth(document) > MAX_DOCUMENT_DEPTH:
        raise SnapshotError(f"the document is nested deeper than {MAX_DOCUMENT_DEPTH} levels")
    _check_schema(document, version)
    if version == MIGRATED:
        document = _migrate(document)
        _check_schema(document, VERSION)
    for i, account in enumerate(document["accounts"]):
        for j, ws in enumerate(account["workspaces"]):
            _check_event_rows(ws["events"], f"document.accounts[{i}].workspaces[{j}].events")
    return document


def _check_schema(document: dict, version: int) -> None:
    try:
        _fast_check(version)(document)
        return
    except fastjsonschema.JsonSchemaException as exc:
        fast_reason = str(exc)
    except RecursionError:
        raise SnapshotError("the document is nested too deeply") from None
    try:
        errors_ = _validator(version).iter_errors(document)
        error = next(iter(sorted(errors_, key=lambda e: list(e.absolute_path))), None)
    except RecursionError:
        raise SnapshotError("the document is nested too deeply") from None
    if error is not None:
        raise SnapshotError(f"{_where(error.absolute_path)}: {_explain(error)}")
    raise SnapshotError(f"document: {fast_reason[:200]}")


def _migrate(document: dict) -> dict:
    """A version 2 document (checked against its schema) in version 3: its events as a table."""
    accounts = [{**account, "workspaces": [{**ws, "events": _event_table(ws["events"])}
                                           for ws in account["workspaces"]]} for account in document["accounts"]]
    return {**document, "version": VERSION, "accounts": accounts}


def _event_table(events: list[dict]) -> dict:
    shapes: dict[tuple[str, ...], int] = {}
    rows = []
    for e in events:
        names = tuple(e["data"])
        index = shapes.setdefault(names, len(shapes))
        rows.append([*(e[name] for name in EVENT_FIELDS), index, *e["data"].values()])
    return {"columns": list(EVENT_COLUMNS), "shapes": [list(names) for names in shapes], "rows": rows}


# --- the event rows, column by column -------------------------------------------------------------
# The schema says a row is an array; what each column may hold is the schema's ``event_row``,
# checked here a column at a time (type sets, lengths, one regular expression over a column)
# rather than a value at a time: a document holds about ten events per task.
_SCALARS = frozenset((str, int, float, bool, type(None)))
_INT64 = (-(2 ** 63), 2 ** 63 - 1)


@functools.lru_cache(maxsize=1)
def _row_rules() -> list[tuple[frozenset, int, re.Pattern | None]]:
    """Per fixed column: the Python types it may hold, the longest string, the pattern of every string."""
    columns = schema()["$defs"]["event_row"]["properties"]
    instant = schema()["$defs"]["instant"]
    named = {"string": str, "null": type(None)}
    rules = []
    for name in EVENT_FIELDS:
        rule = columns[name] if "$ref" not in columns[name] else instant
        kinds = rule["type"] if isinstance(rule["type"], list) else [rule["type"]]
        pattern = rule.get("pattern")
        # the patterns hold no line break, so one match over the column joined by line breaks
        # checks every value of it
        whole = re.compile(f"(?:{pattern.strip('^$')}\n)*") if pattern else None
        rules.append((frozenset(named[k] for k in kinds), rule.get("maxLength", 2 ** 31), whole))
    return rules


def _check_event_rows(table: dict, where: str) -> None:
    rows, shapes = table["rows"], table["shapes"]
    if not rows:
        return
    fixed = len(EVENT_FIELDS)
    shape_of = itemgetter(fixed)
    shape_column = list(map(shape_of, rows))  # (the schema's minItems makes every row long enough)
    if not set(map(type, shape_column)) <= {int} or min(shape_column) < 0 or max(shape_column) >= len(shapes):
        bad = next(k for k, row in enumerate(rows) if type(row[fixed]) is not int or not 0 <= row[fixed] < len(shapes))
        raise SnapshotError(f"{where}.rows[{bad}][{fixed}] (shape): {_short(rows[bad][fixed])} names no shape")
    # the rows of one shape have one width: their columns come from one zip
    groups: dict[int, list] = {}
    for row in rows:
        group = groups.get(row[fixed])
        if group is None:
            group = groups[row[fixed]] = []
        group.append(row)
    for index, group in groups.items():
        width = fixed + 1 + len(shapes[index])
        try:
            columns = list(zip(*group, strict=True))
        except ValueError:
            columns = []
        if len(columns) != width:
            bad = next(k for k, row in enumerate(rows) if len(row) != fixed + 1 + len(shapes[row[fixed]]))
            raise SnapshotError(f"{where}.rows[{bad}]: has not the values its shape names")
        for position, (column, rule) in enumerate(zip(columns, _row_rules(), strict=False)):
            if not _fixed_column_ok(column, *rule):
                _refuse_column(rows, where, position, rule)
        for column in columns[fixed + 1:]:
            if not _value_column_ok(column):
                _refuse_value(rows, where)


def _fixed_column_ok(column: tuple, kinds: frozenset, longest: int, whole: re.Pattern | None) -> bool:
    if not set(map(type, column)) <= kinds:
        return False
    strings = tuple(value for value in column if value is not None) if type(None) in kinds else column
    if strings and max(map(len, strings)) > longest:
        return False
    if whole is None:
        return True
    joined = "\n".join(strings) + "\n"
    return joined.count("\n") == len(strings) and whole.fullmatch(joined) is not None


def _value_column_ok(column: tuple) -> bool:
    """Whether every value of one data field of one shape is a scalar of the schema's range."""
    types = set(map(type, column))
    if not types <= _SCALARS:
        return False
    if str in types:
        strings = column if len(types) == 1 else [value for value in column if type(value) is str]
        if max(map(len, strings)) > 65536:
            return False
    if types & {int, float}:
        numbers = column if types <= {int, float} else [value for value in column if type(value) in (int, float)]
        if min(numbers) < _INT64[0] or max(numbers) > _INT64[1]:
            return False
        if float in types and any(value != value for value in numbers):  # NaN
            return False
    return True


def _value_fault(value: Any, kinds: frozenset, longest: int, whole: re.Pattern | None) -> str | None:
    """What is wrong with one value of a fixed column (None: nothing)."""
    if type(value) not in kinds:
        return "is not of its type"
    if value is None:
        return None
    if len(value) > longest:
        return f"is longer than {longest}"
    if whole is not None and ("\n" in value or whole.fullmatch(value + "\n") is None):
        return "is not in the expected form"
    return None


def _refuse_column(rows: list, where: str, column: int, rule: tuple) -> None:
    for k, row in enumerate(rows):
        fault = _value_fault(row[column], *rule)
        if fault is not None:
            raise SnapshotError(f"{where}.rows[{k}][{column}] ({EVENT_COLUMNS[column]}): {_short(row[column])} "
                                f"{fault}")
    raise SnapshotError(f"{where}.rows: column {EVENT_COLUMNS[column]} is not valid")


def _scalar_fault(value: Any) -> str | None:
    if type(value) not in _SCALARS:
        return "is not a string, number, boolean or null"
    if type(value) is str and len(value) > 65536:
        return "is longer than 65536"
    if type(value) in (int, float) and not _INT64[0] <= value <= _INT64[1]:
        return "is out of range"
    return None


def _refuse_value(rows: list, where: str) -> None:
    fixed = len(EVENT_COLUMNS)
    for k, row in enumerate(rows):
        for i, value in enumerate(row[fixed:]):
            fault = _scalar_fault(value)
            if fault is not None:
                raise SnapshotError(f"{where}.rows[{k}][{fixed + i}]: {_short(value)} {fault}")
    raise SnapshotError(f"{where}.rows: a value is not valid")


def _depth(value: Any) -> int:
    """How deeply ``value`` nests, up to past the limit. An event table's rows are not walked: the
    row check refuses any value in them that is not a scalar, without descending into it."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > MAX_DOCUMENT_DEPTH:
            break
        if isinstance(item, dict):
            children: Any = item.values()
            if "rows" in item and "shapes" in item:
                children = [child for key, child in item.items() if key != "rows"]
            stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item if isinstance(child, (dict, list)))
    return deepest


def _where(path) -> str:
    text = "document"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _short(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (str, int, float, bool)) or value is None else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _explain(error) -> str:
    """The schema error in words, without echoing a (possibly huge) value."""
    kind, expected = error.validator, error.validator_value
    if kind == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {}))) \
            if isinstance(error.instance, dict) else []
        return "unknown key(s) " + ", ".join(_short(k) for k in extra[:5])
    if kind == "required":
        return error.message.split(" is a required")[0] + " is required"
    if kind == "type":
        return f"must be of type {expected}"
    if kind in ("enum", "const"):
        return f"{_short(error.instance)} is not one of the allowed values"
    if kind in ("minimum", "maximum", "minItems", "maxItems", "maxLength", "maxProperties"):
        return f"{kind} is {expected}"
    if kind == "pattern":
        return f"{_short(error.instance)} is not in the expected form"
    if kind == "anyOf":
        return f"{_short(error.instance)} is not a valid value here"
    return f"fails {kind}"


def restore(backend, document: Any, webhooks=None, timings: dict | None = None) -> None:
    """Replace ``backend``'s state (its clock's instant and timers, the SID source, and
    ``webhooks``' inbox when given) with ``document``'s.

    Nothing changes unless the whole document is valid. The clock keeps its mode; its instant may
    move backwards, since a checkpoint is a rewind."""
    document = check(document)
    built = _Builder(backend.ctx).build(document)
    inbox = _build_inbox(document["inbox"]) if webhooks is not None and document["inbox"] is not None else None
    owners = [ws for _, _, ws, _ in built["timers"]]
    entries = [(due, kind, ws.sid, subject) for due, kind, ws, subject in built["timers"]]
    collecting = gc.isenabled()
    with backend.lock:
        gc.disable()
        try:
            started = time.perf_counter()
            backend.replace_state(built["accounts"])
            backend.sids.reseed(document["sids"]["seed"])
            backend.sids.setstate(built["sid_state"])
            for ws, timer in zip(owners, backend.clock.rewind(built["now"], entries), strict=True):
                ws.timers.adopt(timer)
            if inbox is not None:
                webhooks.restore_checkpoint(inbox)
            held = time.perf_counter() - started
        finally:
            if collecting:
                gc.enable()
    if timings is not None:
        timings["lock_ms"] = held * 1000


def _instant(text: str) -> datetime:
    return utc(datetime.fromisoformat(text))


class _Builder:
    """Builds the new state from a document checked against the schema, checking what the schema
    cannot: references between records, parseable attributes, expressions and configurations."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.seen: set[str] = set()
        self.where = "document"

    def fail(self, reason: str) -> SnapshotError:
        return SnapshotError(f"{self.where}: {reason}")

    def unique(self, sid: str) -> str:
        if sid in self.seen:
            raise self.fail(f"{sid} appears twice")
        self.seen.add(sid)
        return sid

    def build(self, doc: dict) -> dict:
        try:
            return self._build(doc)
        except SnapshotError:
            raise
        except (errors.TwilioError, errors.ExpressionError) as exc:
            raise self.fail(getattr(exc, "message", None) or str(exc)) from None
        except (ValueError, TypeError, KeyError, OverflowError, RecursionError) as exc:
            raise self.fail(f"{type(exc).__name__}: {str(exc)[:200]}") from None

    def _build(self, doc: dict) -> dict:
        accounts: dict[str, OrderedDict[str, Workspace]] = {}
        by_sid: dict[str, Workspace] = {}
        for i, account in enumerate(doc["accounts"]):
            self.where = f"document.accounts[{i}]"
            if account["account_sid"] in accounts:
                raise self.fail(f"account {account['account_sid']} appears twice")
            table = accounts[account["account_sid"]] = OrderedDict()
            for j, data in enumerate(account["workspaces"]):
                self.where = f"document.accounts[{i}].workspaces[{j}]"
                ws = self.workspace(account["account_sid"], data)
                table[ws.sid] = by_sid[ws.sid] = ws
        timers = []
        for i, timer in enumerate(doc["timers"]):
            self.where = f"document.timers[{i}]"
            owner = by_sid.get(timer["workspace"])
            if owner is None:
                raise self.fail(f"workspace {timer['workspace']} does not exist")
            subjects = (owner.reservations if timer["kind"] == lifecycle.RESERVATION
                        else {owner.sid} if timer["kind"] == lifecycle.EVENT_EXPIRY else owner.tasks)
            if timer["subject"] not in subjects:
                raise self.fail(f"{timer['kind']} timer for {timer['subject']}, which does not exist")
            timers.append((_instant(timer["due"]), timer["kind"], owner, timer["subject"]))
        self.where = "document.sids.state"
        state = doc["sids"]["state"]
        if state[-1] > 624:
            raise self.fail("is not a generator state")
        now = _instant(doc["clock"]["now"])
        return {"accounts": accounts, "timers": timers, "now": now, "sid_state": (3, tuple(state), None)}

    def workspace(self, account_sid: str, d: dict) -> Workspace:
        ws = Workspace(self.ctx, self.unique(d["sid"]), account_sid, d["friendly_name"],
                       event_callback_url=d["event_callback_url"], events_filter=d["events_filter"],
                       multi_task_enabled=d["multi_task_enabled"], prioritize_queue_order=d["prioritize_queue_order"])
        ws.date_created, ws.date_updated = _instant(d["date_created"]), _instant(d["date_updated"])
        common = (account_sid, ws.sid)
        for a in d["activities"]:
            ws.activities[self.unique(a["sid"])] = Activity(a["sid"], *common, a["friendly_name"], a["available"],
                                                            _instant(a["date_created"]), _instant(a["date_updated"]))
        for key in ("default_activity_sid", "timeout_activity_sid"):
            if d[key] not in ws.activities:
                raise self.fail(f"{key} {d[key]} is not an activity of the workspace")
        ws.default_activity_sid, ws.timeout_activity_sid = d["default_activity_sid"], d["timeout_activity_sid"]
        for c in d["task_channels"]:
            ws.task_channels[self.unique(c["sid"])] = TaskChannel(
                c["sid"], *common, c["friendly_name"], c["unique_name"], c["channel_optimized_routing"],
                _instant(c["date_created"]), _instant(c["date_updated"]))
        for q in d["task_queues"]:
            for key in ("reservation_activity_sid", "assignment_activity_sid"):
                if q[key] is not None and q[key] not in ws.activities:
                    raise self.fail(f"task queue {q['sid']}: {key} {q[key]} does not exist")
            ws.task_queues[self.unique(q["sid"])] = TaskQueue(
                q["sid"], *common, q["friendly_name"], q["target_workers"], q["max_reserved_workers"], q["task_order"],
                q["reservation_activity_sid"], q["assignment_activity_sid"], _instant(q["date_created"]),
                _instant(q["date_updated"]))
            text = q["target_workers"]
            ws.queue_expressions[q["sid"]] = parse_expression(text if text is not None and text.strip() else "1==1")
        for w in d["workers"]:
            self.worker(ws, w)
        for w in d["workflows"]:
            config = WorkflowConfiguration.parse(w["configuration"], ws)
            ws.workflows[self.unique(w["sid"])] = Workflow(
                w["sid"], *common, w["friendly_name"], config.text, config.data, w["assignment_callback_url"],
                w["fallback_assignment_callback_url"], w["task_reservation_timeout"], _instant(w["date_created"]),
                _instant(w["date_updated"]), w["document_content_type"])
            ws.workflow_configurations[w["sid"]] = config
        for t in d["tasks"]:
            self.task(ws, t)
        for r in d["reservations"]:
            if r["task_sid"] not in ws.tasks or r["worker_sid"] not in ws.workers:
                raise self.fail(f"reservation {r['sid']} names a task or worker that does not exist")
            ws.reservations[self.unique(r["sid"])] = Reservation(
                r["sid"], *common, r["task_sid"], r["worker_sid"], r["reservation_status"], _instant(r["date_created"]),
                _instant(r["date_updated"]), r["post_work_activity_sid"], r.get("transfer_sid"), r.get("version", 0),
                r.get("previous_activity_sid"), tuple(dict(i) for i in r.get("instructions", [])))
        self.transfers(ws, d.get("transfers", []), common)
        self.events(ws, d["events"], common)
        return ws

    def events(self, ws: Workspace, table: dict, common: tuple[str, str]) -> None:
        columns = table["columns"]
        names = [tuple(shape) for shape in table["shapes"]]
        layouts: dict[tuple, EventLayout] = {}
        instants: dict[str, datetime] = {}  # events logged at one instant share it
        table_ = ws.events
        fixed = len(EVENT_FIELDS)
        origin = (common[1], ws.friendly_name, common[0])  # (a stored event's texts are its own)
        texts = itemgetter(*range(2, 9))  # description .. actor_path
        at = {name: columns.index(name) for name in ("event_type", "resource_type")}
        for row in table["rows"]:
            text = row[fixed - 1]
            instant = instants.get(text)
            if instant is None:
                instant = instants[text] = _instant(text)
            shape = row[fixed]
            key = (row[at["event_type"]], row[at["resource_type"]], shape)
            layout = layouts.get(key)
            if layout is None:
                layout = layouts[key] = stored_layout(key[0], key[1], names[shape])
            values = tuple(row[fixed + 1:])
            description, resource_type, resource_sid, resource_path, actor_type, actor_sid, actor_path = texts(row)
            table_[self.unique(row[0])] = Event(
                row[0], layout, instant,
                (origin, values, (description, resource_sid, resource_path, actor_type, actor_sid, actor_path)))

    def transfers(self, ws: Workspace, rows: list, common: tuple[str, str]) -> None:
        for x in rows:
            if x["task_sid"] not in ws.tasks or x["initiating_reservation_sid"] not in ws.reservations or \
                    x["transfer_to"] not in ws.workers or x["initiating_worker_sid"] not in ws.workers or \
                    (x["reservation_sid"] is not None and x["reservation_sid"] not in ws.reservations):
                raise self.fail(f"transfer {x['sid']} names a task, reservation or worker that does not exist")
            ws.transfers[self.unique(x["sid"])] = Transfer(
                x["sid"], *common, x["task_sid"], x["transfer_type"], x["transfer_mode"], x["transfer_to"],
                x["transfer_status"], x["initiating_reservation_sid"], x["initiating_worker_sid"],
                x["initiating_queue_sid"], x["initiating_workflow_sid"], _instant(x["date_created"]),
                _instant(x["date_updated"]), x["transfer_failed_reason"], x["reservation_sid"])
        owners = [(t.sid, t.transfer_sid) for t in ws.tasks.values()] + \
            [(r.sid, r.transfer_sid) for r in ws.reservations.values()]
        for sid, transfer_sid in owners:
            if transfer_sid is not None and transfer_sid not in ws.transfers:
                raise self.fail(f"{sid}: transfer {transfer_sid} does not exist")

    def worker(self, ws: Workspace, w: dict) -> None:
        if w["activity_sid"] not in ws.activities:
            raise self.fail(f"worker {w['sid']}: activity {w['activity_sid']} does not exist")
        text, data = v.json_object("Attributes", w["attributes"])
        worker = Worker(self.unique(w["sid"]), ws.account_sid, ws.sid, w["friendly_name"], text, data,
                        w["activity_sid"], _instant(w["date_created"]), _instant(w["date_updated"]),
                        _instant(w["date_status_changed"]), w["version"])
        for c in w["channels"]:
            if c["task_channel_sid"] not in ws.task_channels or c["task_channel_sid"] in worker.channels:
                raise self.fail(f"worker {w['sid']}: channel {c['sid']} names a task channel that does not exist "
                                "or twice")
            worker.channels[c["task_channel_sid"]] = WorkerChannel(
                self.unique(c["sid"]), ws.account_sid, ws.sid, worker.sid, c["task_channel_sid"],
                c["configured_capacity"], c["available"], c["assigned_tasks"], _instant(c["date_created"]),
                _instant(c["date_updated"]))
        ws.workers[worker.sid] = worker
        if w["last_assigned"] is not None:
            ws.last_assigned[worker.sid] = _instant(w["last_assigned"])

    def task(self, ws: Workspace, t: dict) -> None:
        if t["task_channel_sid"] not in ws.task_channels:
            raise self.fail(f"task {t['sid']}: task channel {t['task_channel_sid']} does not exist")
        for key, table in (("workflow_sid", ws.workflows), ("task_queue_sid", ws.task_queues),
                           ("requested_queue_sid", ws.task_queues)):
            if t[key] is not None and t[key] not in table:
                raise self.fail(f"task {t['sid']}: {key} {t[key]} does not exist")
        text, data = v.json_object("Attributes", t["attributes"])
        task = Task(self.unique(t["sid"]), ws.account_sid, ws.sid, text, data, t["assignment_status"], t["priority"],
                    t["timeout"], t["task_channel_sid"], t["workflow_sid"], t["task_queue_sid"],
                    _instant(t["date_created"]), _instant(t["date_updated"]), _instant(t["virtual_start_time"]),
                    _instant(t["task_queue_entered_date"]) if t["task_queue_entered_date"] else None, t["reason"],
                    t["routing_target"], t["ignore_capacity"], t["addons"], t["version"], t["requested_queue_sid"],
                    t.get("transfer_sid"))
        ws.tasks[task.sid] = task
        routing = t["routing"]
        if routing is not None:
            route = None
            if routing["route"] is not None:
                r = routing["route"]
                if r["index"] >= len(r["targets"]):
                    raise self.fail(f"task {t['sid']}: its route's step {r['index']} does not exist")
                route = Route([Target.from_data(target) for target in r["targets"]], r["workflow_sid"],
                              r["filter_name"], r["index"], r["worker_sid"], r["filter_index"])
            ws.task_routing[task.sid] = TaskRouting(route, set(routing["excluded"]), routing["attempts"])


def _build_inbox(data: dict) -> dict:
    records = []
    for i, r in enumerate(data["records"]):
        record = WebhookRecord(**{**r, "timestamp": _instant(r["timestamp"])})
        if not record.well_formed():
            raise SnapshotError(f"document.inbox.records[{i}]: is not a webhook record")
        records.append(record)
    return {"records": records, "ids": itertools.count(data["next_id"])}


# --- files ------------------------------------------------------------------------------------
def save(backend, path: str, webhooks=None) -> None:
    """Write a snapshot to ``path`` atomically: a reader sees the old file or the new, never half."""
    document = take(backend, webhooks)
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".snapshot-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def read(path: str) -> Any:
    """The JSON document in the file at ``path`` (``SnapshotError`` if it is not JSON)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"{path} is not JSON: {exc}") from None
    except UnicodeDecodeError:
        raise SnapshotError(f"{path} is not UTF-8 text") from None
    except RecursionError:
        raise SnapshotError(f"{path} is nested too deeply") from None


def load(backend, path: str, webhooks=None) -> None:
    """Restore ``backend`` (and ``webhooks``' inbox) from the snapshot file at ``path``."""
    restore(backend, read(path), webhooks)
