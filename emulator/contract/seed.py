"""Shapes from recorded real traffic: the seed of ``fixtures/contract``.

``recordings/`` holds public recordings of real TaskRouter traffic as data (a vcrpy cassette of an
application's setup, and callback bodies of a routing session). ``seed`` turns them into shape
fixtures in the same format ``record`` writes, under the scenario that repeats the recorded session
(``setup`` and ``routing``), dated when the traffic was recorded.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

from . import store
from .recording import Recorder, operation_for

CASSETTE = "task-router-django-setup.json"
CALLBACKS = "twilio-taskrouter-demo-callbacks.json"


def _iso(instant: datetime) -> str:
    return instant.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def cassette_recorder(document: dict) -> tuple[Recorder, str]:
    """The shapes of a recorded request/response session, and when it was recorded (its first ``Date``)."""
    recorder = Recorder()
    dates = []
    for interaction in document["interactions"]:
        operation = operation_for(interaction["method"], interaction["uri"])
        if operation is None:
            raise ValueError(f"no TaskRouter operation for {interaction['method']} {interaction['uri']}")
        text = interaction["body"]
        recorder.add_response(operation, interaction["status"], json.loads(text) if text else None,
                              interaction["headers"])
        if "Date" in interaction["headers"]:
            dates.append(parsedate_to_datetime(interaction["headers"]["Date"]))
    return recorder, _iso(min(dates))


def callbacks_recorder(document: dict) -> tuple[Recorder, str]:
    """The shapes of recorded callback bodies, and when the session happened (its first ``Timestamp``)."""
    recorder = Recorder()
    stamps = []
    for callback in document["callbacks"]:
        params = {key: str(value) for key, value in callback["params"].items()}
        recorder.add_callback(callback["kind"], params.get("EventType") if callback["kind"] == "event" else None,
                              params)
        if params.get("Timestamp", "").isdigit():
            stamps.append(int(params["Timestamp"]))
    return recorder, _iso(datetime.fromtimestamp(min(stamps), timezone.utc))


def seed(directory: Path) -> list[Path]:
    """(Re)write the ``setup`` and ``routing`` fixtures from ``directory/recordings``."""
    recordings = directory / "recordings"
    written = []
    for name, scenario, convert in ((CASSETTE, "setup", cassette_recorder),
                                    (CALLBACKS, "routing", callbacks_recorder)):
        document = json.loads((recordings / name).read_text(encoding="utf-8"))
        recorder, recorded_at = convert(document)
        written += store.write(directory, scenario, recorder, recorded_at, document["source"])
    return written
