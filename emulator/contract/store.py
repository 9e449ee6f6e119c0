"""Recorded shapes on disk, the allow-list of known differences, and the comparison.

Layout of a fixtures directory (``fixtures/contract/`` in a checkout)::

    <scenario>/<key>.json    one recorded shape: {"key", "scenario", "recorded_at", "source",
                             "samples", "shape"}; key ``CreateWorkspace.201`` (operation and
                             status), ``event.task.created`` or ``assignment``
    allowlist.json           known differences not fixed yet: {"entries": [{"scenario", "key",
                             "path", "reason"}]}; ``path`` as the diff prints it, ``key``
                             a name or a pattern (``event.*``)
    recordings/              the recorded real traffic the seed shapes were made from

A comparison fails on any difference that the allow-list does not name; an allowed difference
stays visible in the parity report, with its reason.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from . import shapes
from .recording import Recorder

ENVIRONMENT = "TASKROUTER_CONTRACT_FIXTURES"


def default_dir() -> Path:
    """``$TASKROUTER_CONTRACT_FIXTURES``, else ``fixtures/contract`` of the checkout this package
    is in, else ``fixtures/contract`` under the current directory."""
    if os.environ.get(ENVIRONMENT):
        return Path(os.environ[ENVIRONMENT])
    checkout = Path(__file__).resolve().parents[2] / "fixtures" / "contract"
    return checkout if checkout.is_dir() else Path.cwd() / "fixtures" / "contract"


@dataclass(frozen=True)
class Recorded:
    scenario: str
    key: str
    shape: dict
    recorded_at: str
    source: str
    samples: int

    @property
    def is_callback(self) -> bool:
        return "callback" in self.shape


def write(directory: Path, scenario: str, recorder: Recorder, recorded_at: str, source: str) -> list[Path]:
    """Write every shape ``recorder`` holds as fixtures of ``scenario`` (replacing that scenario's)."""
    folder = directory / scenario
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.json"):
        old.unlink()
    written = []
    for key, shape in sorted(recorder.shapes().items()):
        path = folder / f"{key}.json"
        document = {"key": key, "scenario": scenario, "recorded_at": recorded_at, "source": source,
                    "samples": recorder.samples.get(key, 1), "shape": shape}
        path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        written.append(path)
    return written


def load(directory: Path) -> dict[str, dict[str, Recorded]]:
    """Every recorded shape, by scenario and key."""
    out: dict[str, dict[str, Recorded]] = {}
    for folder in sorted(p for p in directory.glob("*/") if p.is_dir() and p.name != "recordings"):
        for key, recorded in load_scenario(directory, folder.name).items():
            out.setdefault(recorded.scenario, {})[key] = recorded
    return out


def load_scenario(directory: Path, scenario: str) -> dict[str, Recorded]:
    """The recorded shapes of one scenario (empty when it has none)."""
    out = {}
    for path in sorted((directory / scenario).glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        out[doc["key"]] = Recorded(doc["scenario"], doc["key"], doc["shape"], doc["recorded_at"], doc["source"],
                                   doc.get("samples", 1))
    return out


@dataclass(frozen=True)
class Allowed:
    scenario: str
    key: str
    path: str
    reason: str


def load_allowlist(directory: Path) -> list[Allowed]:
    path = directory / "allowlist.json"
    if not path.exists():
        return []
    doc = json.loads(path.read_text(encoding="utf-8"))
    entries = []
    for i, entry in enumerate(doc.get("entries", [])):
        missing = {"scenario", "key", "path", "reason"} - set(entry)
        if missing or not str(entry.get("reason", "")).strip():
            raise ValueError(f"allowlist.json entries[{i}]: needs scenario, key, path and a reason")
        entries.append(Allowed(entry["scenario"], entry["key"], entry["path"], entry["reason"]))
    return entries


@dataclass
class KeyResult:
    """How one recorded shape compares: ``differences`` fail, ``known`` are allowed (with reasons)."""

    recorded: Recorded
    observed: dict | None
    differences: list[shapes.Difference] = field(default_factory=list)
    known: list[tuple[shapes.Difference, str]] = field(default_factory=list)

    @property
    def state(self) -> str:
        if self.observed is None:
            return "not observed"
        if self.differences:
            return "differs"
        return "known differences" if self.known else "matches"


@dataclass
class Comparison:
    scenario: str
    results: list[KeyResult]
    unrecorded: list[str]          # keys the emulator produced that have no recording
    stale: list[Allowed]           # allow-list entries that no longer match a difference

    @property
    def failures(self) -> list[KeyResult]:
        return [r for r in self.results if r.state in ("differs", "not observed")]

    def report(self) -> str:
        """A readable diff of everything that fails, one line per difference."""
        lines = []
        for result in self.failures:
            if result.observed is None:
                lines.append(f"{self.scenario} {result.recorded.key}: recorded ({result.recorded.recorded_at}) "
                             "but the emulator's run never produced it")
                continue
            lines.append(f"{self.scenario} {result.recorded.key} (recorded {result.recorded.recorded_at}):")
            lines.extend(f"  {d.describe()}" for d in result.differences)
        return "\n".join(lines)


def compare(scenario: str, recorded: dict[str, Recorded], recorder: Recorder,
            allowlist: list[Allowed]) -> Comparison:
    """Compare what ``recorder`` saw in one scenario with that scenario's recorded shapes."""
    observed = recorder.shapes()
    entries = [a for a in allowlist if a.scenario == scenario]
    used: set[Allowed] = set()
    results = []
    for key, rec in sorted(recorded.items()):
        seen = observed.get(key)
        result = KeyResult(rec, seen)
        if seen is not None:
            if rec.is_callback:
                found = shapes.diff(rec.shape["callback"], seen.get("callback", {}))
            else:
                found = shapes.diff_response(rec.shape, seen)
            for difference in found:
                entry = next((a for a in entries if a.path == difference.path and fnmatchcase(key, a.key)), None)
                if entry is not None:
                    used.add(entry)
                    result.known.append((difference, entry.reason))
                else:
                    result.differences.append(difference)
        results.append(result)
    stale = [a for a in entries if a not in used]
    return Comparison(scenario, results, sorted(set(observed) - set(recorded)), stale)
