"""Request parameters, parsed by the official spec's declaration of each operation.

Form and query keys are PascalCase; booleans are ``true``/``false``; lists are repeated keys
(comma-joined values are accepted too, as Twilio's own example URLs show them); dates are
``YYYY-MM-DDTHH:MM:SSZ``. The result is a dict of snake_case names to typed values, holding only
the parameters the request carried. Unknown parameters are ignored, as the real service does.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from urllib.parse import unquote_to_bytes

from werkzeug.datastructures import MultiDict

from .. import errors
from ..clock import parse_instant
from ..engine import validation
from ..engine.events import EVENT_TYPES, snake_case
from ..spec import Operation, Parameter

TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")
# Parameters documented as "true, 1 or yes mean true; all other values mean false".
LENIENT_BOOLEANS = {("CreateActivity", "Available"), ("ListActivity", "Available"), ("ListWorker", "Available"),
                    ("CreateTask", "IgnoreCapacity"), ("UpdateWorkflow", "ReEvaluateTasks")}


# Value rules of single parameters that the spec does not declare, by parameter name: each takes
# (name, raw text) and returns the text or raises. Rules that depend on state live in the engine.
VALUE_RULES = {
    "EventsFilter": lambda name, raw: validation.events_filter(raw, EVENT_TYPES),
}
# Documented ranges the spec leaves out: (low, high) by parameter name.
RANGES = {"MaxParticipants": validation.MAX_PARTICIPANTS}


def check_encoding(query_string: bytes, body: bytes | None) -> None:
    """Form and query bytes must be UTF-8 once percent-decoded; anything else is a 400 rather
    than a value silently mangled into replacement characters."""
    for where, raw in (("the query string", query_string), ("the form body", body)):
        if not raw or (raw.isascii() and b"%" not in raw):
            continue
        try:
            unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise errors.InvalidParameter(errors.NOT_UTF8.format(where=where)) from None


def _bad(name: str, reason: str) -> errors.InvalidParameter:
    return errors.InvalidParameter(errors.INVALID_PARAMETER.format(name=name, reason=reason))


def parse_boolean(name: str, raw: str, lenient: bool = False) -> bool:
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if lenient or word in FALSE_WORDS:
        return False
    raise _bad(name, f"'{raw}' is not a boolean (true or false)")


def parse_date(name: str, raw: str) -> datetime:
    try:
        return parse_instant(raw)
    except (ValueError, OverflowError):
        raise _bad(name, f"'{raw}' is not an ISO 8601 date-time such as 2026-01-01T00:00:00Z") from None


def _scalar(op: Operation, param: Parameter, raw: str):
    schema = param.schema
    kind = schema.get("type")
    name = param.name
    if kind == "integer":
        text = raw.strip()
        if not re.fullmatch(r"[+-]?\d{1,19}", text):
            raise _bad(name, f"'{raw}' is not an integer")
        value = int(text)
        if name in RANGES:
            validation.integer_range(name, value, *RANGES[name])
        if "minimum" in schema and value < schema["minimum"]:
            raise _bad(name, f"must be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise _bad(name, f"must be at most {schema['maximum']}")
        return value
    if kind == "boolean" or (op.operation_id, name) in LENIENT_BOOLEANS:
        return parse_boolean(name, raw, (op.operation_id, name) in LENIENT_BOOLEANS)
    if schema.get("format") == "date-time":
        return parse_date(name, raw)
    if schema.get("format") == "uri":
        # every URL parameter of TaskRouter is one it will call (callbacks, TwiML, instructions)
        return validation.callback_url(name, raw)
    if name in VALUE_RULES:
        return VALUE_RULES[name](name, raw)
    if "enum" in schema and raw not in schema["enum"]:
        raise _bad(name, f"'{raw}' is not one of {', '.join(schema['enum'])}")
    pattern = schema.get("pattern")
    if pattern and not re.fullmatch(pattern.strip("^$"), raw):
        raise errors.InvalidParameter(errors.INVALID_SID.format(value=raw, name=name))
    return raw


# What the spec fixes is worked out once per process, not on every request: the snake_case key of
# each parameter name, and the compiled patterns of each operation's path parameters.
_key = lru_cache(maxsize=None)(snake_case)


_PATH_PATTERNS: dict[str, dict[str, re.Pattern]] = {}


def _path_patterns(op: Operation) -> dict[str, re.Pattern]:
    patterns = _PATH_PATTERNS.get(op.operation_id)
    if patterns is None:
        patterns = _PATH_PATTERNS[op.operation_id] = {
            p.name: re.compile(p.schema["pattern"].strip("^$"))
            for p in op.parameters if p.location == "path" and p.schema.get("pattern")}
    return patterns


def parse(op: Operation, query: MultiDict, form: MultiDict, headers) -> dict:
    """Typed values of the operation's query, body and header parameters present in the request."""
    values: dict = {}
    for param in op.parameters:
        if param.location == "path":
            continue
        if param.location == "header":
            raw = headers.get(param.name)
            if raw is not None:
                values[_key(param.name.replace("-", ""))] = raw
            continue
        source = query if param.location == "query" else form
        if param.name not in source:
            if param.required:
                raise errors.InvalidParameter(errors.MISSING_PARAMETER.format(name=param.name))
            continue
        if param.schema.get("type") == "array":
            item = Parameter(param.name, param.location, param.schema.get("items", {}))
            raws = [part for raw in source.getlist(param.name) for part in raw.split(",") if part != ""]
            values[_key(param.name)] = [_scalar(op, item, raw) for raw in raws]
        else:
            raw = source.getlist(param.name)[-1]
            if param.required and raw.strip() == "":
                raise errors.InvalidParameter(errors.MISSING_PARAMETER.format(name=param.name))
            values[_key(param.name)] = _scalar(op, param, raw)
    return values


def check_path(op: Operation, path_values: dict) -> None:
    """A path SID of the wrong shape names nothing: 404, like an unknown SID."""
    patterns = _path_patterns(op)
    for name, value in path_values.items():
        pattern = patterns.get(name)
        if pattern is not None and not pattern.fullmatch(value):
            raise errors.NotFound(errors.RESOURCE_NOT_FOUND.format(path=None))
