"""Lists read a page at a time: what ``GET .../Tasks`` and the other lists hand the renderer.

An ordered list (``Ordering``) has to be sorted whole, so it is a plain list (``Items``). A list
in creation order is the table itself: ``Table`` serves a page from a derived index of the
table's keys and their positions, testing records against the list's filters as it fills the
page, so a page (the first one, or one keyed by a ``PageToken``) costs the records it looks at
(its own size when every record passes), not the table's length. Events are listed within a time
window, which is one run of that order (the log is written in time order): ``Table.window`` finds
its ends by the dates the index keeps beside the keys.

The index is derived state: made on first use, kept in step as records are appended (new keys
are at the end of a table, so finding them costs their number), and rebuilt when deletions have
left too many gaps or the table was replaced (a restore, a reset). It relies on a deleted key
never coming back (SIDs are never reused).
"""

from __future__ import annotations

import bisect
import itertools
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any

Test = Callable[[Any], bool]


class Listing:
    """The items of one list, in order, read a page at a time."""

    def page(self, kind: str | None, anchor: str | None, size: int) -> tuple[list, bool, bool]:
        """``(items, any before them, any after them)`` of the page that starts at the top
        (``kind`` None), after the item ``anchor`` (``PA``), or ``size`` items before it (``PB``;
        the first page when fewer come before it). An anchor no longer listed starts at the top."""
        raise NotImplementedError

    def all(self) -> list:
        """Every item, in order."""
        raise NotImplementedError


class Items(Listing):
    """A list already filtered and ordered (its making cost its length)."""

    __slots__ = ("items",)

    def __init__(self, items: list) -> None:
        self.items = items

    def page(self, kind: str | None, anchor: str | None, size: int) -> tuple[list, bool, bool]:
        items = self.items
        start = 0
        if anchor is not None:
            index = next((i for i, item in enumerate(items) if item.sid == anchor), None)
            if index is not None:
                start = index + 1 if kind == "PA" else max(0, index - size)
        return items[start:start + size], start > 0, start + size < len(items)

    def all(self) -> list:
        return self.items


class _Order:
    """A table's keys in order (with gaps where keys were deleted) and each key's position; with
    ``stamp``, each record's stamp too (an event's date), and whether they never go down."""

    __slots__ = ("table", "keys", "positions", "head", "stamp", "stamps", "ascending")

    def __init__(self, table: Mapping, stamp: Callable[[Any], Any] | None = None) -> None:
        self.table = table
        self.keys: list = list(table)
        self.positions: dict = {key: i for i, key in enumerate(self.keys)}
        self.head = 0  # no live key before this position
        self.stamp = stamp
        self.stamps: list = []
        self.ascending = True
        if stamp is not None:
            self.stamps = [stamp(record) for record in table.values()]
            self.ascending = all(a <= b for a, b in itertools.pairwise(self.stamps))

    def refresh(self) -> _Order:
        table, positions = self.table, self.positions
        new = []
        for key in reversed(table):  # (appended keys are the last ones)
            if key in positions:
                break
            new.append(key)
        if new:
            keys, stamp, stamps = self.keys, self.stamp, self.stamps
            for key in reversed(new):
                positions[key] = len(keys)
                keys.append(key)
                if stamp is not None:
                    value = stamp(table[key])
                    if stamps and value < stamps[-1]:
                        self.ascending = False
                    stamps.append(value)
        gaps = len(self.keys) - len(table)
        if gaps > 64 and gaps > len(table):
            return _Order(table, self.stamp)  # mostly gaps: start again (amortised over the deletions)
        return self

    def forward(self, index: int, count: int, end: int, test: Test | None) -> tuple[list, int]:
        """Up to ``count`` live records (passing ``test``) from position ``index`` up to ``end``,
        and the position after the last one taken."""
        keys, table = self.keys, self.table
        found: list = []
        while index < end and len(found) < count:
            record = table.get(keys[index])
            if record is not None and (test is None or test(record)):
                found.append(record)
            index += 1
        return found, index

    def live_before(self, index: int, count: int, low: int, test: Test | None) -> int | None:
        """The position of the ``count``-th live record (passing ``test``) before position
        ``index`` (not before ``low``), or None when fewer than ``count`` come before it."""
        keys, table = self.keys, self.table
        seen = 0
        low = max(low, self.head)
        while index > low:
            index -= 1
            record = table.get(keys[index])
            if record is not None and (test is None or test(record)):
                seen += 1
                if seen == count:
                    return index
        return None

    def first_live(self, low: int) -> int:
        keys, table = self.keys, self.table
        index = max(low, self.head)
        while index < len(keys) and keys[index] not in table:
            index += 1
        if low <= self.head:
            self.head = index  # (gaps at the front, where the oldest records go, are skipped once)
        return index


_ORDERS: weakref.WeakKeyDictionary[Any, dict[str, _Order]] = weakref.WeakKeyDictionary()
_ORDERS_LOCK = threading.Lock()


class Table(Listing):
    """The records of ``owner``'s table ``name`` in creation order that pass ``test`` (all of
    them without one); given ``stamp`` (a record's date, never lower than the one before it), only
    those stamped from ``since`` to ``until`` (both included), which are one run of the order.

    A page looks at the records from where it starts until it is full (and one more, to know
    whether another page follows): all of the page's records when every record passes, more when
    few do."""

    __slots__ = ("table", "order", "low", "high", "test")

    def __init__(self, owner: Any, name: str, test: Test | None = None, stamp: Callable[[Any], Any] | None = None,
                 since: Any = None, until: Any = None) -> None:
        self.table = table = getattr(owner, name)
        self.test = test
        with _ORDERS_LOCK:  # (each owner's tables change under its engine's lock; this guards the map)
            orders = _ORDERS.get(owner)
            if orders is None:
                orders = _ORDERS[owner] = {}
        order = orders.get(name)
        if order is None or order.table is not table or order.stamp is not stamp:
            order = _Order(table, stamp)
        self.order = orders[name] = order = order.refresh()
        self.low, self.high = 0, len(order.keys)
        if since is not None:
            self.low = bisect.bisect_left(order.stamps, since)
        if until is not None:
            self.high = bisect.bisect_right(order.stamps, until)

    @classmethod
    def window(cls, owner: Any, name: str, stamp: Callable[[Any], Any], since: Any, until: Any,
               test: Test | None = None) -> Table | None:
        """The records stamped from ``since`` to ``until`` (passing ``test``), or None when the
        stamps are not in order (then only a look at every record finds them)."""
        listing = cls(owner, name, test, stamp, since, until)
        return listing if listing.order.ascending else None

    def page(self, kind: str | None, anchor: str | None, size: int) -> tuple[list, bool, bool]:
        order, test, low, high = self.order, self.test, self.low, self.high
        start = order.first_live(low)
        before = False
        record = self.table.get(anchor) if anchor is not None else None
        index = order.positions.get(anchor) if record is not None else None
        if index is not None and low <= index < high and (test is None or test(record)):
            if kind == "PA":
                start, before = index + 1, True
            else:
                back = order.live_before(index, size, low, test)
                if back is not None:
                    start = back
                    before = order.live_before(back, 1, low, test) is not None
        records, after_index = order.forward(start, size, high, test)
        more, _ = order.forward(after_index, 1, high, test)
        return records, before, bool(more)

    def all(self) -> list:
        return self.order.forward(self.low, len(self.order.keys), self.high, self.test)[0]
