"""``python -m emulator.contract parity|record|seed`` (also ``taskrouter-emulator parity``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

from . import compare_all, record_live, scenarios, store
from .seed import seed
from .targets import LiveRefused, LiveSettings


def _source(text: str) -> str:
    """A short name for where a recording came from (``owner/repo`` of a GitHub URL)."""
    parts = urlsplit(text)
    if parts.netloc == "github.com":
        return "/".join(parts.path.strip("/").split("/")[:2])
    return text


def parity_lines(comparisons: list[store.Comparison], directory: Path,
                 unrecorded_scenarios: tuple[str, ...] = ()) -> tuple[list[str], bool]:
    """The parity report, line by line, and whether everything recorded matches or is allow-listed."""
    lines = [f"Parity of the emulator with recorded TaskRouter shapes ({directory})", ""]
    rows = [("scenario", "operation / event type", "state", "recorded", "source")]
    notes: dict[int, list[str]] = {}
    reasons: dict[str, list[str]] = {}
    counts = {"matches": 0, "known differences": 0, "differs": 0, "not observed": 0}
    for comparison in comparisons:
        for result in comparison.results:
            state = result.state
            counts[state] += 1
            label = state if state != "known differences" else f"known differences ({len(result.known)})"
            rows.append((comparison.scenario, result.recorded.key, label, result.recorded.recorded_at,
                         _source(result.recorded.source)))
            notes[len(rows) - 1] = ([f"- {d.describe()}" for d in result.differences]
                                    + [f"~ {d.describe()} (allowed)" for d, _ in result.known])
            for difference, reason in result.known:
                reasons.setdefault(reason, []).append(f"{result.recorded.key} {difference.path}")
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[n]) for n, cell in enumerate(row[:4])) + "  " + row[4])
        lines.extend(" " * (widths[0] + 2) + note for note in notes.get(i, []))
    if reasons:
        lines += ["", "Allowed differences (fixtures allowlist.json), why:"]
        for reason, where in reasons.items():
            lines.append(f"  {reason}: {len(where)} place(s), e.g. {where[0]}")
    for comparison in comparisons:
        if comparison.unrecorded:
            lines.append("")
            lines.append(f"{comparison.scenario}: no recording yet for " + ", ".join(comparison.unrecorded))
        for entry in comparison.stale:
            lines.append(f"{comparison.scenario}: allow-list entry {entry.key} {entry.path} no longer matches a "
                         "difference (fixed? remove it from allowlist.json)")
    for name in unrecorded_scenarios:
        lines.append(f"{name}: no recorded shapes yet (python -m emulator.contract record --scenario {name})")
    total = sum(counts.values())
    lines.append("")
    lines.append(coverage_line(comparisons))
    lines.append(f"{counts['matches']}/{total} recorded shapes match; {counts['known differences']} match but for "
                 f"allow-listed differences; {counts['differs']} differ; {counts['not observed']} not observed")
    return lines, counts["differs"] == 0 and counts["not observed"] == 0


def coverage(comparisons: list[store.Comparison]) -> dict:
    """How much of the API the recorded shapes cover: operations and event types."""
    from .. import spec
    from ..engine.events import EVENT_TYPES

    keys = {r.recorded.key for c in comparisons for r in c.results}
    operations = {key.rsplit(".", 1)[0] for key in keys if not key.startswith(("event.", "assignment"))}
    events = {key[len("event."):] for key in keys if key.startswith("event.")}
    return {"operations": sorted(operations), "operations_total": len(spec.operations()),
            "event_types": sorted(events), "event_types_total": len(EVENT_TYPES),
            "assignment_callbacks": any(key == "assignment" for key in keys)}


def coverage_line(comparisons: list[store.Comparison]) -> str:
    found = coverage(comparisons)
    return (f"Recorded shapes cover {len(found['operations'])}/{found['operations_total']} operations and "
            f"{len(found['event_types'])}/{found['event_types_total']} event types"
            + (", and assignment callbacks" if found["assignment_callbacks"] else ""))


def parity_document(comparisons: list[store.Comparison]) -> dict:
    """The parity report as JSON-ready data: one entry per recorded shape, and the totals."""
    entries = [{"scenario": c.scenario, "key": r.recorded.key, "state": r.state, "recorded_at": r.recorded.recorded_at,
                "source": r.recorded.source, "differences": [d.describe() for d in r.differences],
                "known": [{"difference": d.describe(), "reason": reason} for d, reason in r.known]}
               for c in comparisons for r in c.results]
    totals = {state: sum(1 for e in entries if e["state"] == state)
              for state in ("matches", "known differences", "differs", "not observed")}
    return {"shapes": entries, "totals": {**totals, "recorded": len(entries)}, "coverage": coverage(comparisons),
            "not_recorded": {c.scenario: c.unrecorded for c in comparisons if c.unrecorded},
            "stale_allowlist": [{"scenario": a.scenario, "key": a.key, "path": a.path}
                                for c in comparisons for a in c.stale]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator.contract",
                                     description="Contract testing of the emulator against recorded shapes of "
                                                 "the real TaskRouter.")
    parser.add_argument("--fixtures", type=Path, default=None,
                        help="the fixtures directory (default: fixtures/contract of the checkout, or "
                             f"${store.ENVIRONMENT})")
    commands = parser.add_subparsers(dest="command", required=True)
    parity = commands.add_parser("parity", help="run the scenarios on the emulator and report, per operation and "
                                                "event type, whether its shape matches the recorded one")
    parity.add_argument("--json", action="store_true", help="print the report as JSON")
    record = commands.add_parser("record", help="run the scenarios against the real TaskRouter and write the "
                                                "shapes (needs TASKROUTER_LIVE=1 and credentials; callbacks are "
                                                "recorded when TASKROUTER_LIVE_CALLBACK_URL is set, otherwise the "
                                                "scenarios send them to http://example.com)")
    record.add_argument("--scenario", action="append", choices=list(scenarios.SCENARIOS),
                        help="only this scenario (repeatable; default all)")
    commands.add_parser("seed", help="rewrite the seed fixtures from fixtures/contract/recordings")
    args = parser.parse_args(argv)
    directory = args.fixtures or store.default_dir()
    if args.command == "seed":
        for path in seed(directory):
            print(path)
        return 0
    if args.command == "record":
        try:
            settings = LiveSettings.from_environment()
        except LiveRefused as exc:
            print(f"record refused: {exc}", file=sys.stderr)
            return 2
        for path in record_live(settings, directory, args.scenario):
            print(path)
        return 0
    if not directory.is_dir():
        print(f"no recorded shapes at {directory} (give --fixtures DIR)", file=sys.stderr)
        return 2
    comparisons = compare_all(directory)
    if args.json:
        document = parity_document(comparisons)
        print(json.dumps(document, indent=1))
        return 0 if document["totals"]["differs"] + document["totals"]["not observed"] == 0 else 1
    compared = {c.scenario for c in comparisons}
    lines, ok = parity_lines(comparisons, directory, tuple(n for n in scenarios.SCENARIOS if n not in compared))
    print("\n".join(lines))
    return 0 if ok else 1
