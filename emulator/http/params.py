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


def _scalar(op: Operation, param: Parameter, raw: str):
    schema = param.schema
    kind = schema.get("type")
    name = param.name
    if kind == "integer":
        text = raw.strip()
        if not re.fullmatch(r"[+-]?\d{1,19}", text):
            raise _bad(name, f"'{raw}' is not an integer")
        value = int(text)
        if "minimum" in schema and value < schema["minimum"]:
            raise _bad(name, f"must be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise _bad(name, f"must be at most {schema['maximum']}")
        return value
    if kind == "boolean" or (op.operation_id, name) in LENIENT_BOOLEANS:
        return parse_boolean(name, raw, (op.operation_id, name) in LENIENT_BOOLEANS)
    if schema.get("format") == "date-time":
        return parse_date(name, raw)
    if "enum" in schema and raw not in schema["enum"]:
        raise _bad(name, f"'{raw}' is not one of {', '.join(schema['enum'])}")
    pattern = schema.get("pattern")
    if pattern and not re.fullmatch(pattern.strip("^$"), raw):
        raise errors.InvalidParameter(errors.INVALID_SID.format(value=raw, name=name))
    return raw


def parse(op: Operation, query: MultiDict, form: MultiDict, headers) -> dict:
    """Typed values of the operation's query, body and header parameters present in the request."""
    values: dict = {}
    for param in op.parameters:
        if param.location == "path":
            continue
        if param.location == "header":
            raw = headers.get(param.name)
            if raw is not None:
                values[snake_case(param.name.replace("-", ""))] = raw
            continue
        source = query if param.location == "query" else form
        if param.name not in source:
            if param.required:
                raise errors.InvalidParameter(errors.MISSING_PARAMETER.format(name=param.name))
            continue
        if param.schema.get("type") == "array":
            item = Parameter(param.name, param.location, param.schema.get("items", {}))
            raws = [part for raw in source.getlist(param.name) for part in raw.split(",") if part != ""]
            values[snake_case(param.name)] = [_scalar(op, item, raw) for raw in raws]
        else:
            raw = source.getlist(param.name)[-1]
            if param.required and raw.strip() == "":
                raise errors.InvalidParameter(errors.MISSING_PARAMETER.format(name=param.name))
            values[snake_case(param.name)] = _scalar(op, param, raw)
    return values


def check_path(op: Operation, path_values: dict) -> None:
    """A path SID of the wrong shape names nothing: 404, like an unknown SID."""
    for name, value in path_values.items():
        param = op.parameter(name)
        pattern = param.schema.get("pattern") if param else None
        if pattern and not re.fullmatch(pattern.strip("^$"), value):
            raise errors.NotFound(errors.RESOURCE_NOT_FOUND.format(path=None))
