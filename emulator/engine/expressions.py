"""The TaskRouter expression language: parse once into a small tree, evaluate many times.

TaskRouter uses one SQL-like language for TaskQueue ``TargetWorkers``, Workflow filter and target
expressions and the ``TargetWorkersExpression`` / ``Evaluate*`` list filters. Reference:
https://www.twilio.com/docs/taskrouter/expression-syntax (operators, constants, key paths) and
https://www.twilio.com/docs/taskrouter/time-of-day-routing (the ``taskrouter.*`` time variables).

Grammar (keywords are case-insensitive, whitespace is free between tokens)::

    expression  := or_expr EOF
    or_expr     := and_expr ( "OR" and_expr )*
    and_expr    := condition ( "AND" condition )*
    condition   := "(" or_expr ")"
                 | operand [ operator operand ]
    operator    := "==" | "=" | "!=" | ">" | ">=" | "<" | "<="
                 | "CONTAINS" | "HAS" | ">-" | "IN" | "<-" | "NOT" "IN"
    operand     := literal | array | key_path
    array       := "[" [ literal ( "," literal )* ] "]"
    literal     := STRING | NUMBER | "true" | "false" | "null"
    key_path    := NAME ( "." NAME | "[" INTEGER "]" )*
    NAME        := [A-Za-z_$][A-Za-z0-9_$]*     (after a dot any NAME, even a keyword, is a key)
    NUMBER      := [0-9]+ ( "." [0-9]+ )?         (no sign, no exponent; 0800 is the number 800)
    STRING      := '...' or "..." ; a backslash escapes the next quote or backslash

Precedence, tightest first: parentheses, comparison, AND, OR. Parentheses group conditions only;
they are not values, so ``(a) == 1`` and ``a == (1)`` are syntax errors. Comparisons do not chain
(``a == b == c`` is an error). Nesting deeper than ``MAX_DEPTH`` parentheses is an error.

Semantics, where the documentation is silent the choices are:

* A key missing from the document (or a path through a non-object, or an index that is not an
  in-range integer on an array) resolves to NULL (Python ``None``). Keys are case-sensitive.
* A condition that is a bare operand (``true``, ``worker.available``) holds only when the value is
  exactly boolean ``true``; ``1``, ``"true"`` and non-empty arrays do not count.
* NULL: ``==`` holds when both sides are NULL, so ``x == null`` means "x is missing or null";
  ``!=`` is the negation of ``==`` (``missing != 'x'`` is true, ``missing != null`` is false).
  Every other operator is false when either side is NULL, including ``null IN [...]`` and
  ``null NOT IN [...]``; NULL elements inside arrays never match anything.
* Type rules: the scalar operators (``== != > >= < <= CONTAINS``) are false when either side is an
  array, ``!=`` included (the docs say scalar operators compare scalars only, and treating
  "incomparable" as "different" would make ``skills != 'x'`` match every worker with a skills list).
  ``HAS`` needs an array on the left and a scalar on the right; ``IN`` and ``NOT IN`` need a
  scalar on the left and an array on the right; anything else is false. JSON objects are not
  comparable: every operator is false when either side is an object.
* Numbers: when both sides are numbers, or strings that look like plain decimal numbers
  (``-?[0-9]+(.[0-9]+)?``), they compare numerically, also for membership in ``IN``/``NOT IN``/
  ``HAS``. So ``"6" > 5`` and ``taskrouter.currentHour > 8`` (``"08"``) work. Booleans are not
  numbers: ``true == 1`` is false. Otherwise strings compare case-sensitively, ``>``/``<`` between two
  non-numeric strings compare lexicographically, and mixed kinds (a boolean against a string or
  number, a number against a non-numeric string) are never equal and never ordered.
* ``CONTAINS`` is a case-sensitive substring test between two strings; anything else is false.
* There is no unary ``NOT``, no ``NOT HAS``/``NOT CONTAINS``, no negative literals and no hyphen
  in names; ``<-`` and ``>-`` always lex as the ``IN``/``HAS`` aliases, so ``x<-1`` is ``x IN 1``.
"""

