"""Attribute names and short values are shared between tasks and workers (memory), in a table
that stays bounded: a server left running sees attribute values without limit."""

from __future__ import annotations

import gc
import weakref

from emulator.engine import validation


def test_equal_names_and_short_values_are_one_object():
    _, first = validation.json_object("Attributes", '{"skill": "sales", "language": "en"}')
    _, second = validation.json_object("Attributes", '{"language": "en", "skill": "sales"}')
    for key in ("skill", "language"):
        [a] = [k for k in first if k == key]
        [b] = [k for k in second if k == key]
        assert a is b and first[key] is second[key]
    long = "x" * (validation.SHARED_VALUE_LIMIT + 1)
    _, one = validation.json_object("Attributes", f'{{"note": "{long}"}}')
    _, two = validation.json_object("Attributes", f'{{"note": "{long}"}}')
    assert one["note"] == two["note"] and one["note"] is not two["note"]  # long values are not kept


def test_the_table_keeps_two_generations_at_most(monkeypatch):
    monkeypatch.setattr(validation, "SHARED_STRINGS", 4)
    monkeypatch.setattr(validation, "_share", validation._SharedStrings())
    seen = [validation._share("value-%d" % i) for i in range(20)]
    kept = validation._share.current.keys() | validation._share.last.keys()
    assert len(kept) <= 8 and "value-0" not in kept and "value-19" in kept

    class Text(str):  # (a str subclass can be watched for being freed)
        pass

    probe = Text("probe-value")
    watch = weakref.ref(probe)
    validation._share(probe)
    for i in range(20):
        validation._share("later-%d" % i)
    del probe, seen
    gc.collect()
    assert watch() is None  # nothing holds a string the table has let go of
