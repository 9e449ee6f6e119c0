"""Shapes: what a response or a callback looks like, without its values.

A shape keeps what a client depends on and drops what changes from call to call (SIDs, dates,
names): the HTTP status, every key, the JSON type of every value (``null`` included, so
nullability shows), the shape of list items, and a few notable headers. Shapes of several calls
to the same operation are merged: a key seen in only some of them is listed as ``optional``, a
value seen with several types gets a list of types.

Format (plain JSON, so fixtures can be read and reviewed as text)::

    scalar   "string" | "integer" | "number" | "boolean" | "null" | ["null", "string"]
    object   {"object": {key: shape, ...}, "optional": [key, ...]}      ("optional" only when not empty)
    array    {"array": shape}                                             (shape null: never seen an item)
    no body  "empty"

A callback is form-encoded, so every value is text; its fields are classed by what the text holds:
``integer`` (digits), ``boolean`` (true/false), ``json-object`` / ``json-array`` (JSON text, as in
``TaskAttributes``), ``empty`` (sent with no value), otherwise ``string``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Headers compared by value: what the real service always sends the same way.
VALUE_HEADERS = ("Content-Type", "X-Home-Region", "X-API-Domain", "Access-Control-Allow-Origin",
                 "Access-Control-Expose-Headers", "Access-Control-Allow-Credentials")
# Headers compared by presence: their value changes with every request.
PRESENT_HEADERS = ("Twilio-Request-Id",)
PRESENT = "present"
EMPTY = "empty"

_INTEGER = re.compile(r"-?\d+\Z")


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def shape_of(value: Any) -> Any:
    """The shape of a decoded JSON value."""
    if isinstance(value, Mapping):
        return {"object": {key: shape_of(item) for key, item in value.items()}}
    if isinstance(value, list):
        item_shape = None
        for item in value:
            item_shape = shape_of(item) if item_shape is None else merge(item_shape, shape_of(item))
        return {"array": item_shape}
    return _type_of(value)


def _types(shape: Any) -> list:
    return list(shape) if isinstance(shape, list) else [shape]


def merge(a: Any, b: Any) -> Any:
    """One shape covering both: union of keys (those not in both become optional) and of types."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, dict) and isinstance(b, dict):
        if "object" in a and "object" in b:
            keys = list(a["object"]) + [k for k in b["object"] if k not in a["object"]]
            both = set(a["object"]) & set(b["object"])
            optional = (set(a.get("optional", ())) | set(b.get("optional", ())) | (set(keys) - both))
            merged = {k: merge(a["object"].get(k), b["object"].get(k)) for k in keys}
            out: dict = {"object": merged}
            if optional:
                out["optional"] = sorted(optional)
            return out
        if "array" in a and "array" in b:
            return {"array": merge(a["array"], b["array"])}
    if a == b:
        return a
    # different kinds: a list of alternatives (a nullable object is ["null", {"object": ...}])
    alternatives: list = []
    for item in _types(a) + _types(b):
        if item not in alternatives:
            alternatives.append(item)
    return sorted(alternatives, key=lambda s: json.dumps(s, sort_keys=True))


def form_value_class(text: str) -> str:
    """How a callback field's text is classed (see the module docstring)."""
    if text == "":
        return EMPTY
    if text in ("true", "false"):
        return "boolean"
    if _INTEGER.match(text):
        return "integer"
    if text[:1] in "{[":
        try:
            decoded = json.loads(text)
        except ValueError:
            return "string"
        return "json-object" if isinstance(decoded, dict) else "json-array"
    return "string"


def callback_shape(params: Mapping[str, str]) -> dict:
    """The shape of one callback's form fields."""
    return {"object": {key: form_value_class(str(value)) for key, value in params.items()}}


def notable_headers(headers: Mapping[str, str]) -> dict:
    """The headers a shape keeps: some by value, some by presence (case-insensitive lookup)."""
    lower = {k.lower(): v for k, v in headers.items()}
    out = {name: lower[name.lower()] for name in VALUE_HEADERS if name.lower() in lower}
    out.update({name: PRESENT for name in PRESENT_HEADERS if name.lower() in lower})
    return out


def response_shape(status: int, body: Any, headers: Mapping[str, str]) -> dict:
    """The shape of one HTTP response; ``body`` is the decoded JSON, or None / "" for no body."""
    return {"status": status, "headers": notable_headers(headers),
            "body": EMPTY if body in (None, "", b"") else shape_of(body)}


def merge_response(a: dict | None, b: dict) -> dict:
    """Merge two response shapes of the same operation and status."""
    if a is None:
        return b
    headers = {k: v for k, v in a["headers"].items() if b["headers"].get(k) == v}
    # a header sent on some calls only, or with different values, is dropped: it is not notable
    return {"status": a["status"], "headers": headers, "body": merge(a["body"], b["body"])}


@dataclass(frozen=True)
class Difference:
    """One way an observed shape differs from the recorded one, at ``path`` (``links.statistics``,
    ``meta.page_size``, ``header Content-Type``, ``status``)."""

    path: str
    recorded: Any
    observed: Any

    def describe(self) -> str:
        def show(value):
            if value is _MISSING:
                return "absent"
            if isinstance(value, dict) and "object" in value:
                return "object"
            if isinstance(value, dict) and "array" in value:
                return "array"
            return json.dumps(value)
        return f"{self.path}: recorded {show(self.recorded)}, emulator {show(self.observed)}"


_MISSING = object()


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def diff(recorded: Any, observed: Any, path: str = "") -> list[Difference]:
    """Every difference between two shapes, each at the path of the key it concerns."""
    if isinstance(recorded, dict) and isinstance(observed, dict):
        if "object" in recorded and "object" in observed:
            out: list[Difference] = []
            rec, obs = recorded["object"], observed["object"]
            for key in rec:
                if key not in obs:
                    out.append(Difference(_join(path, key), rec[key], _MISSING))
                else:
                    out.extend(diff(rec[key], obs[key], _join(path, key)))
            out.extend(Difference(_join(path, key), _MISSING, obs[key]) for key in obs if key not in rec)
            rec_opt, obs_opt = set(recorded.get("optional", ())), set(observed.get("optional", ()))
            for key in sorted((rec_opt ^ obs_opt) & set(rec) & set(obs)):
                out.append(Difference(_join(path, key) + " (optional)", key in rec_opt, key in obs_opt))
            return out
        if "array" in recorded and "array" in observed:
            if recorded["array"] is None or observed["array"] is None:
                # an empty list on one side says nothing about item shapes
                return []
            return diff(recorded["array"], observed["array"], path + "[]")
    if recorded != observed:
        return [Difference(path or "<body>", recorded, observed)]
    return []


def diff_response(recorded: dict, observed: dict) -> list[Difference]:
    """Differences of status, notable headers and body between two response shapes."""
    out = []
    if recorded["status"] != observed["status"]:
        out.append(Difference("status", recorded["status"], observed["status"]))
    for name, value in recorded["headers"].items():
        seen = observed["headers"].get(name, _MISSING)
        if seen != value:
            out.append(Difference(f"header {name}", value, seen))
    out.extend(diff(recorded["body"], observed["body"]))
    return out