from __future__ import annotations

import functools
from datetime import datetime, timezone
from typing import Any, NamedTuple

from emulator.errors import ExpressionError

from .expression_nodes import _COMPARE_NODES, _And, _Const, _Literal, _Or, _Path, _Truthy

__all__ = [
    "Expression",
    "OrderClause",
    "MAX_DEPTH",
    "evaluate",
    "parse",
    "parse_cached",
    "parse_order_by",
    "time_variables",
]

# Each nesting level costs two Python frames while parsing; 200 keeps well inside the default
# recursion limit even when the caller is already deep in a request handler.
MAX_DEPTH = 200

# --- tokens ------------------------------------------------------------------------------------

_STR, _NUM, _WORD, _OP, _PUNCT, _EOF = "string", "number", "name", "operator", "punct", "end"

_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_$")
_NAME_CHARS = _NAME_START | frozenset("0123456789")
_DIGITS = frozenset("0123456789")
_SPACE = frozenset(" \t\r\n\f\v")
_PUNCT_CHARS = frozenset("()[],.")

# Two-character operators first so ">=" never lexes as ">" "=" and "<-" never as "<" "-".
_TWO_CHAR_OPS = {"==": "==", "!=": "!=", ">=": ">=", "<=": "<=", ">-": "HAS", "<-": "IN"}
_TWO_CHAR_PREFIXES = tuple(_TWO_CHAR_OPS)
_ONE_CHAR_OPS = {"=": "==", ">": ">", "<": "<"}
_WORD_OPS = frozenset({"CONTAINS", "HAS", "IN"})
_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "HAS", "CONTAINS", "TRUE", "FALSE", "NULL"})
_LITERAL_WORDS = {"TRUE": True, "FALSE": False, "NULL": None}


class _Token(NamedTuple):
    kind: str
    value: Any  # str text, parsed number, canonical operator, or punctuation char
    pos: int
    text: str      # the source characters, for messages


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    append = tokens.append
    n = len(text)
    i = 0
    while i < n:
        ch = text[i]
        if ch in _SPACE:
            i += 1
            continue
        start = i
        if ch == "'" or ch == '"':
            i += 1
            parts = []
            while True:
                if i >= n:
                    raise ExpressionError(f"unterminated string starting with {ch}", text, start)
                c = text[i]
                if c == "\\" and i + 1 < n and text[i + 1] in (ch, "\\"):
                    parts.append(text[i + 1])
                    i += 2
                elif c == ch:
                    i += 1
                    break
                else:
                    parts.append(c)
                    i += 1
            append(_Token(_STR, "".join(parts), start, text[start:i]))
        elif ch in _DIGITS:
            while i < n and text[i] in _DIGITS:
                i += 1
            is_float = False
            if i < n and text[i] == ".":
                if i + 1 < n and text[i + 1] in _DIGITS:
                    is_float = True
                    i += 1
                    while i < n and text[i] in _DIGITS:
                        i += 1
                else:
                    raise ExpressionError("expected a digit after the decimal point", text, i + 1)
            if i < n and (text[i] in _NAME_CHARS or text[i] == "."):
                raise ExpressionError(f"unexpected {text[i]!r} after number", text, i)
            raw = text[start:i]
            try:
                value = float(raw) if is_float else int(raw)
            except ValueError:  # int() refuses more than sys.get_int_max_str_digits() digits
                raise ExpressionError("number literal is too long", text, start) from None
            append(_Token(_NUM, value, start, raw))
        elif ch in _NAME_START:
            while i < n and text[i] in _NAME_CHARS:
                i += 1
            append(_Token(_WORD, text[start:i], start, text[start:i]))
        elif text.startswith(_TWO_CHAR_PREFIXES, i):
            raw = text[i:i + 2]
            i += 2
            append(_Token(_OP, _TWO_CHAR_OPS[raw], start, raw))
        elif ch in _ONE_CHAR_OPS:
            i += 1
            append(_Token(_OP, _ONE_CHAR_OPS[ch], start, ch))
        elif ch in _PUNCT_CHARS:
            i += 1
            append(_Token(_PUNCT, ch, start, ch))
        elif ch == "-":
            raise ExpressionError("'-' is not supported: no negative numbers or hyphens in names",
                                  text, start)
        elif ch == "!":
            raise ExpressionError("'!' must be followed by '=' (unary NOT is not supported)", text, start)
        else:
            raise ExpressionError(f"unexpected character {ch!r}", text, start)
    append(_Token(_EOF, None, n, ""))
    return tokens


