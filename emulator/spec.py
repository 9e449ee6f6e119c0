"""Twilio's official OpenAPI description of TaskRouter v1, carried with the package (MIT, see
``openapi/LICENSE``), and what the emulator derives from it: the operations (paths, methods,
operationIds), their parameters, and JSON Schemas of their responses.

OpenAPI 3.0 marks optional nulls with ``nullable: true``; ``response_schema`` turns that into
JSON Schema (``type: [T, "null"]``) and inlines ``$ref`` so ``jsonschema`` can validate bodies.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources

HTTP_METHODS = ("get", "post", "delete")


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # path / query / header / body
    schema: dict
    required: bool = False


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str  # upper case
    path: str  # OpenAPI template, e.g. /v1/Workspaces/{WorkspaceSid}/Tasks/{Sid}
    parameters: tuple[Parameter, ...] = field(default_factory=tuple)
    success_status: int = 200

    @property
    def flask_rule(self) -> str:
        return re.sub(r"\{(\w+)\}", r"<\1>", self.path)

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)


@lru_cache(maxsize=1)
def document() -> dict:
    text = resources.files("emulator").joinpath("openapi/twilio_taskrouter_v1.json").read_text(encoding="utf-8")
    return json.loads(text)


def _resolve(node, components):
    """Inline ``$ref``s (the TaskRouter spec has no recursive schemas)."""
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            merged = {**_resolve(components[name], components), **{k: v for k, v in node.items() if k != "$ref"}}
            return merged
        return {k: _resolve(v, components) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, components) for v in node]
    return node


@lru_cache(maxsize=1)
def operations() -> dict[str, Operation]:
    """Every operation of the spec by operationId, in the spec's order."""
    doc = document()
    components = doc["components"]["schemas"]
    result: dict[str, Operation] = {}
    for path, item in doc["paths"].items():
        for method in HTTP_METHODS:
            op = item.get(method)
            if op is None:
                continue
            params = [Parameter(p["name"], p["in"], _resolve(p.get("schema", {}), components), p.get("required", False))
                      for p in op.get("parameters", [])]
            body = op.get("requestBody", {}).get("content", {}).get("application/x-www-form-urlencoded", {})
            schema = body.get("schema", {})
            required = set(schema.get("required", []))
            for name, prop in schema.get("properties", {}).items():
                params.append(Parameter(name, "body", _resolve(prop, components), name in required))
            status = min(int(code) for code in op["responses"])
            result[op["operationId"]] = Operation(op["operationId"], method.upper(), path, tuple(params), status)
    return result


def _to_json_schema(node, exact: bool):
    """OpenAPI 3.0 schema -> JSON Schema: ``nullable`` becomes a null type (and a null enum value).

    With ``exact``, every object with declared properties must have exactly those keys: the
    real service sends every field of a resource (null when empty), so a missing or extra key
    in the emulator's output is a fidelity bug.
    """
    if isinstance(node, dict):
        out = {k: _to_json_schema(v, exact) for k, v in node.items()
               if k not in ("nullable", "description", "x-twilio", "example", "examples", "properties")}
        if isinstance(node.get("properties"), dict):
            # property names are data, not keywords: keep them all (a field may be called "description")
            out["properties"] = {name: _to_json_schema(v, exact) for name, v in node["properties"].items()}
        if exact and isinstance(node.get("properties"), dict) and node["properties"]:
            out["required"] = sorted(node["properties"])
            out["additionalProperties"] = False
        if node.get("nullable"):
            if "type" in out:
                types = out["type"] if isinstance(out["type"], list) else [out["type"]]
                out["type"] = types + ["null"]
            if "enum" in out:
                out["enum"] = list(out["enum"]) + [None]
        return out
    if isinstance(node, list):
        return [_to_json_schema(v, exact) for v in node]
    return node


@cache
def response_schema(operation_id: str, status: int | None = None, exact: bool = True) -> dict | None:
    """The JSON Schema of an operation's success response body (None for bodiless 204s)."""
    doc = document()
    components = doc["components"]["schemas"]
    op = operations()[operation_id]
    responses = doc["paths"][op.path][op.method.lower()]["responses"]
    code = str(status or op.success_status)
    content = responses.get(code, {}).get("content", {}).get("application/json")
    if content is None:
        return None
    return _to_json_schema(_resolve(copy.deepcopy(content["schema"]), components), exact)


@cache
def validator(operation_id: str, status: int | None = None, exact: bool = True):
    schema = response_schema(operation_id, status, exact)
    if schema is None:
        return None
    import jsonschema  # only when responses are validated (strict mode): it is slow to import

    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def validation_errors(operation_id: str, body, status: int | None = None, exact: bool = True) -> list[str]:
    """Why ``body`` does not match the official schema of the operation's response (empty if it does)."""
    check = validator(operation_id, status, exact)
    if check is None:
        return [] if body in (None, b"", "") else ["a bodiless response was expected"]
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in check.iter_errors(body)]
