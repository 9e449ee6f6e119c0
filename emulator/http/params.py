"""Request parameters, parsed by the official spec's declaration of each operation.

Form and query keys are PascalCase; booleans are ``true``/``false``; lists are repeated keys
(comma-joined values are accepted too, as Twilio's own example URLs show them); dates are
``YYYY-MM-DDTHH:MM:SSZ``. The result is a dict of snake_case names to typed values, holding only
the parameters the request carried. Unknown parameters are ignored, as the real service does.
"""

from __future__ import annotations

import re
from datetime import datetime

from werkzeug.datastructures import MultiDict

from .. import errors
from ..clock import parse_instant
from ..engine.events import snake_case
from ..spec import Operation, Parameter

TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")
# Parameters documented as "true, 1 or yes mean true; all other values mean false".
LENIENT_BOOLEANS = {("CreateActivity", "Available"), ("ListActivity", "Available"), ("ListWorker", "Available"),
                    ("CreateTask", "IgnoreCapacity"), ("UpdateWorkflow", "ReEvaluateTasks")}


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


class _Field:
    """One declared parameter, with what the spec fixes about it worked out once per process:
    its snake_case key, its kind, its compiled pattern, its bounds."""

    __slots__ = ("name", "key", "location", "required", "array", "kind", "minimum", "maximum", "enum",
                 "enum_text", "pattern", "lenient")

    def __init__(self, op: Operation, param: Parameter) -> None:
        schema = param.schema
        self.name = param.name
        self.location = param.location
        self.required = param.required
        self.key = snake_case(param.name.replace("-", "") if param.location == "header" else param.name)
        self.array = schema.get("type") == "array"
        if self.array:
            schema = schema.get("items", {})
        self.lenient = (op.operation_id, param.name) in LENIENT_BOOLEANS
        self.minimum = schema.get("minimum")
        self.maximum = schema.get("maximum")
        self.enum = frozenset(schema["enum"]) if "enum" in schema else None
        self.enum_text = ", ".join(schema["enum"]) if "enum" in schema else ""
        pattern = schema.get("pattern")
        self.pattern = re.compile(pattern.strip("^$")) if pattern else None
        kind = schema.get("type")
        if kind == "integer":
            self.kind = "integer"
        elif kind == "boolean" or self.lenient:
            self.kind = "boolean"
        elif schema.get("format") == "date-time":
            self.kind = "date"
        else:
            self.kind = "string"

    def value(self, raw: str):
        name = self.name
        kind = self.kind
        if kind == "integer":
            text = raw.strip()
            if not _INTEGER.fullmatch(text):
                raise _bad(name, f"'{raw}' is not an integer")
            value = int(text)
            if self.minimum is not None and value < self.minimum:
                raise _bad(name, f"must be at least {self.minimum}")
            if self.maximum is not None and value > self.maximum:
                raise _bad(name, f"must be at most {self.maximum}")
            return value
        if kind == "boolean":
            return parse_boolean(name, raw, self.lenient)
        if kind == "date":
            return parse_date(name, raw)
        if self.enum is not None and raw not in self.enum:
            raise _bad(name, f"'{raw}' is not one of {self.enum_text}")
        if self.pattern is not None and not self.pattern.fullmatch(raw):
            raise errors.InvalidParameter(errors.INVALID_SID.format(value=raw, name=name))
        return raw


_INTEGER = re.compile(r"[+-]?\d{1,19}")
_FIELDS: dict[str, tuple[_Field, ...]] = {}
_PATH_PATTERNS: dict[str, dict[str, re.Pattern]] = {}


def _fields(op: Operation) -> tuple[_Field, ...]:
    fields = _FIELDS.get(op.operation_id)
    if fields is None:
        fields = _FIELDS[op.operation_id] = tuple(_Field(op, p) for p in op.parameters if p.location != "path")
    return fields


def parse(op: Operation, query: MultiDict, form: MultiDict, headers) -> dict:
    """Typed values of the operation's query, body and header parameters present in the request."""
    values: dict = {}
    for field in _fields(op):
        if field.location == "header":
            raw = headers.get(field.name)
            if raw is not None:
                values[field.key] = raw
            continue
        source = query if field.location == "query" else form
        if field.name not in source:
            if field.required:
                raise errors.InvalidParameter(errors.MISSING_PARAMETER.format(name=field.name))
            continue
        if field.array:
            raws = [part for raw in source.getlist(field.name) for part in raw.split(",") if part != ""]
            values[field.key] = [field.value(raw) for raw in raws]
        else:
            raw = source.getlist(field.name)[-1]
            if field.required and raw.strip() == "":
                raise errors.InvalidParameter(errors.MISSING_PARAMETER.format(name=field.name))
            values[field.key] = field.value(raw)
    return values


def check_path(op: Operation, path_values: dict) -> None:
    """A path SID of the wrong shape names nothing: 404, like an unknown SID."""
    patterns = _PATH_PATTERNS.get(op.operation_id)
    if patterns is None:
        patterns = _PATH_PATTERNS[op.operation_id] = {
            p.name: re.compile(p.schema["pattern"].strip("^$"))
            for p in op.parameters if p.location == "path" and p.schema.get("pattern")}
    for name, value in path_values.items():
        pattern = patterns.get(name)
        if pattern is not None and not pattern.fullmatch(value):
            raise errors.NotFound(errors.RESOURCE_NOT_FOUND.format(path=None))