# --- parser ------------------------------------------------------------------------------------


def _describe(tok: _Token) -> str:
    return "end of expression" if tok.kind == _EOF else repr(tok.text)


class _Parser:
    __slots__ = ("text", "tokens", "i")

    def __init__(self, text: str, tokens: list[_Token]):
        self.text = text
        self.tokens = tokens
        self.i = 0

    def error(self, reason: str, pos: int):
        return ExpressionError(reason, self.text, pos)

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != _EOF:
            self.i += 1
        return tok

    def is_word(self, tok: _Token, *words: str) -> bool:
        return tok.kind == _WORD and tok.value.upper() in words

    def parse_expression(self):
        node = self.or_expr(0)
        tok = self.peek()
        if tok.kind != _EOF:
            if tok.kind == _PUNCT and tok.value == ")":
                raise self.error("unmatched ')'", tok.pos)
            raise self.error(f"expected AND, OR or end of expression, found {_describe(tok)}", tok.pos)
        return node

    def or_expr(self, depth: int):
        # AND and OR chains are loops, not recursion, so long flat expressions cost no stack.
        terms = []
        while True:
            factors = [self.condition(depth)]
            while self.is_word(self.peek(), "AND"):
                self.advance()
                factors.append(self.condition(depth))
            terms.append(factors[0] if len(factors) == 1 else _And(tuple(factors)))
            if not self.is_word(self.peek(), "OR"):
                break
            self.advance()
        return terms[0] if len(terms) == 1 else _Or(tuple(terms))

    def condition(self, depth: int):
        tok = self.peek()
        if tok.kind == _PUNCT and tok.value == "(":
            if depth >= MAX_DEPTH:
                raise self.error(f"parentheses nested deeper than {MAX_DEPTH} levels", tok.pos)
            self.advance()
            node = self.or_expr(depth + 1)
            close = self.peek()
            if not (close.kind == _PUNCT and close.value == ")"):
                if close.kind == _EOF:
                    raise self.error(f"missing ')' to close '(' at position {tok.pos}", close.pos)
                raise self.error(f"expected ')' or AND/OR, found {_describe(close)}", close.pos)
            self.advance()
            return node
        left = self.operand()
        op = self.operator()
        if op is None:
            if type(left) is _Literal:
                return _Const(left.v is True)
            return _Truthy(left)
        right = self.operand()
        after = self.peek()
        if after.kind == _OP or self.is_word(after, "CONTAINS", "HAS", "IN", "NOT"):
            raise self.error("comparisons cannot be chained; use AND/OR and parentheses", after.pos)
        node = _COMPARE_NODES[op](left, right)
        if type(left) is _Literal and type(right) is _Literal:
            # Constant conditions such as the documented "1 == 1" are folded once here.
            return _Const(node.test(None))
        return node

    def operator(self):
        """The canonical operator at the cursor (consumed), or None when there is none."""
        tok = self.peek()
        if tok.kind == _OP:
            self.advance()
            return tok.value
        if tok.kind == _WORD:
            word = tok.value.upper()
            if word in _WORD_OPS:
                self.advance()
                return word
            if word == "NOT":
                self.advance()
                nxt = self.peek()
                if self.is_word(nxt, "IN"):
                    self.advance()
                    return "NOT IN"
                raise self.error(f"only NOT IN is supported, found NOT {_describe(nxt)}", nxt.pos)
        return None

    def operand(self):
        tok = self.peek()
        kind = tok.kind
        if kind == _STR or kind == _NUM:
            self.advance()
            return _Literal(tok.value)
        if kind == _WORD:
            word = tok.value.upper()
            if word in _LITERAL_WORDS:
                self.advance()
                return _Literal(_LITERAL_WORDS[word])
            if word == "NOT":
                raise self.error("unary NOT is not supported; use != or NOT IN", tok.pos)
            if word in _KEYWORDS:
                raise self.error(f"expected a value, found keyword {tok.text!r}", tok.pos)
            return _Path(self.key_path())
        if kind == _PUNCT and tok.value == "[":
            return _Literal(self.array())
        if kind == _PUNCT and tok.value == "(":
            raise self.error("parentheses group conditions, not values", tok.pos)
        if kind == _EOF:
            raise self.error("expected a value, found end of expression", tok.pos)
        raise self.error(f"expected a value, found {_describe(tok)}", tok.pos)

    def key_path(self) -> tuple:
        """NAME ( "." NAME | "[" INTEGER "]" )*, cursor on the first NAME."""
        parts: list = [self.advance().value]
        while True:
            tok = self.peek()
            if tok.kind != _PUNCT:
                return tuple(parts)
            if tok.value == ".":
                self.advance()
                name = self.peek()
                if name.kind != _WORD:
                    raise self.error(f"expected a key name after '.', found {_describe(name)}", name.pos)
                self.advance()
                parts.append(name.value)
            elif tok.value == "[":
                self.advance()
                index = self.peek()
                if index.kind != _NUM or type(index.value) is not int:
                    raise self.error(f"array index must be a non-negative integer, found {_describe(index)}",
                                     index.pos)
                self.advance()
                close = self.peek()
                if not (close.kind == _PUNCT and close.value == "]"):
                    raise self.error(f"expected ']' after array index, found {_describe(close)}", close.pos)
                self.advance()
                parts.append(index.value)
            else:
                return tuple(parts)

    def array(self) -> list:
        open_tok = self.advance()
        items: list = []
        tok = self.peek()
        if tok.kind == _PUNCT and tok.value == "]":
            self.advance()
            return items
        while True:
            tok = self.peek()
            if tok.kind == _STR or tok.kind == _NUM:
                items.append(tok.value)
            elif tok.kind == _WORD and tok.value.upper() in _LITERAL_WORDS:
                items.append(_LITERAL_WORDS[tok.value.upper()])
            elif tok.kind == _EOF:
                raise self.error(f"missing ']' to close '[' at position {open_tok.pos}", tok.pos)
            else:
                raise self.error(f"array elements must be literals, found {_describe(tok)}", tok.pos)
            self.advance()
            sep = self.peek()
            if sep.kind == _PUNCT and sep.value == ",":
                self.advance()
                continue
            if sep.kind == _PUNCT and sep.value == "]":
                self.advance()
                return items
            if sep.kind == _EOF:
                raise self.error(f"missing ']' to close '[' at position {open_tok.pos}", sep.pos)
            raise self.error(f"expected ',' or ']' in array, found {_describe(sep)}", sep.pos)


