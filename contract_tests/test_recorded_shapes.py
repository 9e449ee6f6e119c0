"""The emulator's shapes against the shapes recorded from the real service (fixtures/contract).

Each scenario with recorded shapes runs on a fresh emulator; any difference the allow-list does not
name fails with a readable diff (``python -m emulator.contract parity`` prints the whole report).
Against the real service the same scenarios are recorded, not compared: ``python -m emulator.contract record``.
"""

from __future__ import annotations

import pytest

from emulator import contract
from emulator.contract import scenarios, store
from emulator.http.render import Renderer

pytestmark = pytest.mark.taskrouter_emulator_only("compares the emulator with recorded shapes")

RECORDED = store.load(store.default_dir())


@pytest.mark.parametrize("name", [n for n in scenarios.SCENARIOS if n in RECORDED])
def test_the_emulator_matches_the_recorded_shapes(name):
    comparison = contract.compare_scenario(name)
    assert not comparison.failures, ("\n" + comparison.report() + "\n(a difference that is known and not fixed "
                                     "yet goes in fixtures/contract/allowlist.json, with its reason)")
    assert comparison.results, "the scenario has recorded shapes to compare"


def test_a_changed_field_fails_the_comparison_and_the_diff_names_it(monkeypatch):
    render_worker = Renderer.worker

    def worker_with_text_availability(self, ws, worker):
        body = render_worker(self, ws, worker)
        body["available"] = "false" if not body["available"] else "true"  # a boolean rendered as text
        return body

    monkeypatch.setattr(Renderer, "worker", worker_with_text_availability)
    comparison = contract.compare_scenario("setup")
    assert [r.recorded.key for r in comparison.failures] == ["CreateWorker.201"]
    assert 'available: recorded "boolean", emulator "string"' in comparison.report()


def test_a_dropped_callback_field_fails_the_comparison(monkeypatch):
    from emulator.engine import events

    render_params = events.callback_params

    def without_worker_name(event, workspace_name):
        params = render_params(event, workspace_name)
        if params["EventType"] == "worker.created":
            params.pop("WorkerName")
        return params

    monkeypatch.setattr(events, "callback_params", without_worker_name)
    report = contract.compare_scenario("routing").report()
    assert 'event.worker.created (recorded 2018-03-30T06:53:04Z):\n  WorkerName: recorded "string", emulator absent' \
        in report


def test_the_families_scenario_reaches_every_resource_family():
    recorder = contract.run_on_emulator("families")
    operations = {key.rsplit(".", 1)[0] for key in recorder.responses}
    for expected in ("UpdateWorkspace", "CreateActivity", "UpdateTaskChannel", "UpdateTaskQueue", "ListWorker",
                     "UpdateWorkerChannel", "UpdateWorkflow", "UpdateTaskReservation", "FetchWorkerReservation",
                     "UpdateTask", "ListTaskQueuesStatistics", "FetchWorkerInstanceStatistics", "ListEvent",
                     "FetchEvent"):
        assert expected in operations, expected
    assert {"FetchTask.404", "CreateTaskQueue.400", "UpdateTask.412"} <= set(recorder.responses)
    assert "event.reservation.accepted" in recorder.callbacks
