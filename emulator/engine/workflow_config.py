"""Workflow configuration documents: parsing and validation.

Shape (https://www.twilio.com/docs/taskrouter/workflow-configuration)::

    {"task_routing": {"filters": [{"filter_friendly_name": "...", "expression": "<task expression>",
                                   "targets": [{"queue": "WQ..", "priority": 10, "timeout": 300,
                                                "expression": "<task./worker. expression>",
                                                "skip_if": "...", "order_by": "worker.x DESC",
                                                "known_worker_sid": "task.agent"}]}],
                      "default_filter": {"queue": "WQ.."}}}

The document is kept as the caller wrote it (compacted, key order and unknown keys preserved, as
the real service echoes it); the parsed form holds expressions parsed once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from .. import errors
from . import validation as v
from .expressions import Expression, parse_order_by
from .expressions import parse as parse_expression

if TYPE_CHECKING:
    from .workspace import Workspace


def _invalid(reason: str) -> errors.InvalidParameter:
    return errors.InvalidParameter(errors.INVALID_PARAMETER.format(name="Configuration", reason=reason))


def _number(value, where: str, name: str, *, minimum: int) -> int | None:
    """Numbers may also be written as strings ("priority": "10"), as the docs' own examples do."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise _invalid(f"{where}.{name} must be an integer")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise _invalid(f"{where}.{name} must be an integer") from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or value < minimum:
        raise _invalid(f"{where}.{name} must be an integer of at least {minimum}")
    return value


def _expression(text, where: str) -> Expression | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise _invalid(f"{where} must be a string")
    try:
        return parse_expression(text)
    except errors.ExpressionError as exc:
        raise _invalid(f"{where}: {exc.reason}" + (f" at position {exc.position}" if exc.position is not None else "")) \
            from None


@dataclass
class Target:
    queue_sid: str | None
    priority: int | None = None
    timeout: int | None = None
    expression: Expression | None = None
    skip_if: Expression | None = None
    order_by: list = field(default_factory=list)
    known_worker_sid: str | None = None
    known_worker_friendly_name: str | None = None
    order_by_text: str | None = None  # order_by as written

    def to_data(self) -> dict:
        """The target as plain data (expressions as their text), for a snapshot."""
        return {"queue": self.queue_sid, "priority": self.priority, "timeout": self.timeout,
                "expression": self.expression.text if self.expression is not None else None,
                "skip_if": self.skip_if.text if self.skip_if is not None else None,
                "order_by": self.order_by_text, "known_worker_sid": self.known_worker_sid,
                "known_worker_friendly_name": self.known_worker_friendly_name}

    @classmethod
    def from_data(cls, data: dict) -> Target:
        """Back from ``to_data`` (a snapshot already checked against its schema); a bad
        expression raises ``errors.ExpressionError``."""
        order_by = data.get("order_by")
        expression, skip_if = data.get("expression"), data.get("skip_if")
        return cls(queue_sid=data.get("queue"), priority=data.get("priority"), timeout=data.get("timeout"),
                   expression=parse_expression(expression) if expression is not None else None,
                   skip_if=parse_expression(skip_if) if skip_if is not None else None,
                   order_by=parse_order_by(order_by) if order_by is not None else [],
                   known_worker_sid=data.get("known_worker_sid"),
                   known_worker_friendly_name=data.get("known_worker_friendly_name"), order_by_text=order_by)

    @cached_property
    def reads_worker_channels(self) -> bool:
        """Whether the expression or order_by reads ``worker.channel.<name>.*`` (multitasking)."""
        paths = set(self.expression.key_paths()) if self.expression is not None else set()
        paths.update(clause.path for clause in self.order_by)
        return any(len(p) > 1 and p[0] == "worker" and p[1] == "channel" for p in paths)


@dataclass
class Filter:
    name: str | None
    expression: Expression
    targets: list[Target]


