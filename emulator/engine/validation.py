"""Value rules shared by every resource: JSON attributes, names, limits.

Each rule raises ``InvalidParameter`` with the message template from ``emulator.errors``.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from .. import errors

# https://www.twilio.com/docs/taskrouter/limits
ATTRIBUTES_LIMIT = 4096
FRIENDLY_NAME_LIMIT = 64
ACTIVITY_LIMIT = 100
# Resources per workspace (per account for workspaces: "Workspaces per Project"), from the same page.
# TaskChannels count the default ones. A dict so a test can lower one.
LIMITS = {"workers": 15_000, "task_queues": 5_000, "workflows": 1_000, "tasks": 500_000, "task_channels": 15,
          "workspaces": 5_000, "activities": ACTIVITY_LIMIT}
LIMIT_NAMES = {"workers": "Workers", "task_queues": "TaskQueues", "workflows": "Workflows", "tasks": "Tasks",
               "task_channels": "TaskChannels", "workspaces": "Workspaces", "activities": "Activities"}
WORKFLOW_CONFIGURATION_LIMIT = 1_038_576
# https://www.twilio.com/docs/taskrouter/multitasking asks for names usable in expressions
# ([A-Za-z_$][A-Za-z0-9_$]*), yet production accepts hyphens after the first character
# (``email-channel``, created by real programs), so they are allowed too.
TASK_CHANNEL_UNIQUE_NAME = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")
# MaxParticipants of the conference instruction: "between 2 and 250"
# (https://www.twilio.com/docs/taskrouter/api/reservations, conference parameters).
MAX_PARTICIPANTS = (2, 250)
# Whitespace and control characters have no place in a URL; a CR or LF would split the request
# line of the callback.
_URL_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")
# [I] JSON nested deeper than this is refused. The limit is the emulator's own, not the
# interpreter's: Python 3.13's parser accepts nesting that 3.10-3.12 reject with RecursionError,
# and the rules that walk attributes and configurations recursively must never meet a depth
# they cannot handle, whichever Python runs them.
MAX_JSON_DEPTH = 100
_JSON_NESTING = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def loads(text: str):
    """``json.loads`` that refuses nesting deeper than ``MAX_JSON_DEPTH`` (``ValueError``)."""
    # Counting brackets is cheap and rules out almost every text before the exact scan.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH:
        depth = 0
        for match in _JSON_NESTING.finditer(text):
            token = match.group()
            if token in "[{":
                depth += 1
                if depth > MAX_JSON_DEPTH:
                    raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
            elif token in "]}":
                depth -= 1
    return json.loads(text)


# attribute values up to this length are shared (see ``json_object``)
SHARED_VALUE_LIMIT = 64
# how many distinct strings one generation of the sharing table keeps (two are kept)
SHARED_STRINGS = 16_384


class _SharedStrings:
    """Equal strings of attributes made one object: a bounded table of two generations, not
    ``sys.intern``, whose strings Python 3.12 never frees (attribute names and values such as call
    SIDs or phone numbers are without limit in a server left running). A string missing from the
    current generation is looked up in the last; when the current one is full it becomes the last."""

    __slots__ = ("current", "last")

    def __init__(self) -> None:
        self.current: dict[str, str] = {}
        self.last: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        found = self.current.get(text)
        if found is None:
            found = self.last.get(text, text)
            if len(self.current) >= SHARED_STRINGS:
                self.last, self.current = self.current, {}
            self.current[text] = found
        return found


_share = _SharedStrings()


def json_object(name: str, text: str, limit: int = ATTRIBUTES_LIMIT) -> tuple[str, dict]:
    """Parse a JSON-object parameter; return (compact text, data).

    The real service re-serialises attributes compactly with key order kept (recorded
    responses show ``{"a": 1}`` echoed as ``{"a":1}``).
    """
    if len(text) > limit:
        raise errors.InvalidParameter(errors.ATTRIBUTES_TOO_LONG.format(name=name, limit=limit))
    try:
        data = loads(text)
        compact = compact_json(data)
    except (ValueError, RecursionError) as exc:
        raise errors.InvalidParameter(errors.INVALID_JSON.format(name=name, reason=str(exc)[:200])) from None
    if not isinstance(data, dict):
        raise errors.InvalidParameter(errors.INVALID_JSON.format(name=name, reason="not an object"))
    # the same few names, and short values such as a skill, a language or a type, recur in every
    # task's (or worker's) attributes: one string each, shared, where the parser makes new ones
    # for every object it reads
    return compact, {_share(key): _share(value) if type(value) is str and len(value) <= SHARED_VALUE_LIMIT else value
                     for key, value in data.items()}


def compact_json(data) -> str:
    """Compact JSON; ``ValueError`` for NaN/Infinity (Python's parser accepts them, JSON does not)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def friendly_name(value: str, name: str = "FriendlyName", limit: int = FRIENDLY_NAME_LIMIT) -> str:
    if not value or not value.strip():
        raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(name=name, reason="must not be empty"))
    if len(value) > limit:
        raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
            name=name, reason=f"must be at most {limit} characters"))
    return value


def integer_range(name: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
            name=name, reason=f"must be between {low} and {high}"))
    return value


def callback_url(name: str, value: str) -> str:
    """A URL TaskRouter will call: absolute ``http`` or ``https`` with a host and a valid port.
    The empty string is allowed (it clears the URL on update)."""
    if value == "":
        return value
    reason = None
    if _URL_FORBIDDEN.search(value):
        reason = "must not contain whitespace or control characters"
    else:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018  (raises ValueError for a port that is not 0..65535)
        except ValueError:
            parts, reason = None, "has an invalid port"
        if parts is not None:
            if parts.scheme.lower() not in ("http", "https"):
                reason = "must be an absolute http or https URL"
            elif not parts.hostname:
                reason = "must name a host"
    if reason:
        raise errors.InvalidParameter(errors.INVALID_URL.format(name=name, value=value[:200], reason=reason))
    return value


def events_filter(value: str, known: "tuple[str, ...] | frozenset[str]") -> str:
    """A workspace ``EventsFilter``: comma-separated event types, each one TaskRouter logs
    (https://www.twilio.com/docs/taskrouter/api/event/reference). Empty clears the filter."""
    unknown = [part.strip() for part in value.split(",") if part.strip() and part.strip() not in known]
    if unknown:
        raise errors.InvalidParameter(errors.EVENTS_FILTER_UNKNOWN.format(types=", ".join(unknown)))
    return value


def within_limit(kind: str, count: int, owner: str) -> None:
    """One more ``kind`` may be created where ``count`` exist (https://www.twilio.com/docs/taskrouter/limits)."""
    limit = LIMITS[kind]
    if count >= limit:
        raise errors.InvalidParameter(errors.RESOURCE_LIMIT.format(kind=LIMIT_NAMES[kind], limit=limit, owner=owner))
