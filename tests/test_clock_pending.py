"""``emu.clock.pending()`` (documented on ``TaskRouterEmulator.clock``) lists every timer not yet
fired nor cancelled: a finished task's five-minute deletion included, one per finished task."""

from __future__ import annotations


def test_pending_lists_the_deletion_of_every_finished_task(emu, workspace):
    finished = []
    for _ in range(3):
        task = workspace.tasks.create(attributes="{}")
        workspace.tasks(task.sid).update(assignment_status="canceled")
        finished.append(task.sid)
        emu.clock.advance(1)
    assert [t.subject for t in emu.clock.pending() if t.kind == "finished-deletion"] == finished
