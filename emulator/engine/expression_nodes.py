"""The expression tree and its value semantics: how TaskRouter compares, orders and tests values
(the rules are listed in ``expressions``' module docstring). The parser in ``expressions`` builds
these nodes; ``Expression.evaluate`` walks them."""

from __future__ import annotations

import re
from collections.abc import Mapping

# --- value semantics ---------------------------------------------------------------------------

_NUMERIC_STRING = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def _as_number(v):
    """The numeric value of ``v`` for comparisons, or None when it is not numeric."""
    t = type(v)
    if t is int or t is float:
        return v
    if t is str:
        if _NUMERIC_STRING.fullmatch(v) is None:
            return None
        if "." in v:
            return float(v)
        try:
            return int(v)
        except ValueError:  # too many digits for int(); float keeps the magnitude
            return float(v)
    if t is bool or isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return v
    return None


_SCALAR_TYPES = frozenset({str, int, float, bool})


def _is_array(v) -> bool:
    t = type(v)
    return t is list or t is tuple or isinstance(v, (list, tuple))


def _is_scalar(v) -> bool:
    """A non-null value that is neither an array nor an object."""
    if type(v) in _SCALAR_TYPES:  # the common JSON case, without ABC checks
        return True
    return v is not None and not isinstance(v, (list, tuple, Mapping))


def _is_composite(v) -> bool:
    """An array or an object: never comparable with the scalar operators."""
    return type(v) not in _SCALAR_TYPES and isinstance(v, (list, tuple, Mapping))


def _scalar_eq(a, b) -> bool:
    """Equality of two non-null scalars with numeric coercion.

    Booleans only ever match through the same-type test: ``_as_number`` refuses them, so
    ``true == 1`` is false.
    """
    if type(a) is type(b) and a == b:  # also the fast path for the common exact match
        return True
    na = _as_number(a)
    if na is not None:
        nb = _as_number(b)
        if nb is not None:
            return na == nb
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return False


def _eq(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if not (_is_scalar(a) and _is_scalar(b)):
        return False
    return _scalar_eq(a, b)


def _ordered(a, b):
    """(x, y) to order with ``<`` etc., or None when the pair has no order."""
    if not (_is_scalar(a) and _is_scalar(b)) or type(a) is bool or type(b) is bool:
        return None
    na = _as_number(a)
    if na is not None:
        nb = _as_number(b)
        if nb is not None:
            return na, nb
    if isinstance(a, str) and isinstance(b, str):
        return a, b
    return None


def _member(needle, haystack) -> bool:
    for item in haystack:
        if item is not None and _is_scalar(item) and _scalar_eq(needle, item):
            return True
    return False


# --- tree nodes --------------------------------------------------------------------------------
# Value nodes expose ``value(root)``; condition nodes expose ``test(root) -> bool``.


class _Literal:
    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v

    def value(self, root):
        return self.v

    def paths(self, out):
        pass


class _Path:
    __slots__ = ("parts",)

    def __init__(self, parts: tuple):
        self.parts = parts

    def value(self, root):
        cur = root
        for part in self.parts:
            if type(part) is int:
                if isinstance(cur, (list, tuple)) and part < len(cur):
                    cur = cur[part]
                else:
                    return None
            elif type(cur) is dict or isinstance(cur, Mapping):
                if part in cur:
                    cur = cur[part]
                else:
                    return None
            else:
                return None
        return cur

    def paths(self, out):
        out.add(self.parts)


class _Const:
    __slots__ = ("result",)

    def __init__(self, result: bool):
        self.result = result

    def test(self, root):
        return self.result

    def paths(self, out):
        pass


class _Truthy:
    __slots__ = ("operand",)

    def __init__(self, operand):
        self.operand = operand

    def test(self, root):
        return self.operand.value(root) is True

    def paths(self, out):
        self.operand.paths(out)


class _Compare:
    __slots__ = ("left", "right")

    def test(self, root) -> bool:
        raise NotImplementedError

    def __init__(self, left, right):
        self.left = left
        self.right = right

    def paths(self, out):
        self.left.paths(out)
        self.right.paths(out)


class _Eq(_Compare):
    __slots__ = ()

    def test(self, root):
        return _eq(self.left.value(root), self.right.value(root))


class _Ne(_Compare):
    __slots__ = ()

    def test(self, root):
        a = self.left.value(root)
        b = self.right.value(root)
        # Arrays and objects are incomparable, not "different" (see module docstring).
        if _is_composite(a) or _is_composite(b):
            return False
        return not _eq(a, b)


class _Gt(_Compare):
    __slots__ = ()

    def test(self, root):
        pair = _ordered(self.left.value(root), self.right.value(root))
        return pair is not None and pair[0] > pair[1]


class _Ge(_Compare):
    __slots__ = ()

    def test(self, root):
        pair = _ordered(self.left.value(root), self.right.value(root))
        return pair is not None and pair[0] >= pair[1]


class _Lt(_Compare):
    __slots__ = ()

    def test(self, root):
        pair = _ordered(self.left.value(root), self.right.value(root))
        return pair is not None and pair[0] < pair[1]


class _Le(_Compare):
    __slots__ = ()

    def test(self, root):
        pair = _ordered(self.left.value(root), self.right.value(root))
        return pair is not None and pair[0] <= pair[1]


class _Contains(_Compare):
    __slots__ = ()

    def test(self, root):
        a = self.left.value(root)
        b = self.right.value(root)
        return isinstance(a, str) and isinstance(b, str) and b in a


class _Has(_Compare):
    __slots__ = ()

    def test(self, root):
        a = self.left.value(root)
        b = self.right.value(root)
        return _is_array(a) and _is_scalar(b) and _member(b, a)


class _In(_Compare):
    __slots__ = ()

    def test(self, root):
        a = self.left.value(root)
        b = self.right.value(root)
        return _is_scalar(a) and _is_array(b) and _member(a, b)


class _NotIn(_Compare):
    __slots__ = ()

    def test(self, root):
        a = self.left.value(root)
        b = self.right.value(root)
        return _is_scalar(a) and _is_array(b) and not _member(a, b)


class _And:
    __slots__ = ("children",)

    def __init__(self, children: tuple):
        self.children = children

    def test(self, root):
        for child in self.children:
            if not child.test(root):
                return False
        return True

    def paths(self, out):
        for child in self.children:
            child.paths(out)


class _Or:
    __slots__ = ("children",)

    def __init__(self, children: tuple):
        self.children = children

    def test(self, root):
        for child in self.children:
            if child.test(root):
                return True
        return False

    def paths(self, out):
        for child in self.children:
            child.paths(out)


_COMPARE_NODES = {
    "==": _Eq, "!=": _Ne, ">": _Gt, ">=": _Ge, "<": _Lt, "<=": _Le,
    "CONTAINS": _Contains, "HAS": _Has, "IN": _In, "NOT IN": _NotIn,
}