# --- public API --------------------------------------------------------------------------------


class Expression:
    """A parsed expression; ``evaluate`` walks the tree without touching the text again."""

    __slots__ = ("text", "_node", "_paths")

    def __init__(self, text: str, node) -> None:
        self.text = text
        self._node = node
        paths: set = set()
        node.paths(paths)
        self._paths = frozenset(paths)

    def evaluate(self, root) -> bool:
        """True when the expression holds for ``root`` (any Mapping; key paths resolve inside it)."""
        return self._node.test(root)

    def key_paths(self) -> frozenset:
        """Every key path referenced, as tuples of str keys and int indexes."""
        return self._paths

    def roots(self) -> frozenset:
        """The first component of every key path (e.g. ``task``, ``worker``, ``taskrouter``)."""
        return frozenset(p[0] for p in self._paths)

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"


def parse(text: str) -> Expression:
    """Parse ``text`` into an :class:`Expression`; any problem raises ``ExpressionError``."""
    if not isinstance(text, str):
        raise ExpressionError("expression must be a string", repr(text), 0)
    tokens = _tokenize(text)
    if tokens[0].kind == _EOF:
        raise ExpressionError("expression is empty", text, 0)
    try:
        node = _Parser(text, tokens).parse_expression()
    except RecursionError:  # only reachable when the caller's own stack is already very deep
        raise ExpressionError("expression is nested too deeply", text, 0) from None
    return Expression(text, node)


