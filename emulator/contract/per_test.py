"""Recorded shapes for a user's own tests: ``--taskrouter-shapes=record`` against the real service
writes the shapes each test received (one scenario per test, named after its node id);
``--taskrouter-shapes=compare`` on the emulator compares each test's shapes with them."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from . import store
from .targets import Target

RECORD, COMPARE = "record", "compare"
MODES = (RECORD, COMPARE)


def scenario_name(nodeid: str) -> str:
    """A folder name for a test: its node id with path separators and odd characters replaced."""
    return re.sub(r"[^A-Za-z0-9._\[\]-]+", "_", nodeid.replace("::", "__")).strip("_")


def finish(target: Target, mode: str, directory: Path, nodeid: str, callbacks_since: int) -> str | None:
    """After a test: write its shapes (record), or compare them and return the readable diff of
    what differs (compare; None when everything recorded matches or nothing was recorded)."""
    target.record_callbacks(callbacks_since)
    name = scenario_name(nodeid)
    if mode == RECORD:
        recorded_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        store.write(directory, name, target.recorder, recorded_at, f"recorded live by pytest {nodeid}")
        return None
    recorded = store.load_scenario(directory, name)
    if not recorded:
        return None
    comparison = store.compare(name, recorded, target.recorder, store.load_allowlist(directory))
    return comparison.report() or None
