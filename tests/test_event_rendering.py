"""Every event type, as each reader renders it: the Events resource's JSON, the event callback's
form fields and the Event Bridge's frames, compared with what the same seeded scenario rendered
when the file ``fixtures/events-rendered.json`` was written. Events are stored compactly (their
texts built when read): this pins what every reader shows, field by field.

Regenerate the file only for a deliberate change of what events render:
``EVENTS_GOLDEN_WRITE=1 .venv/bin/python -m pytest tests/test_event_rendering.py``.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from conftest import ACCOUNT_SID, Emulator
from test_events_callbacks import DRIVERS, World

from emulator.bridge.hub import deliveries

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "events-rendered.json"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{ACCOUNT_SID}:token".encode()).decode()}


def rendered(event_type: str) -> list[dict]:
    """What the driver of ``event_type`` logged after the scenario's set-up, each event of that type
    as the three readers render it."""
    emu = Emulator()
    try:
        world = World(emu)
        before = {sid for w in emu.backend.workspaces(ACCOUNT_SID).values() for sid in w.events}
        DRIVERS[event_type](world)
        callbacks = {r.params["Sid"]: dict(r.params) for r in emu.webhooks.inbox.events(event_type)}
        found = []
        for w in emu.backend.workspaces(ACCOUNT_SID).values():
            for event in list(w.events.values()):
                if event.sid in before or event.event_type != event_type:
                    continue
                answer = emu.http.get(f"/v1/Workspaces/{w.sid}/Events/{event.sid}", headers=AUTH)
                assert answer.status_code == 200, answer.get_json()
                found.append({"resource": answer.get_json(), "callback": callbacks.pop(event.sid, None),
                              "bridge": [list(d) for d in deliveries(w, event)]})
        # a deleted workspace's events are gone from the resource; its callbacks remain
        found += [{"resource": None, "callback": params, "bridge": []} for params in callbacks.values()]
        return found
    finally:
        emu.emulator.close()


def test_the_file_covers_every_driven_event_type():
    if os.environ.get("EVENTS_GOLDEN_WRITE"):
        GOLDEN.write_text(json.dumps({t: rendered(t) for t in DRIVERS}, indent=0, sort_keys=True) + "\n",
                          encoding="utf-8")
    assert set(json.loads(GOLDEN.read_text(encoding="utf-8"))) == set(DRIVERS)


@pytest.mark.parametrize("event_type", list(DRIVERS))
def test_every_reader_renders_the_event_as_before(event_type):
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))[event_type]
    got = json.loads(json.dumps(rendered(event_type)))
    assert got, f"no {event_type} event"
    assert len(got) == len(expected), event_type
    for have, want in zip(got, expected, strict=True):
        for reader in ("resource", "callback", "bridge"):
            assert have[reader] == want[reader], f"{event_type}: {reader}"