# Expressions come from stored TaskQueue/Workflow configuration and repeat endlessly; an
# Expression is immutable, so sharing one parse per text is safe.
parse_cached = functools.lru_cache(maxsize=4096)(parse)


def evaluate(text: str, root) -> bool:
    """Parse (cached per text) and evaluate ``text`` against ``root``."""
    if not isinstance(text, str):
        raise ExpressionError("expression must be a string", repr(text), 0)
    return parse_cached(text).evaluate(root)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


_last_time_variables: tuple = (None, None)


def time_variables(now: datetime) -> dict:
    """The ``taskrouter.*`` time-of-day variables for ``now`` (naive datetimes are taken as UTC).

    https://www.twilio.com/docs/taskrouter/time-of-day-routing: ``currentTime`` is an integer HHMM,
    ``currentHour``/``currentMin`` are zero-padded strings, ``dayOfWeek`` is Mon..Sun, all in UTC.
    Routing asks for them many times at one instant: the last answer is kept (callers read it,
    never change it).
    """
    global _last_time_variables
    instant, variables = _last_time_variables
    if instant is not None and instant == now:
        return variables
    variables = _time_variables(now)
    _last_time_variables = (now, variables)
    return variables


def _time_variables(now: datetime) -> dict:
    if now.tzinfo is not None:
        now = now.astimezone(timezone.utc)
    return {
        "taskrouter": {
            "currentTime": now.hour * 100 + now.minute,
            "currentHour": f"{now.hour:02d}",
            "currentMin": f"{now.minute:02d}",
            # A fixed table instead of strftime("%a"), which follows the process locale.
            "dayOfWeek": _DAYS[now.weekday()],
        }
    }


class OrderClause(NamedTuple):
    """One ``order_by`` term of a Workflow target: a key path and its direction."""

    path: tuple
    descending: bool


def parse_order_by(text: str) -> list[OrderClause]:
    """Parse ``"worker.level DESC, worker.x ASC"``; the direction defaults to ASC."""
    if not isinstance(text, str):
        raise ExpressionError("order_by must be a string", repr(text), 0)
    tokens = _tokenize(text)
    if tokens[0].kind == _EOF:
        raise ExpressionError("order_by is empty", text, 0)
    parser = _Parser(text, tokens)
    clauses: list[OrderClause] = []
    while True:
        tok = parser.peek()
        if tok.kind != _WORD or tok.value.upper() in _KEYWORDS:
            raise parser.error(f"expected a key path, found {_describe(tok)}", tok.pos)
        path = parser.key_path()
        descending = False
        tok = parser.peek()
        if tok.kind == _WORD:
            direction = tok.value.upper()
            if direction not in ("ASC", "DESC"):
                raise parser.error(f"expected ASC or DESC, found {tok.text!r}", tok.pos)
            descending = direction == "DESC"
            parser.advance()
            tok = parser.peek()
        clauses.append(OrderClause(path, descending))
        if tok.kind == _EOF:
            return clauses
        if tok.kind == _PUNCT and tok.value == ",":
            parser.advance()
            continue
        raise parser.error(f"expected ',' or end of order_by, found {_describe(tok)}", tok.pos)
