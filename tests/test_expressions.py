"""Tests of the TaskRouter expression language (emulator.engine.expressions).

The expected values follow https://www.twilio.com/docs/taskrouter/expression-syntax and the
semantic choices written in the module docstring of emulator/engine/expressions.py.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone

import pytest

from emulator.engine.expressions import (
    MAX_DEPTH,
    Expression,
    OrderClause,
    evaluate,
    parse,
    parse_cached,
    parse_order_by,
    time_variables,
)
from emulator.errors import ExpressionError

# Wednesday 2024-03-06 08:05 UTC.
FIXED_NOW = datetime(2024, 3, 6, 8, 5, tzinfo=timezone.utc)

DOC = {
    "name": "Alice Smith",
    "type": "ticket",
    "level": 5,
    "rating": 4.5,
    "num_str": "6",
    "zero_str": "0800",
    "skills": ["support", "sales", 3],
    "languages": ["en", "es"],
    "empty": [],
    "vip": True,
    "flag_false": False,
    "flag_str": "true",
    "nothing": None,
    "object": {"array": ["a", "b", "c"], "attr": "bar", "nested": {"deep": 1}},
    "matrix": [[1, 2], [3, 4]],
    "Case": "upper",
    "case": "lower",
    "$dollar": "d",
    "_under": "u",
    "scores": [1, "2", 3.5],
    "with_null": [None, "x"],
    "quote": "it's",
    "dq": 'say "hi"',
    "o": {"in": 1, "and": 2},
    "task": {"priority": 10, "channel": "voice"},
    "worker": {"level": 3, "channel": {"voice": {"configured_capacity": 1}}},
    "workers": {"available": 2},
    **time_variables(FIXED_NOW),
}

D = DOC

EVALUATION_CASES = [
    # --- constants, on either side --------------------------------------------------------
    ("1 == 1", D, True),
    ("1==1", D, True),
    ("0 != 1", D, True),
    ('"apple" != "orange"', D, True),
    ("'apple' == \"apple\"", D, True),
    ("1 == 2", D, False),
    ("1 = 1", D, True),
    ("1.0 == 1", D, True),
    ("1.00 == 1.0", D, True),
    ("0800 == 800", D, True),
    ("true", D, True),
    ("false", D, False),
    ("TRUE == true", D, True),
    ("True == 1", D, False),
    ("null == null", D, True),
    ("null != null", D, False),
    ("NULL == Null", D, True),
    # --- key paths ------------------------------------------------------------------------
    ("type == 'ticket'", D, True),
    ("type == 'Ticket'", D, False),
    ("'ticket' == type", D, True),
    ("object.attr == \"bar\"", D, True),
    ("object.array[2] == 'c'", D, True),
    ("object.array[3] == null", D, True),
    ("object.nested.deep == 1", D, True),
    ("matrix[1][0] == 3", D, True),
    ("matrix[0][1] > 1", D, True),
    ("Case == 'upper'", D, True),
    ("case == 'lower'", D, True),
    ("CASE == null", D, True),
    ("$dollar == 'd'", D, True),
    ("_under == 'u'", D, True),
    ("object.attr.x == null", D, True),
    ("type[0] == null", D, True),
    ("object[0] == null", D, True),
    ("skills.first == null", D, True),
    ("missing.deep.path == null", D, True),
    ("o.in == 1", D, True),
    ("o.and == 2", D, True),
    ("task.priority > worker.level", D, True),
    ("\ttype\n==\r\n'ticket'", D, True),
    # --- null and missing -----------------------------------------------------------------
    ("missing == null", D, True),
    ("missing != 'x'", D, True),
    ("missing != null", D, False),
    ("nothing == null", D, True),
    ("nothing == missing", D, True),
    ("missing == 'x'", D, False),
    ("missing > 1", D, False),
    ("missing < 1", D, False),
    ("missing >= null", D, False),
    ("missing CONTAINS 'a'", D, False),
    ("missing IN ['a']", D, False),
    ("missing NOT IN ['a']", D, False),
    ("skills HAS null", D, False),
    ("with_null HAS null", D, False),
    ("null IN with_null", D, False),
    ("missing", D, False),
    # --- numbers and numeric strings ------------------------------------------------------
    ("num_str > 5", D, True),
    ("num_str == 6", D, True),
    ("num_str == 6.0", D, True),
    ("num_str != 6", D, False),
    ("zero_str == 800", D, True),
    ("'6' == '6.0'", D, True),
    ("level > '4'", D, True),
    ("level >= 5", D, True),
    ("level >= 5.1", D, False),
    ("level < 5", D, False),
    ("level <= 5", D, True),
    ("rating > 4", D, True),
    ("rating == 4.5", D, True),
    ("level == 'five'", D, False),
    ("level > 'five'", D, False),
    ("level != 'five'", D, True),
    # --- strings and booleans -------------------------------------------------------------
    ("name > 'Alice'", D, True),
    ("name < 'Bob'", D, True),
    ("'b' > 'a'", D, True),
    ("'B' < 'a'", D, True),
    ("vip == true", D, True),
    ("vip == 'true'", D, False),
    ("flag_str == true", D, False),
    ("vip > false", D, False),
    ("vip == 1", D, False),
    ("vip", D, True),
    ("flag_false", D, False),
    ("flag_str", D, False),
    ("level", D, False),
    ("'true'", D, False),
    # --- CONTAINS -------------------------------------------------------------------------
    ("name CONTAINS 'Smith'", D, True),
    ("name contains 'smith'", D, False),
    ("name CONTAINS ''", D, True),
    ("skills CONTAINS 'support'", D, False),
    ("level CONTAINS '5'", D, False),
    ("'hello world' CoNtAiNs 'lo w'", D, True),
    # --- HAS and >- -----------------------------------------------------------------------
    ("skills HAS 'support'", D, True),
    ("skills has 'billing'", D, False),
    ("skills >- 'sales'", D, True),
    ("skills HAS 3", D, True),
    ("skills HAS '3'", D, True),
    ("scores HAS 2", D, True),
    ("scores HAS 3.50", D, True),
    ("type HAS 't'", D, False),
    ("skills HAS ['support']", D, False),
    ("empty HAS 'x'", D, False),
    ("skills HAS true", D, False),
    # --- IN and <- ------------------------------------------------------------------------
    ("type IN ['ticket', 'chat']", D, True),
    ("type in ['chat']", D, False),
    ("type <- ['ticket']", D, True),
    ("level IN [1, 5]", D, True),
    ("level IN ['5']", D, True),
    ("'en' IN languages", D, True),
    ("type IN 'ticket'", D, False),
    ("skills IN languages", D, False),
    ("type IN []", D, False),
    ("vip IN [true]", D, True),
    ("vip IN [1]", D, False),
    ("x<-1", {"x": 1}, False),
    ("x<-[1]", {"x": 1}, True),
    ("x>-1", {"x": [1]}, True),
    # --- NOT IN ---------------------------------------------------------------------------
    ("type NOT IN ['chat']", D, True),
    ("type not in ['ticket']", D, False),
    ("type NoT In []", D, True),
    ("type NOT IN 'chat'", D, False),
    ("level NOT IN ['5', 6]", D, False),
    ("skills NOT IN ['x']", D, False),
    # --- scalar operators on arrays and objects -------------------------------------------
    ("skills == 'support'", D, False),
    ("skills != 'support'", D, False),
    ("empty == []", D, False),
    ("languages == ['en', 'es']", D, False),
    ("object != 'x'", D, False),
    ("object == null", D, False),
    ("skills > 1", D, False),
    ("[1] != 1", D, False),
    # --- precedence and parentheses -------------------------------------------------------
    ("true OR false AND false", D, True),
    ("(true OR false) AND false", D, False),
    ("false AND false OR true", D, True),
    ("false AND (false OR true)", D, False),
    ("type == 'ticket' AND level > 3 OR missing == 1", D, True),
    ("type == 'chat' OR level > 3 AND vip == true", D, True),
    ("(type == 'chat' OR level > 3) AND vip == false", D, False),
    ("((((level == 5))))", D, True),
    ("(skills HAS 'support') AND (languages HAS 'en')", D, True),
    ("type == 'ticket' and level == 5 and vip", D, True),
    ("type == 'x' or level == 1 or vip", D, True),
    ("type == 'ticket' aNd level == 5 Or false", D, True),
    ("(language == 'en' OR language == 'fr') AND skill_rating >= 5.1",
     {"language": "fr", "skill_rating": 5.1}, True),
    ("(condition_a == true) OR (condition_b == true)", {"condition_b": True}, True),
    # --- quotes and escapes ---------------------------------------------------------------
    ("quote == \"it's\"", D, True),
    ("quote == 'it\\'s'", D, True),
    ("dq == 'say \"hi\"'", D, True),
    ("dq == \"say \\\"hi\\\"\"", D, True),
    ("\"a\\\\b\" == 'a\\b'", {}, True),
    ("'AND' == \"AND\"", D, True),
    # --- special variables supplied by the caller -----------------------------------------
    ("workers.available > 0", D, True),
    ("worker.channel.voice.configured_capacity >= 1", D, True),
    ("taskrouter.currentTime > 0800", D, True),
    ("taskrouter.currentTime < 0800", D, False),
    ("taskrouter.currentTime > 0800 AND taskrouter.currentTime < 1830", D, True),
    ("taskrouter.currentHour == 8", D, True),
    ("taskrouter.currentHour > 7 AND taskrouter.currentHour < 18", D, True),
    ("taskrouter.currentMin == '05'", D, True),
    ("taskrouter.dayOfWeek IN ['Mon', 'Wed']", D, True),
    ("taskrouter.dayOfWeek = 'wed'", D, False),
]


@pytest.mark.parametrize(("text", "root", "expected"), EVALUATION_CASES,
                         ids=[c[0] for c in EVALUATION_CASES])
def test_evaluation(text, root, expected):
    expr = parse(text)
    assert expr.evaluate(root) is expected
    assert evaluate(text, root) is expected


def test_evaluation_table_is_large_enough():
    assert len(EVALUATION_CASES) >= 90
    assert len({c[0] for c in EVALUATION_CASES}) == len(EVALUATION_CASES)


SYNTAX_ERRORS = [
    ("", 0),
    ("   ", 0),
    ("a ==", 4),
    ("== 1", 0),
    ("(a == 1", 7),
    ("a == 1)", 6),
    ("()", 1),
    ("NOT a == 1", 0),
    ("NOT", 0),
    ("a NOT HAS 'x'", 6),
    ("a NOT CONTAINS 'x'", 6),
    ("a == -1", 5),
    ("first-name == 'x'", 5),
    ("'abc", 0),
    ("a == \"abc", 5),
    ("a == b == c", 7),
    ("type==='ticket'", 6),
    ("a[1.5] == 1", 2),
    ("a[x] == 1", 2),
    ("a[1 == 1", 4),
    ("[a] == 1", 1),
    ("a IN [1, 2", 10),
    ("a IN [1,]", 8),
    ("a IN [[1]]", 6),
    ("a IN [b]", 6),
    ("a. == 1", 3),
    (".a == 1", 0),
    ("a == 1.", 7),
    ("a == 1.2.3", 8),
    ("a == 1abc", 6),
    ("a == 1 b == 2", 7),
    ("a ! b", 2),
    ("a == 1 AND", 10),
    ("AND a == 1", 0),
    ("a == (1)", 5),
    ("a @ b", 2),
    ("a == 1 OR OR b", 10),
    ("ünï == 1", 0),
    ("a == " + "9" * 5000, 5),
    ("(" * (MAX_DEPTH + 50) + "a" + ")" * (MAX_DEPTH + 50), MAX_DEPTH),
]


@pytest.mark.parametrize(("text", "position"), SYNTAX_ERRORS, ids=[repr(c[0][:30]) for c in SYNTAX_ERRORS])
def test_syntax_errors(text, position):
    with pytest.raises(ExpressionError) as info:
        parse(text)
    err = info.value
    assert isinstance(err.position, int)
    assert err.position == position
    assert 0 <= err.position <= len(text)
    assert err.reason
    assert err.expression == text
    assert err.status == 400


def test_syntax_error_table_is_large_enough():
    assert len(SYNTAX_ERRORS) >= 15


def test_error_reason_is_helpful():
    with pytest.raises(ExpressionError, match="unary NOT"):
        parse("NOT vip")
    with pytest.raises(ExpressionError, match="only NOT IN"):
        parse("a NOT HAS 'x'")
    with pytest.raises(ExpressionError, match=r"missing '\)'"):
        parse("(a == 1")
    with pytest.raises(ExpressionError, match="unterminated string"):
        parse("a == 'x")


def test_non_string_input_raises_expression_error():
    with pytest.raises(ExpressionError):
        parse(None)  # type: ignore[arg-type]
    with pytest.raises(ExpressionError):
        evaluate(["a == 1"], {})  # type: ignore[arg-type]


def test_nesting_just_below_the_limit_parses():
    depth = MAX_DEPTH
    text = "(" * depth + "a == 1" + ")" * depth
    assert parse(text).evaluate({"a": 1}) is True
    nested = "a == 1"
    for _ in range(MAX_DEPTH - 1):
        nested = f"(a == 2 OR {nested})"
    assert parse(nested).evaluate({"a": 1}) is True
    assert parse(nested).evaluate({"a": 3}) is False


def test_long_flat_chains_do_not_recurse():
    text = " OR ".join(f"a == {i}" for i in range(5000))
    expr = parse(text)
    assert expr.evaluate({"a": 4999}) is True
    assert expr.evaluate({"a": 5000}) is False
    text = " AND ".join("a == 1" for _ in range(5000))
    assert parse(text).evaluate({"a": 1}) is True


# --- key paths and roots ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "paths", "roots"), [
    ("skills HAS 'support' AND level >= 3", {("skills",), ("level",)}, {"skills", "level"}),
    ("task.a.b[2][0] == worker.x OR 1 == 1", {("task", "a", "b", 2, 0), ("worker", "x")}, {"task", "worker"}),
    ("1 == 1", set(), set()),
    ("worker.available", {("worker", "available")}, {"worker"}),
    ("o.in == 1 AND (t.x IN [1] OR t.x NOT IN [2])", {("o", "in"), ("t", "x")}, {"o", "t"}),
    ("taskrouter.currentTime > 0800", {("taskrouter", "currentTime")}, {"taskrouter"}),
])
def test_key_paths_and_roots(text, paths, roots):
    expr = parse(text)
    assert expr.key_paths() == paths
    assert expr.roots() == roots


def test_expression_object():
    text = "type == 'ticket'"
    expr = parse(text)
    assert isinstance(expr, Expression)
    assert expr.text == text
    assert text in repr(expr)
    assert not hasattr(expr, "__dict__")
    assert parse_cached(text) is parse_cached(text)


def test_custom_mapping_root_and_tuples():
    class Attrs(Mapping):
        def __init__(self, data):
            self._data = data

        def __getitem__(self, key):
            return self._data[key]

        def __iter__(self):
            return iter(self._data)

        def __len__(self):
            return len(self._data)

    root = Attrs({"task": Attrs({"skills": ("a", "b"), "level": 2})})
    assert evaluate("task.skills HAS 'b' AND task.level == 2", root) is True
    assert evaluate("task.skills[1] == 'b'", root) is True
    assert evaluate("task.missing == null", root) is True
    assert evaluate("task.level IN task.skills", root) is False


def test_non_mapping_root_resolves_to_null():
    expr = parse("a == null AND b != 1")
    assert expr.evaluate({}) is True
    assert expr.evaluate(None) is True
    assert expr.evaluate(["a"]) is True


def test_same_expression_evaluates_many_roots():
    expr = parse("worker.level >= 3 AND worker.skills HAS 'support'")
    workers = [{"worker": {"level": i % 5, "skills": ["support"] if i % 2 else []}} for i in range(100)]
    matched = [i for i, w in enumerate(workers) if expr.evaluate(w)]
    assert matched == [i for i in range(100) if i % 5 >= 3 and i % 2]


# --- order_by --------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("worker.level DESC", [OrderClause(("worker", "level"), True)]),
    ("worker.level desc, worker.x ASC",
     [OrderClause(("worker", "level"), True), OrderClause(("worker", "x"), False)]),
    ("worker.level", [OrderClause(("worker", "level"), False)]),
    ("a.b[0] Desc", [OrderClause(("a", "b", 0), True)]),
    ("  a   ,b DESC ", [OrderClause(("a",), False), OrderClause(("b",), True)]),
])
def test_parse_order_by(text, expected):
    clauses = parse_order_by(text)
    assert clauses == expected
    assert all(isinstance(c, OrderClause) for c in clauses)
    assert clauses[0].path == expected[0].path and clauses[0].descending is expected[0].descending


@pytest.mark.parametrize("text", [
    "", " , ", "a,", ",a", "a DOWN", "a DESC DESC", "a.b.", "'a' DESC", "a DESC b", "1 ASC", "a; b",
    "AND DESC", "a[x] ASC",
])
def test_parse_order_by_errors(text):
    with pytest.raises(ExpressionError) as info:
        parse_order_by(text)
    assert isinstance(info.value.position, int)
    assert 0 <= info.value.position <= len(text)


# --- time variables --------------------------------------------------------------------------


def test_time_variables_fixed_datetime():
    assert time_variables(FIXED_NOW) == {"taskrouter": {
        "currentTime": 805, "currentHour": "08", "currentMin": "05", "dayOfWeek": "Wed"}}


def test_time_variables_naive_is_utc_and_aware_is_converted():
    assert time_variables(datetime(2024, 3, 10, 0, 0))["taskrouter"] == {
        "currentTime": 0, "currentHour": "00", "currentMin": "00", "dayOfWeek": "Sun"}
    plus_two = timezone(timedelta(hours=2))
    # 01:30 on Monday at UTC+2 is 23:30 on Sunday in UTC.
    assert time_variables(datetime(2024, 3, 11, 1, 30, tzinfo=plus_two))["taskrouter"] == {
        "currentTime": 2330, "currentHour": "23", "currentMin": "30", "dayOfWeek": "Sun"}


def test_time_variables_every_weekday():
    days = [time_variables(datetime(2024, 3, 4) + timedelta(days=i))["taskrouter"]["dayOfWeek"] for i in range(7)]
    assert days == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def test_time_variables_in_documented_expression():
    expr = parse("(taskrouter.dayOfWeek IN ['Mon', 'Tue', 'Wed'] AND taskrouter.currentTime > 800 "
                 "AND taskrouter.currentTime < 1730) OR (taskrouter.dayOfWeek = 'Sat')")
    assert expr.evaluate(time_variables(datetime(2024, 3, 6, 9, 0))) is True
    assert expr.evaluate(time_variables(datetime(2024, 3, 6, 7, 59))) is False
    assert expr.evaluate(time_variables(datetime(2024, 3, 9, 3, 0))) is True


# --- fuzz --------------------------------------------------------------------------------------

FUZZ_ALPHABET = [
    "a", "b.c", "x[0]", "y[1][2]", "task", ".", "1", "0800", "1.5", "'s'", '"d"', "'", '"', "\\",
    "==", "=", "!=", "!", ">", ">=", "<", "<=", ">-", "<-", "-", "IN", "in", "NOT", "HAS", "CONTAINS",
    "AND", "OR", "and", "or", "(", ")", "[", "]", ",", "true", "FALSE", "null", " ", " ", "$", "_",
    "@", "9" * 30,
]


def test_fuzz_parse_only_raises_expression_error():
    rng = random.Random(1234)
    root = {"a": 1, "b": {"c": [1, 2]}, "x": ["s", "d"], "y": [[0, [1, 2, 3]]], "task": {"a": 1}}
    parsed = failed = 0
    for _ in range(2000):
        parts = [rng.choice(FUZZ_ALPHABET) for _ in range(rng.randint(0, 12))]
        sep = rng.choice(["", " "])
        text = sep.join(parts)
        try:
            expr = parse(text)
        except ExpressionError as err:
            failed += 1
            assert isinstance(err.position, int)
            assert 0 <= err.position <= len(text)
            continue
        parsed += 1
        assert expr.evaluate(root) in (True, False)
        assert all(isinstance(p, tuple) and p for p in expr.key_paths())
    # Both outcomes must occur, or the generator is not exercising the parser.
    assert parsed > 20 and failed > 20
