"""Workspace blueprints: a small declarative JSON description of a whole workspace.

A blueprint names a workspace's activities, task channels, task queues (with their
``target_workers`` expressions), workflows (whose configurations name queues by friendly name)
and workers (attributes, starting activity, per-channel capacity). ``load_blueprint`` builds it
through the engine, so every rule of the REST API applies, and answers the SIDs by friendly name.

Bundled blueprints (this package's ``*.json``) load by short name; see ``available()``. Format::

    {
      "friendly_name": "Help Desk",                 required
      "description": "...",                         free text, ignored
      "multi_task_enabled": true,                   workspace options, as in CreateWorkspace
      "prioritize_queue_order": "FIFO",
      "event_callback_url": "https://...",
      "events_filter": ["task.created", ...],       list or comma-separated string
      "default_activity": "Offline",                activity names
      "timeout_activity": "Offline",
      "activities":    [{"friendly_name": "Break", "available": false}],
      "task_channels": [{"unique_name": "email", "friendly_name": "Email",
                         "channel_optimized_routing": false}],
      "task_queues":   [{"friendly_name": "Sales", "target_workers": "skills HAS 'sales'",
                         "max_reserved_workers": 1, "task_order": "FIFO",
                         "reservation_activity": "Busy", "assignment_activity": "Busy"}],
      "workflows":     [{"friendly_name": "Inbound", "task_reservation_timeout": 120,
                         "assignment_callback_url": "https://...",
                         "fallback_assignment_callback_url": "https://...",
                         "configuration": {"task_routing": {"filters": [
                             {"filter_friendly_name": "Sales", "expression": "type == 'sales'",
                              "targets": [{"queue": "Sales", "timeout": 60}, {"queue": "Everyone"}]}],
                           "default_filter": {"queue": "Everyone"}}}}],
      "workers":       [{"friendly_name": "Alice", "activity": "Available",
                         "attributes": {"skills": ["sales"]},
                         "channels": {"voice": {"capacity": 1}, "chat": {"capacity": 3, "available": true}}}]
    }

Every workspace starts with the activities Offline, Available and Unavailable and the task
channels default, voice, sms, chat and video; a blueprint entry with one of those names reuses it
(an activity's ``available`` must then agree, as it cannot change after creation).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .. import errors
from ..clock import MANUAL, Clock
from ..sids import is_sid

TOP_LEVEL = {
    "friendly_name": (str, True),
    "description": (str, False),
    "multi_task_enabled": (bool, False),
    "prioritize_queue_order": (str, False),
    "event_callback_url": (str, False),
    "events_filter": ((str, list), False),
    "default_activity": (str, False),
    "timeout_activity": (str, False),
    "activities": (list, False),
    "task_channels": (list, False),
    "task_queues": (list, False),
    "workflows": (list, False),
    "workers": (list, False),
}
ENTRIES: dict[str, dict] = {
    "activities": {"friendly_name": (str, True), "available": (bool, False)},
    "task_channels": {"unique_name": (str, True), "friendly_name": (str, False),
                      "channel_optimized_routing": (bool, False)},
    "task_queues": {"friendly_name": (str, True), "target_workers": (str, False), "max_reserved_workers": (int, False),
                    "task_order": (str, False), "reservation_activity": (str, False),
                    "assignment_activity": (str, False)},
    "workflows": {"friendly_name": (str, True), "configuration": ((dict, str), True),
                  "task_reservation_timeout": (int, False), "assignment_callback_url": (str, False),
                  "fallback_assignment_callback_url": (str, False)},
    "workers": {"friendly_name": (str, True), "attributes": (dict, False), "activity": (str, False),
                "channels": (dict, False)},
}
WORKER_CHANNEL = {"capacity": (int, False), "available": (bool, False)}
_TYPE_NAMES = {str: "a string", bool: "true or false", int: "an integer", list: "a list", dict: "a JSON object"}


class BlueprintError(ValueError):
    """An invalid blueprint. The message starts with the bad entry's path, e.g.
    ``workers[2].attributes: must be a JSON object``."""


@dataclass
class LoadResult:
    """What ``load_blueprint`` made: the workspace SID and every resource's SID by name.

    ``activities``, ``task_queues`` (alias ``queues``), ``workflows`` and ``workers`` are keyed by
    friendly name; ``task_channels`` by unique name. They include the workspace's default
    activities and task channels.
    """

    account_sid: str
    workspace_sid: str
    friendly_name: str
    activities: dict[str, str] = field(default_factory=dict)
    task_channels: dict[str, str] = field(default_factory=dict)
    task_queues: dict[str, str] = field(default_factory=dict)
    workflows: dict[str, str] = field(default_factory=dict)
    workers: dict[str, str] = field(default_factory=dict)

    @property
    def queues(self) -> dict[str, str]:
        """The task queues' SIDs by friendly name (same as ``task_queues``)."""
        return self.task_queues


