"""Inbox assertions that explain themselves.

``Inbox.assert_sent(...)``, ``assert_not_sent(...)`` and a ``wait_for(...)`` that times out say
what the inbox held instead: the records nearest to what was asked for, each with the fields
that differed (expected against actual), so a failing test shows why without a debugger.

Criteria are record fields (``kind``, ``event_type``, ``url``, ``task_sid``, ``outcome``, ...)
compared for equality, and ``params``, a dict of form fields the callback must carry. A value
may be a callable, which is called with the actual value and must return true.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .inbox import WebhookRecord, iso_ms

FIELDS = ("kind", "event_type", "url", "method", "account_sid", "workspace_sid", "task_sid", "reservation_sid",
          "delivery", "outcome", "error", "attempts", "done")
NEAREST = 3


def check_fields(criteria: dict) -> None:
    unknown = set(criteria) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown webhook record field(s) {', '.join(sorted(unknown))}; known: {', '.join(FIELDS)} "
                        "and params={...}")


def _same(expected: Any, actual: Any) -> bool:
    if callable(expected):
        try:
            return bool(expected(actual))
        except Exception:
            return False
    if isinstance(actual, str) and not isinstance(expected, str) and expected is not None:
        return actual == (str(expected).lower() if isinstance(expected, bool) else str(expected))
    return bool(expected == actual)


def differences(record: WebhookRecord, criteria: dict, params: dict | None) -> list[tuple[str, Any, Any]]:
    """``(name, expected, actual)`` for every criterion ``record`` does not meet."""
    found = []
    for name, expected in criteria.items():
        actual = getattr(record, name)
        if not _same(expected, actual):
            found.append((name, expected, actual))
    for key, expected in (params or {}).items():
        actual = record.params.get(key)
        if not _same(expected, actual):
            found.append((f"params[{key!r}]", expected, actual))
    return found


def matching(records: Iterable[WebhookRecord], criteria: dict, params: dict | None) -> list[WebhookRecord]:
    return [r for r in records if not differences(r, criteria, params)]


def _show(value: Any, limit: int = 80) -> str:
    if callable(value):
        return getattr(value, "__name__", "a predicate")
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def describe(record: WebhookRecord) -> str:
    what = record.event_type if record.kind == "event" else record.kind
    status = (f"answered {record.response['status']}" if record.response else
              f"error {record.error!r}" if record.error else "captured" if record.done else "not delivered yet")
    return f"#{record.id} {what} to {record.url} at {iso_ms(record.timestamp)} ({status})"


def explain(records: list[WebhookRecord], criteria: dict, params: dict | None, *,
            predicate: Callable | None = None, nearest: int = NEAREST) -> str:
    """The records nearest to the criteria, each with what differed."""
    if not records:
        return ("the inbox is empty: no callback was sent. Is EventCallbackUrl set on the workspace (and the type in "
                "its EventsFilter), or AssignmentCallbackUrl on the workflow?")
    scored = []
    for record in records:
        diff = differences(record, criteria, params)
        if not diff and predicate is not None:
            diff = [("the predicate", True, False)]
        scored.append((len(diff), -record.id, record, diff))
    scored.sort(key=lambda item: (item[0], item[1]))
    lines = [f"the inbox holds {len(records)} record(s); the nearest:"]
    for _, _, record, diff in scored[:nearest]:
        lines.append("  " + describe(record))
        for name, expected, actual in diff:
            lines.append(f"      {name}: expected {_show(expected)}, got {_show(actual)}")
        if not diff:
            lines.append("      (matches)")
    return "\n".join(lines)


def wanted(criteria: dict, params: dict | None, predicate: Callable | None = None) -> str:
    parts = [f"{name}={_show(value)}" for name, value in criteria.items()]
    if params:
        parts.append(f"params={ {k: _show(v) for k, v in params.items()} }")
    if predicate is not None:
        parts.append("the predicate")
    return ", ".join(parts) or "any record"
