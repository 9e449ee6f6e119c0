"""Contract testing: the same scenarios on the emulator and on the real TaskRouter, and the
recorded shapes of the real service's answers that keep the emulator honest.

``python -m emulator.contract parity``   run every scenario on the emulator and print, per
                                        operation and event type, whether its shape matches the
                                        recorded one, and when that was recorded (exit 1 on a
                                        difference the allow-list does not name)
``python -m emulator.contract record``  against the real service (opt-in, see
                                        ``targets.LiveSettings``): run the scenarios and write the
                                        shapes of every response and callback to the fixtures
``python -m emulator.contract seed``    rewrite the seed fixtures from the recorded real traffic
                                        kept in ``fixtures/contract/recordings``

Modules: ``shapes`` (shape of a value, merge, diff), ``recording`` (a client's responses as shapes),
``targets`` (emulator and live targets, the wait helpers), ``scenarios``, ``store`` (fixtures,
allow-list, comparison), ``seed``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from . import scenarios, store
from .recording import Recorder
from .targets import EmulatorTarget, LiveSettings, LiveTarget

# The emulator's runs are reproducible: a fixed seed and start instant.
EMULATOR_SEED = "contract"
EMULATOR_START = "2026-01-01T00:00:00Z"


def run_on_emulator(name: str) -> Recorder:
    """Run scenario ``name`` on a fresh emulator and return what was recorded."""
    from ..facade import TaskRouterEmulator

    with TaskRouterEmulator(seed=EMULATOR_SEED, start=EMULATOR_START) as emulator:
        target = EmulatorTarget(emulator)
        scenarios.run(name, target)
        return target.recorder


def compare_scenario(name: str, directory: Path | None = None) -> store.Comparison:
    """Run scenario ``name`` on the emulator and compare it with its recorded shapes."""
    directory = directory or store.default_dir()
    recorded = store.load(directory).get(name, {})
    return store.compare(name, recorded, run_on_emulator(name), store.load_allowlist(directory))


def compare_all(directory: Path | None = None) -> list[store.Comparison]:
    """Every scenario that has recorded shapes, compared on the emulator."""
    directory = directory or store.default_dir()
    recorded = store.load(directory)
    allowlist = store.load_allowlist(directory)
    return [store.compare(name, recorded[name], run_on_emulator(name), allowlist)
            for name in scenarios.SCENARIOS if name in recorded]


def record_live(settings: LiveSettings, directory: Path | None = None,
                names: list[str] | None = None) -> list[Path]:
    """Run the scenarios against the real service and write their shapes (one recorder per scenario)."""
    directory = directory or store.default_dir()
    written: list[Path] = []
    for name in names or list(scenarios.SCENARIOS):
        target = LiveTarget(settings)
        try:
            scenarios.run(name, target)
        finally:
            target.close()
        recorded_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        written += store.write(directory, name, target.recorder, recorded_at,
                               "recorded live by python -m emulator.contract record")
    return written


__all__ = ["EmulatorTarget", "LiveSettings", "LiveTarget", "Recorder", "compare_all", "compare_scenario",
           "record_live", "run_on_emulator"]
