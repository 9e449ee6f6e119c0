"""Checkpoints: the whole emulator state as a JSON document, and back.

A snapshot holds every account's workspaces and everything inside them, the router's state, the
SID generator's position, the virtual clock's instant and its pending timers, and (when given)
the webhooks inbox. ``restore`` puts all of it back, so a test can rewind to a checkpoint and a
restarted server loses nothing.

The encoding is a small object-graph format rather than pickle, so that restoring a document that
came over HTTP or from a file can only ever rebuild the emulator's own classes and plain data:

- JSON scalars stand for themselves; lists stay lists.
- Everything else is a one-key-tagged object: ``{"$dict": [[k, v], ...]}``, ``{"$odict": ...}``,
  ``{"$tuple": [...]}``, ``{"$set": [...]}``, ``{"$dt": iso}``, ``{"$td": seconds}``,
  ``{"$random": state}``, ``{"$count": next}``, ``{"$obj": id, "cls": "module:Name", "state": {...}}``
  for an instance of one of the emulator's classes, ``{"$method": name, "self": ...}`` for a bound
  method, ``{"$partial": ...}`` for a ``functools.partial`` (how timers hold their action),
  ``{"$ref": id}`` for an object or container already written (shared references and cycles), and
  ``{"$ext": name}`` for the live singletons that are not state (the backend, clock and lock).
- Containers referenced from more than one place carry an ``"$id"`` so they stay shared.

Classes are resolved only inside the ``emulator`` package, and functions only as bound methods of
restored objects: a document cannot name anything else.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import os
import random
import re
import sys
import tempfile
import threading
from collections import OrderedDict, deque
from datetime import datetime, timedelta
from typing import Any

from .clock import Clock, Timer, parse_instant

log = logging.getLogger("emulator.snapshot")

FORMAT = "taskrouter-emulator-snapshot"
VERSION = 1
PACKAGE = "emulator"

# The modules whose classes make up the state; a document may name no other class.
RESTORABLE_MODULES = ("emulator.engine", "emulator.clock", "emulator.sids", "emulator.webhooks.inbox")

# Attributes of the Backend that are wiring, not state: the lock and clock are the live ones,
# listeners are the subscribers (webhooks) of the running emulator.
_BACKEND_WIRING = ("lock", "clock", "_listeners")


class SnapshotError(ValueError):
    """A snapshot cannot be taken or a document is not a snapshot this emulator can restore."""


# --- encoding ---------------------------------------------------------------------------------
class _Encoder:
    def __init__(self, externals: dict[int, str]) -> None:
        self.externals = externals
        self.ids: dict[int, int] = {}
        self.shared: set[int] = set()
        self.keep: list = []  # keeps walked temporaries alive so their ids stay unique

    # First pass: which containers are reachable from more than one place.
    def count(self, root: Any) -> None:
        seen: set[int] = set()
        stack = [root]
        while stack:
            value = stack.pop()
            if value is None or isinstance(value, (bool, int, float, str, datetime, timedelta)):
                continue
            key = id(value)
            if key in self.externals:
                continue
            if key in seen:
                self.shared.add(key)
                continue
            seen.add(key)
            self.keep.append(value)
            stack.extend(self._children(value))

    def _children(self, value: Any) -> list:
        if isinstance(value, dict):
            return [*value.keys(), *value.values()]
        if isinstance(value, (list, tuple, set, frozenset, deque)):
            return list(value)
        if isinstance(value, functools.partial):
            return [value.func, *value.args, *value.keywords.values()]
        if hasattr(value, "__self__") and hasattr(value, "__func__"):
            return [value.__self__]
        if _is_ours(type(value)):
            return [] if isinstance(value, tuple) else list(_state(value).values())
        return []

    def encode(self, value: Any) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, float) and value != value:
                raise SnapshotError("NaN cannot be stored")
            return value
        key = id(value)
        if key in self.externals:
            return {"$ext": self.externals[key]}
        if key in self.ids:
            return {"$ref": self.ids[key]}
        if isinstance(value, datetime):
            return {"$dt": value.isoformat()}
        if isinstance(value, timedelta):
            return {"$td": value.total_seconds()}
        if isinstance(value, random.Random):
            version, internal, gauss = value.getstate()
            return {"$random": [version, list(internal), gauss]}
        if isinstance(value, itertools.count):
            return {"$count": _count_next(value)}
        if isinstance(value, re.Pattern):
            return {"$re": value.pattern, "flags": value.flags}
        if isinstance(value, functools.partial):
            return {"$partial": self.encode(value.func), "args": [self.encode(a) for a in value.args],
                    "keywords": [[k, self.encode(v)] for k, v in value.keywords.items()]}
        if hasattr(value, "__self__") and hasattr(value, "__func__"):
            owner = value.__self__
            if not _is_ours(type(owner)):
                raise SnapshotError(f"cannot store a method of {type(owner).__name__}")
            return {"$method": value.__func__.__name__, "self": self.encode(owner)}
        if callable(value) and not isinstance(value, type) and not _is_ours(type(value)):
            # A lambda or closure cannot be rebuilt; every timer must hold a bound method.
            raise SnapshotError(f"cannot store the callable {getattr(value, '__qualname__', value)!r}")
        if _is_ours(type(value)):
            return self._object(value)
        return self._container(value)

    def _tag(self, value: Any, body: dict) -> dict:
        key = id(value)
        if key in self.shared:
            body["$id"] = self.ids[key] = len(self.ids) + 1
        return body

    def _object(self, value: Any) -> dict:
        key = id(value)
        self.ids[key] = len(self.ids) + 1
        body: dict = {"$obj": self.ids[key], "cls": f"{type(value).__module__}:{type(value).__qualname__}"}
        if isinstance(value, tuple):  # a NamedTuple of ours
            body["items"] = [self.encode(item) for item in value]
        else:
            # pairs, not a JSON object: decoding follows this order, whatever a JSON tool does to keys
            body["state"] = [[name, self.encode(item)] for name, item in _state(value).items()]
        return body

    def _container(self, value: Any) -> Any:
        if isinstance(value, list):
            if id(value) in self.shared:
                body = self._tag(value, {})
                body["$list"] = [self.encode(item) for item in value]
                return body
            return [self.encode(item) for item in value]
        if isinstance(value, deque):
            body = self._tag(value, {})
            body["$deque"] = [self.encode(item) for item in value]
            return body
        if isinstance(value, OrderedDict):
            body = self._tag(value, {})
            body["$odict"] = [[self.encode(k), self.encode(v)] for k, v in value.items()]
            return body
        if isinstance(value, dict):
            body = self._tag(value, {})
            body["$dict"] = [[self.encode(k), self.encode(v)] for k, v in value.items()]
            return body
        if isinstance(value, tuple):
            return {"$tuple": [self.encode(item) for item in value]}
        if isinstance(value, (set, frozenset)):
            tag = "$frozenset" if isinstance(value, frozenset) else "$set"
            body = self._tag(value, {})
            body[tag] = [self.encode(item) for item in value]
            return body
        raise SnapshotError(f"cannot store a value of type {type(value).__name__}")


def _is_ours(cls: type) -> bool:
    return _restorable(cls.__module__)


def _transient(cls: type) -> dict:
    """Attributes a class marks as caches rebuilt from the rest (``SNAPSHOT_TRANSIENT``: name ->
    factory of the empty value); they are not stored, and restored empty."""
    return getattr(cls, "SNAPSHOT_TRANSIENT", {})


def _state(value: Any) -> dict:
    state = dict(vars(value)) if hasattr(value, "__dict__") else {}
    for name in _transient(type(value)):
        state.pop(name, None)
    for cls in type(value).__mro__:
        slots = getattr(cls, "__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name not in ("__dict__", "__weakref__") and hasattr(value, name):
                state[name] = getattr(value, name)
    return state


def _count_next(counter: itertools.count) -> int:
    # ``repr(count(7))`` is ``count(7)``: the next value, read without consuming it.
    match = re.fullmatch(r"count\((-?\d+)\)", repr(counter))
    if match is None:
        raise SnapshotError("cannot store a non-integer counter")
    return int(match.group(1))


# --- decoding ---------------------------------------------------------------------------------
class _Decoder:
    def __init__(self, externals: dict[str, Any]) -> None:
        self.externals = externals
        self.objects: dict[int, Any] = {}

    def decode(self, data: Any) -> Any:
        if data is None or isinstance(data, (bool, int, float, str)):
            return data
        if isinstance(data, list):
            return [self.decode(item) for item in data]
        if not isinstance(data, dict) or not data:
            raise SnapshotError("malformed snapshot value")
        if "$ref" in data:
            try:
                return self.objects[data["$ref"]]
            except (KeyError, TypeError):
                raise SnapshotError(f"snapshot refers to unknown object {data['$ref']!r}") from None
        if "$ext" in data:
            try:
                return self.externals[data["$ext"]]
            except (KeyError, TypeError):
                raise SnapshotError(f"unknown external {data['$ext']!r}") from None
        if "$obj" in data:
            return self._object(data)
        if "$dt" in data:
            return datetime.fromisoformat(data["$dt"])
        if "$td" in data:
            return timedelta(seconds=data["$td"])
        if "$random" in data:
            version, internal, gauss = data["$random"]
            generator = random.Random()
            generator.setstate((version, tuple(internal), gauss))
            return generator
        if "$count" in data:
            return itertools.count(int(data["$count"]))
        if "$re" in data:
            return re.compile(data["$re"], int(data.get("flags", 0)))
        if "$partial" in data:
            func = self.decode(data["$partial"])
            if not callable(func):
                raise SnapshotError("a partial must wrap a method")
            args = self.decode(data.get("args", []))
            keywords = {k: self.decode(v) for k, v in data.get("keywords", [])}
            if not all(isinstance(k, str) for k in keywords):
                raise SnapshotError("malformed partial")
            return functools.partial(func, *args, **keywords)
        if "$method" in data:
            owner = self.decode(data["self"])
            name = data["$method"]
            if not isinstance(name, str) or name.startswith("__") or not _is_ours(type(owner)):
                raise SnapshotError(f"cannot restore method {name!r}")
            method = getattr(owner, name, None)
            if not callable(method):
                raise SnapshotError(f"{type(owner).__name__} has no method {name!r}")
            return method
        if "$tuple" in data:
            return tuple(self.decode(item) for item in data["$tuple"])
        for tag, make in (("$list", list), ("$deque", deque), ("$set", set), ("$frozenset", frozenset)):
            if tag in data:
                if make is frozenset:
                    return self._register(data, frozenset(self.decode(i) for i in data[tag]))
                container = self._register(data, make())
                for item in data[tag]:
                    if make is set:
                        container.add(self.decode(item))
                    else:
                        container.append(self.decode(item))
                return container
        for tag, mapping in (("$dict", dict), ("$odict", OrderedDict)):
            if tag in data:
                container = self._register(data, mapping())
                for key, item in data[tag]:
                    container[self.decode(key)] = self.decode(item)
                return container
        raise SnapshotError(f"unknown snapshot tag in {sorted(data)!r}")

    def _register(self, data: dict, value: Any) -> Any:
        if "$id" in data:
            self.objects[data["$id"]] = value
        return value

    def _object(self, data: dict) -> Any:
        cls = _resolve(data.get("cls"))
        if "items" in data:
            value = cls(*[self.decode(item) for item in data["items"]])
            self.objects[data["$obj"]] = value
            return value
        value = object.__new__(cls)
        self.objects[data["$obj"]] = value  # before the state, so cycles resolve to it
        state = {name: self.decode(item) for name, item in data.get("state", [])}
        if any(not isinstance(name, str) or name.startswith("__") for name in state):
            raise SnapshotError(f"malformed state for {data.get('cls')!r}")
        for name, item in state.items():
            object.__setattr__(value, name, item)
        for name, factory in _transient(cls).items():
            object.__setattr__(value, name, factory())
        return value


def _restorable(module_name: str) -> bool:
    return any(module_name == m or module_name.startswith(m + ".") for m in RESTORABLE_MODULES)


def _resolve(name: Any) -> type:
    if not isinstance(name, str) or ":" not in name:
        raise SnapshotError(f"malformed class name {name!r}")
    module_name, qualname = name.split(":", 1)
    # Only modules already loaded, and only those holding state: resolving never imports (an
    # import can run code) and never reaches the server, the CLI or the HTTP layer.
    module = sys.modules.get(module_name)
    if module is None or not _restorable(module_name):
        raise SnapshotError(f"class {name!r} is not one of the emulator's state classes")
    try:
        target: Any = module
        for part in qualname.split("."):
            target = getattr(target, part)
    except AttributeError:
        raise SnapshotError(f"unknown class {name!r}") from None
    if not isinstance(target, type):
        raise SnapshotError(f"{name!r} is not a class")
    return target


# --- the document -----------------------------------------------------------------------------
def take(backend, webhooks=None) -> dict:
    """The whole state of ``backend`` (and its clock's pending timers), and of ``webhooks``'
    inbox when given, as a JSON-ready dict."""
    clock: Clock = backend.clock
    if webhooks is not None:
        webhooks.wait_idle()  # no callback half-delivered: its answer would be lost to the snapshot
    with backend.lock:
        extra = {"webhooks": webhooks.checkpoint()} if webhooks is not None else {}
        externals = {id(backend): "backend", id(clock): "clock", id(backend.lock): "lock"}
        encoder = _Encoder(externals)
        state = {name: value for name, value in vars(backend).items() if name not in _BACKEND_WIRING}
        timers = list(clock.pending())
        root = {"backend": state, "timers": timers, "extra": extra}
        encoder.count(root)
        return {
            "format": FORMAT,
            "version": VERSION,
            "clock": {"now": clock.now().isoformat(), "mode": clock.mode},
            "state": encoder.encode(root),
        }


def restore(backend, document: Any, webhooks=None) -> None:
    """Replace ``backend``'s state (and its clock's instant and timers, and ``webhooks``' inbox
    when given) with ``document``'s.

    Nothing changes unless the whole document decodes. The clock keeps its mode; its instant may
    move backwards, since a checkpoint is a rewind.
    """
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise SnapshotError("not a TaskRouter emulator snapshot")
    if document.get("version") != VERSION:
        raise SnapshotError(f"snapshot version {document.get('version')!r} is not {VERSION}")
    clock: Clock = backend.clock
    with backend.lock:
        decoder = _Decoder({"backend": backend, "clock": clock, "lock": backend.lock})
        try:
            now = parse_instant(document["clock"]["now"])
            root = decoder.decode(document["state"])
            state, timers, extra = root["backend"], root["timers"], root["extra"]
            if not isinstance(state, dict) or not isinstance(extra, dict) or not isinstance(timers, list):
                raise SnapshotError("malformed snapshot: bad state or timers")
            for timer in timers:
                _check_timer(timer)
            if webhooks is not None and "webhooks" in extra:
                webhooks.check_checkpoint(extra["webhooks"])
        except SnapshotError:
            raise
        except Exception as exc:  # whatever a hand-made document breaks, it is refused, nothing changed
            raise SnapshotError(f"malformed snapshot: {type(exc).__name__}: {exc}") from None
        # Everything is checked: from here on nothing can fail half-way.
        if webhooks is not None and "webhooks" in extra:
            webhooks.restore_checkpoint(extra["webhooks"])
        vars(backend).update(state)
        clock.replace_timers(now, timers)


def _check_timer(timer: Any) -> None:
    if (not isinstance(timer, Timer) or not isinstance(timer.due, datetime) or timer.due.tzinfo is None
            or not isinstance(timer.seq, int) or not isinstance(timer.kind, str) or not isinstance(timer.subject, str)
            or not isinstance(timer.cancelled, bool)):
        raise SnapshotError("malformed snapshot: a timer is not a due instant, a sequence number and an action")


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


def load(backend, path: str, webhooks=None) -> None:
    """Restore ``backend`` (and ``webhooks``' inbox) from the snapshot file at ``path``."""
    try:
        with open(path, encoding="utf-8") as fh:
            document = json.load(fh)
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"{path} is not JSON: {exc}") from None
    restore(backend, document, webhooks)


class StateFile:
    """The server's ``--state-file``: loaded on start, saved atomically every ``interval`` real
    seconds (when anything may have changed) and on shutdown, so a restarted server loses nothing.

    The interval is wall-clock time on purpose: persistence protects against the process going
    away, which happens in real time whatever the virtual clock says.
    """

    def __init__(self, path: str, backend, webhooks=None, interval: float = 30.0) -> None:
        self.path = path
        self.backend = backend
        self.webhooks = webhooks
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def load_if_present(self) -> bool:
        """Restore the file's state if the file exists; whether it did."""
        if not os.path.exists(self.path):
            return False
        load(self.backend, self.path, self.webhooks)
        return True

    def save(self) -> None:
        save(self.backend, self.path, self.webhooks)

    def start(self) -> "StateFile":
        """Save every ``interval`` seconds on a background thread (``interval <= 0``: only on stop)."""
        if self.interval > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="taskrouter-emulator-state", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the periodic saves and save once more."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.save()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.save()
            except OSError:  # a full disk must not kill the server; the next save tries again
                log.exception("could not save the state file %s", self.path)