def available() -> list[str]:
    """The short names of the bundled blueprints."""
    return sorted(p.name[:-5] for p in resources.files(__name__).iterdir() if p.name.endswith(".json"))


def read(blueprint: str | Path | Mapping[str, Any]) -> dict:
    """The blueprint as a dict: from a short name, a path to a JSON file, or a mapping."""
    if isinstance(blueprint, Mapping):
        return copy.deepcopy(dict(blueprint))
    if not isinstance(blueprint, (str, os.PathLike)):
        raise TypeError(f"a blueprint is a bundled name, a path or a dict, not {type(blueprint).__name__}")
    if isinstance(blueprint, str) and blueprint in available():
        text = resources.files(__name__).joinpath(f"{blueprint}.json").read_text(encoding="utf-8")
        source = f"bundled blueprint {blueprint!r}"
    else:
        path = Path(blueprint)
        if not path.is_file():
            raise BlueprintError(f"no blueprint named {str(blueprint)!r}: not a bundled blueprint "
                                 f"({', '.join(available())}) nor a file")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BlueprintError(f"{path}: cannot be read as UTF-8 text: {exc}") from None
        source = str(path)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BlueprintError(f"{source}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BlueprintError(f"{source}: a blueprint is a JSON object")
    return data


def load_blueprint(backend, account_sid: str, blueprint: str | Path | Mapping[str, Any]):
    """Create the blueprint's workspace in ``backend`` for ``account_sid`` and return a ``LoadResult``.

    The blueprint is checked first (shape, then a dry run through the engine on a scratch backend),
    so an invalid one raises ``BlueprintError`` before anything happens: no workspace, no event,
    no SID drawn.
    """
    data = read(blueprint)
    check(data)
    from ..engine.backend import Backend
    with backend.lock:
        scratch = Backend(clock=Clock(MANUAL, start=backend.clock.now()), seed=0)
        _build(scratch, account_sid, data)
        return _build(backend, account_sid, data)


def check(data: dict) -> None:
    """Check a blueprint's shape: known keys, types, required fields (references are checked on load)."""
    if not isinstance(data, dict):
        raise BlueprintError("blueprint: must be a JSON object")
    _check_fields(data, TOP_LEVEL, "blueprint", top=True)
    events_filter = data.get("events_filter")
    if isinstance(events_filter, list) and not all(isinstance(e, str) for e in events_filter):
        raise BlueprintError("events_filter: must be a list of event type strings")
    for kind, fields in ENTRIES.items():
        for i, entry in enumerate(data.get(kind, [])):
            where = f"{kind}[{i}]"
            if not isinstance(entry, dict):
                raise BlueprintError(f"{where}: must be a JSON object")
            _check_fields(entry, fields, where)
    for i, worker in enumerate(data.get("workers", [])):
        for name, channel in worker.get("channels", {}).items():
            where = f"workers[{i}].channels.{name}"
            if not isinstance(channel, dict):
                raise BlueprintError(f"{where}: must be a JSON object like {{\"capacity\": 1}}")
            _check_fields(channel, WORKER_CHANNEL, where)


def _check_fields(entry: dict, fields: dict, where: str, top: bool = False) -> None:
    prefix = "" if top else f"{where}."
    for key in entry:
        if key not in fields:
            raise BlueprintError(f"{prefix}{key}: unknown key (expected one of {', '.join(fields)})")
    for key, (types, required) in fields.items():
        if key not in entry:
            if required:
                raise BlueprintError(f"{prefix}{key}: required")
            continue
        value = entry[key]
        wanted = types if isinstance(types, tuple) else (types,)
        # bool is an int in Python; a blueprint's true is not a number
        if isinstance(value, bool) and bool not in wanted or not isinstance(value, wanted):
            raise BlueprintError(f"{prefix}{key}: must be {' or '.join(_TYPE_NAMES[t] for t in wanted)}, "
                                 f"not {json.dumps(value)[:80]}")


def _engine_step(where: str, action: Callable, *args, **kwargs):
    """Run one engine call; its Twilio error becomes a BlueprintError naming the entry."""
    try:
        return action(*args, **kwargs)
    except errors.TwilioError as exc:
        raise BlueprintError(f"{where}: {exc.message}") from None


def _by_name(table: dict, name: str, kind: str, where: str) -> str:
    sid = table.get(name)
    if sid is None:
        folded = {k.casefold(): v for k, v in table.items()}
        sid = folded.get(name.casefold()) if kind == "activity" else None
    if sid is None:
        known = ", ".join(repr(k) for k in table) or "none"
        raise BlueprintError(f"{where}: no {kind} named {name!r} (known: {known})")
    return sid


def _build(backend, account_sid: str, data: dict) -> LoadResult:
    events_filter = data.get("events_filter")
    if isinstance(events_filter, list):
        events_filter = ",".join(events_filter)
    ws = _engine_step("blueprint", backend.create_workspace, account_sid, data["friendly_name"],
                      event_callback_url=data.get("event_callback_url"), events_filter=events_filter,
                      multi_task_enabled=data.get("multi_task_enabled"), template="NONE",
                      prioritize_queue_order=data.get("prioritize_queue_order"))
    try:
        return _fill(ws, data)
    except BaseException:
        # Never half a workspace: take it away again (normally unreachable, as the dry run
        # on a scratch backend has already met every error).
        backend.forget_workspace(ws)
        backend.accounts.get(account_sid, {}).pop(ws.sid, None)
        raise


def _fill(ws, data: dict) -> LoadResult:
    activities = {a.friendly_name: a.sid for a in ws.activities.values()}
    for i, entry in enumerate(data.get("activities", [])):
        where = f"activities[{i}]"
        name, wanted = entry["friendly_name"], entry.get("available", False)
        existing = next((a for a in ws.activities.values() if a.friendly_name.casefold() == name.casefold()), None)
        if existing is not None:
            if existing.available != wanted:
                raise BlueprintError(f"{where}.available: every workspace starts with the activity {existing.friendly_name!r} "
                                     f"with available={str(existing.available).lower()}, and an activity's "
                                     f"availability cannot change")
            continue
        activity = _engine_step(where, ws.create_activity, name, wanted)
        activities[activity.friendly_name] = activity.sid
    workspace_update = {}
    for key, param in (("default_activity", "default_activity_sid"), ("timeout_activity", "timeout_activity_sid")):
        if key in data:
            workspace_update[param] = _by_name(activities, data[key], "activity", key)
    if workspace_update:
        _engine_step("blueprint", ws.update, **workspace_update)

    channels = {c.unique_name: c.sid for c in ws.task_channels.values()}
    for i, entry in enumerate(data.get("task_channels", [])):
        where = f"task_channels[{i}]"
        unique = entry["unique_name"]
        if unique in channels:
            if "friendly_name" in entry or "channel_optimized_routing" in entry:
                _engine_step(where, ws.update_task_channel, unique, entry.get("friendly_name"),
                             entry.get("channel_optimized_routing"))
            continue
        channel = _engine_step(where, ws.create_task_channel, entry.get("friendly_name", unique), unique,
                               entry.get("channel_optimized_routing"))
        channels[channel.unique_name] = channel.sid

    queues = {}
    for i, entry in enumerate(data.get("task_queues", [])):
        where = f"task_queues[{i}]"
        activity_sids = {param: _by_name(activities, entry[key], "activity", f"{where}.{key}")
                         for key, param in (("reservation_activity", "reservation_activity_sid"),
                                            ("assignment_activity", "assignment_activity_sid")) if key in entry}
        queue = _engine_step(where, ws.create_task_queue, entry["friendly_name"],
                             target_workers=entry.get("target_workers"),
                             max_reserved_workers=entry.get("max_reserved_workers"),
                             task_order=entry.get("task_order"), **activity_sids)
        queues[queue.friendly_name] = queue.sid

    workflows = {}
    for i, entry in enumerate(data.get("workflows", [])):
        where = f"workflows[{i}]"
        configuration = _configuration(entry["configuration"], queues, f"{where}.configuration")
        workflow = _engine_step(where, ws.create_workflow, entry["friendly_name"], configuration,
                                assignment_callback_url=entry.get("assignment_callback_url"),
                                fallback_assignment_callback_url=entry.get("fallback_assignment_callback_url"),
                                task_reservation_timeout=entry.get("task_reservation_timeout"))
        workflows[workflow.friendly_name] = workflow.sid

    workers = {}
    for i, entry in enumerate(data.get("workers", [])):
        where = f"workers[{i}]"
        activity_sid = (_by_name(activities, entry["activity"], "activity", f"{where}.activity")
                        if "activity" in entry else None)
        worker = _engine_step(where, ws.create_worker, entry["friendly_name"], activity_sid=activity_sid,
                              attributes=json.dumps(entry.get("attributes", {})))
        for unique, settings in entry.get("channels", {}).items():
            channel_where = f"{where}.channels.{unique}"
            _by_name(channels, unique, "task channel", channel_where)
            _engine_step(channel_where, ws.update_worker_channel, worker, unique,
                         capacity=settings.get("capacity"), available=settings.get("available"))
        workers[worker.friendly_name] = worker.sid

    return LoadResult(ws.account_sid, ws.sid, ws.friendly_name, activities, channels, queues, workflows, workers)


def _configuration(raw, queues: dict[str, str], where: str) -> str:
    """The workflow configuration as TaskRouter wants it: queue friendly names replaced by SIDs."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise BlueprintError(f"{where}: not valid JSON: {exc}") from None
    config = copy.deepcopy(raw)
    routing = config.get("task_routing") if isinstance(config, dict) else None
    if isinstance(routing, dict):
        filters = routing.get("filters") or []
        if not isinstance(filters, list):
            raise BlueprintError(f"{where}.task_routing.filters: must be a list")
        for i, flt in enumerate(filters):
            if isinstance(flt, dict):
                targets = flt.get("targets") or []
                if not isinstance(targets, list):
                    raise BlueprintError(f"{where}.task_routing.filters[{i}].targets: must be a list")
                for j, target in enumerate(targets):
                    _resolve_queue(target, queues, f"{where}.task_routing.filters[{i}].targets[{j}].queue")
        _resolve_queue(routing.get("default_filter"), queues, f"{where}.task_routing.default_filter.queue")
    # Anything else wrong with the configuration is the engine's to say.
    return json.dumps(config)


def _resolve_queue(target, queues: dict[str, str], where: str) -> None:
    if not isinstance(target, dict) or not isinstance(target.get("queue"), str):
        return
    name = target["queue"]
    if is_sid(name, "WQ") and name in queues.values():
        return
    target["queue"] = _by_name(queues, name, "task queue", where)


__all__ = ["BlueprintError", "LoadResult", "available", "check", "load_blueprint", "read"]