@dataclass
class WorkflowConfiguration:
    text: str
    data: dict
    filters: list[Filter]
    default_target: Target | None

    def queue_sids(self) -> set[str]:
        sids = {t.queue_sid for f in self.filters for t in f.targets if t.queue_sid}
        if self.default_target is not None and self.default_target.queue_sid:
            sids.add(self.default_target.queue_sid)
        return sids

    @classmethod
    def parse(cls, text: str, workspace: "Workspace") -> "WorkflowConfiguration":
        if len(text) > v.WORKFLOW_CONFIGURATION_LIMIT:
            raise _invalid(f"must be at most {v.WORKFLOW_CONFIGURATION_LIMIT} bytes")
        try:
            data = v.loads(text)
            compact = v.compact_json(data)
        except (ValueError, RecursionError) as exc:
            raise _invalid(f"not valid JSON: {str(exc)[:200]}") from None
        if not isinstance(data, dict) or not isinstance(data.get("task_routing"), dict):
            raise _invalid("must be a JSON object with a task_routing object")
        routing = data["task_routing"]
        raw_filters = routing.get("filters", [])
        if not isinstance(raw_filters, list):
            raise _invalid("task_routing.filters must be a list")
        filters = []
        for i, raw in enumerate(raw_filters):
            where = f"task_routing.filters[{i}]"
            if not isinstance(raw, dict):
                raise _invalid(f"{where} must be an object")
            expression = _expression(raw.get("expression", "1==1"), f"{where}.expression")
            if expression is None:
                raise _invalid(f"{where}.expression must be a string")
            raw_targets = raw.get("targets")
            if not isinstance(raw_targets, list) or not raw_targets:
                raise _invalid(f"{where}.targets must be a non-empty list")
            targets = []
            inherited_queue = None
            for j, raw_target in enumerate(raw_targets):
                target = cls._target(raw_target, f"{where}.targets[{j}]", workspace, inherited_queue,
                                     allow_timeout=True)
                inherited_queue = target.queue_sid
                targets.append(target)
            name = raw.get("filter_friendly_name")
            filters.append(Filter(name if isinstance(name, str) else None, expression, targets))
        default = routing.get("default_filter")
        default_target = None
        if default is not None:
            # The default filter is a target without timeout; unknown keys are kept as written.
            default_target = cls._target(default, "task_routing.default_filter", workspace, None,
                                         allow_timeout=False)
        return cls(compact, data, filters, default_target)

    @staticmethod
    def _target(raw, where: str, workspace: "Workspace", inherited_queue: str | None, *,
                allow_timeout: bool) -> Target:
        if not isinstance(raw, dict):
            raise _invalid(f"{where} must be an object")
        queue = raw.get("queue", inherited_queue)
        if queue is None:
            # "The first target requires a queue; later targets inherit it."
            raise _invalid(f"{where}.queue is required")
        if not isinstance(queue, str) or queue not in workspace.task_queues:
            raise _invalid(f"{where}.queue {queue} is not a TaskQueue of workspace {workspace.sid}")
        known_sid = raw.get("known_worker_sid")
        known_name = raw.get("known_worker_friendly_name")
        if known_sid is not None and known_name is not None:
            raise _invalid(f"{where} cannot set both known_worker_sid and known_worker_friendly_name")
        for key, value in (("known_worker_sid", known_sid), ("known_worker_friendly_name", known_name)):
            if value is not None and not isinstance(value, str):
                raise _invalid(f"{where}.{key} must be a string")
        order_by = []
        if raw.get("order_by") is not None:
            if not isinstance(raw["order_by"], str):
                raise _invalid(f"{where}.order_by must be a string")
            try:
                order_by = parse_order_by(raw["order_by"])
            except errors.ExpressionError as exc:
                raise _invalid(f"{where}.order_by: {exc.reason}") from None
        return Target(
            queue_sid=queue,
            priority=_number(raw.get("priority"), where, "priority", minimum=0),
            timeout=_number(raw.get("timeout"), where, "timeout", minimum=1) if allow_timeout else None,
            expression=_expression(raw.get("expression"), f"{where}.expression"),
            skip_if=_expression(raw.get("skip_if"), f"{where}.skip_if"),
            order_by=order_by,
            known_worker_sid=known_sid,
            known_worker_friendly_name=known_name,
            order_by_text=raw.get("order_by"),
        )
