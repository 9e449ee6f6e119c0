"""pytest plugin (registered by installing the package): TaskRouter emulator fixtures.

Fixtures
    ``taskrouter``         a fresh ``TaskRouterEmulator`` with ``mock()`` active for the whole test:
                           every ``twilio.rest.Client`` the test or the code under test creates talks
                           to it in-process.
    ``taskrouter_client``  a ``twilio.rest.Client`` wired to ``taskrouter``.
    ``taskrouter_server``  an ``EmulatorServer`` (``.url``, ``.client()``, ``.emulator``) for code that
                           needs a real URL; started once per session (per xdist worker), reset
                           before each test.
    ``taskrouter_blueprint`` the ``LoadResult`` of the blueprint loaded for this test.

While ``taskrouter`` is active, requests to Twilio hosts other than TaskRouter fail with
``RealTwilioBlocked`` (``guard=False`` or ``taskrouter_guard = false`` lets them through), and a
``responses`` mock the test starts (``@responses.activate``) has TaskRouter answered by the emulator.

Both targets (``--taskrouter-target=emulator|live``, default emulator; see "Live runs" below)
    ``taskrouter_client``  on the emulator as above; live, a client of the real TaskRouter.
    ``taskrouter_target``  an ``emulator.contract.Target``: ``client``, ``live``, ``create_workspace()``,
                           ``wait_for(fetch, until, within)``, ``wait_for_callback(event_type, within,
                           **fields)``, ``pass_time(seconds)``; the same meaning on both targets.
    ``taskrouter_workspace`` a workspace context (FIFO template; ``.instance`` is its resource):
                           a fresh one per test on the emulator, one uniquely named workspace per
                           run live, always deleted at the end.
    ``@pytest.mark.taskrouter_emulator_only(reason)``: a test that can only run on the emulator
    (it moves the clock by hours, reads the inbox...); reported as skipped live, as are tests using
    ``taskrouter``, ``taskrouter_server`` or ``taskrouter_blueprint``.

Live runs: ``--taskrouter-target=live`` (or ini ``taskrouter_target``) is refused at start-up with
a usage error unless ``TASKROUTER_LIVE=1`` and credentials (``TWILIO_ACCOUNT_SID`` with
``TWILIO_AUTH_TOKEN``, or ``TWILIO_API_KEY`` + ``TWILIO_API_SECRET``) are in the environment.
What a test creates through ``taskrouter_client`` / ``taskrouter_target`` is deleted after it.

Blueprints: ``@pytest.mark.taskrouter_blueprint("helpdesk")`` (a bundled name, a path, or a dict),
or ``@pytest.mark.parametrize("taskrouter", ["helpdesk", "contact_centre"], indirect=True)``
(also for ``taskrouter_server``), loads the blueprint before the test.

Settings, command line over ini over default: ``--taskrouter-start`` / ``taskrouter_start``
(default 2026-01-01T00:00:00Z), ``--taskrouter-clock`` / ``taskrouter_clock`` (manual),
``--taskrouter-seed`` / ``taskrouter_seed`` (default: each test's node id, so SIDs are
reproducible, differ between tests and do not depend on test order or xdist distribution),
``--taskrouter-strict-schema`` / ``taskrouter_strict_schema`` (off), ``taskrouter_guard`` (true),
``taskrouter_auth_token`` and ``taskrouter_credentials`` (``AccountSid=token`` lines: strict
authentication, and the tokens callbacks are signed with). One test can override any of them with
``@pytest.mark.taskrouter(seed=..., start=..., clock=..., strict_schema=..., guard=..., auth_token=...,
credentials={...}, app_time=True)``; ``taskrouter_app_time`` / ``app_time=True`` keeps the application's
now equal to the virtual clock (``TaskRouterEmulator.app_time``).

Faults: ``@pytest.mark.taskrouter_fault(status=429, path="/v1/Workspaces/*/Tasks", times=2)`` (the
options of ``taskrouter.faults.api``) or ``@pytest.mark.taskrouter_fault(callback="https://app.test/",
timeout=True)`` (those of ``taskrouter.faults.callback``), repeatable, for ``taskrouter`` and
``taskrouter_server``.

This module imports nothing heavy at load time: it is loaded into every pytest session of an
environment the package is installed in.
"""

from __future__ import annotations

import pytest

from .clock import MODES, parse_instant

DEFAULT_START = "2026-01-01T00:00:00Z"
DEFAULT_CLOCK = "manual"
OVERRIDES = ("seed", "start", "clock", "strict_schema", "guard", "auth_token", "credentials", "app_time")
TARGETS = ("emulator", "live")
# Fixtures that are the emulator itself: a test using one cannot run against the real service.
EMULATOR_FIXTURES = ("taskrouter", "taskrouter_server", "taskrouter_blueprint")
_BLUEPRINT_KEY = pytest.StashKey[dict]()
_NOTHING = object()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("taskrouter", "TaskRouter emulator")
    group.addoption("--taskrouter-start", dest="taskrouter_start", metavar="ISO8601", default=None,
                    help=f"virtual instant the taskrouter fixtures start at (default {DEFAULT_START})")
    group.addoption("--taskrouter-clock", dest="taskrouter_clock", choices=MODES, default=None,
                    help="clock mode of the taskrouter fixtures: manual (default) or real")
    group.addoption("--taskrouter-seed", dest="taskrouter_seed", metavar="SEED", default=None,
                    help="seed for SIDs in every taskrouter fixture (default: each test's node id)")
    group.addoption("--taskrouter-strict-schema", dest="taskrouter_strict_schema", action="store_true",
                    default=None, help="validate every emulator response against the official schema")
    group.addoption("--taskrouter-target", dest="taskrouter_target", choices=TARGETS, default=None,
                    help="what the taskrouter_client/taskrouter_target fixtures reach: the emulator (default) or "
                         "live, the real TaskRouter (needs TASKROUTER_LIVE=1 and credentials in the environment)")
    group.addoption("--taskrouter-shapes", dest="taskrouter_shapes", choices=("record", "compare"), default=None,
                    help="record (live): write the shape of every response and callback each test using "
                         "taskrouter_target received; compare (emulator): fail a test whose shapes differ from them")
    group.addoption("--taskrouter-shapes-dir", dest="taskrouter_shapes_dir", metavar="DIR", default=None,
                    help="where --taskrouter-shapes keeps them (default: fixtures/contract under the rootdir)")
    parser.addini("taskrouter_target", "emulator (default) or live", default=None)
    parser.addini("taskrouter_start", f"virtual start instant of the taskrouter fixtures (default {DEFAULT_START})",
                  default=None)
    parser.addini("taskrouter_clock", "clock mode of the taskrouter fixtures: manual or real", default=None)
    parser.addini("taskrouter_seed", "seed for SIDs in the taskrouter fixtures (default: each test's node id)",
                  default=None)
    parser.addini("taskrouter_strict_schema", "validate every emulator response against the official schema",
                  type="bool", default=False)
    parser.addini("taskrouter_guard", "stop requests to Twilio hosts other than TaskRouter during a test "
                                      "(default true)", type="bool", default=True)
    parser.addini("taskrouter_auth_token", "the auth token the emulator requires and signs callbacks with "
                                           "(default: any token is accepted)", default=None)
    parser.addini("taskrouter_app_time", "keep the application's now (datetime.now(), time.time()) equal to the "
                                         "virtual clock, through time-machine or freezegun", type="bool", default=False)
    parser.addini("taskrouter_credentials", "per-account auth tokens, one AccountSid=token a line; callbacks "
                                            "are signed with them", type="linelist", default=[])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "taskrouter_blueprint(blueprint): load a workspace blueprint (bundled name, path or dict) "
                   "into the taskrouter fixtures before the test")
    config.addinivalue_line(
        "markers", "taskrouter(seed=, start=, clock=, strict_schema=, guard=, auth_token=, credentials=, app_time=): "
                   "settings of this test's TaskRouter emulator")
    config.addinivalue_line(
        "markers", "taskrouter_fault(status=, code=, message=, latency=, method=, path=, account_sid=, times=; or "
                   "callback=URL_PREFIX, status=, body=, timeout=, times=): a fault of the test's TaskRouter emulator "
                   "(repeatable)")
    config.addinivalue_line(
        "markers", "taskrouter_emulator_only(reason): a test that runs only on the emulator; skipped when "
                   "--taskrouter-target=live")
    settings(config)  # a bad option is a usage error at start-up, not a failure in every test
    if target(config) == "live":
        from .contract.targets import LiveRefused, LiveSettings
        try:
            LiveSettings.from_environment()
        except LiveRefused as exc:
            raise pytest.UsageError(f"--taskrouter-target=live refused: {exc}") from None
    wanted = {"record": "live", "compare": "emulator"}.get(config.getoption("taskrouter_shapes") or "")
    if wanted is not None and target(config) != wanted:
        raise pytest.UsageError(f"--taskrouter-shapes={config.getoption('taskrouter_shapes')} needs "
                                f"--taskrouter-target={wanted}")


def _shapes_dir(config: pytest.Config):
    from pathlib import Path

    given = config.getoption("taskrouter_shapes_dir")
    return Path(given) if given else Path(config.rootpath) / "fixtures" / "contract"


def target(config: pytest.Config) -> str:
    """``emulator`` or ``live``: command line, then ini, then the emulator."""
    value = config.getoption("taskrouter_target") or config.getini("taskrouter_target") or "emulator"
    if value not in TARGETS:
        raise pytest.UsageError(f"taskrouter_target: must be one of {', '.join(TARGETS)}, not {value!r}")
    return value


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    if target(config) != "live":
        return
    for item in items:
        marker = item.get_closest_marker("taskrouter_emulator_only")
        if marker is not None:
            reason = marker.args[0] if marker.args else marker.kwargs.get("reason", "")
            item.add_marker(pytest.mark.skip(reason=f"emulator only{': ' + reason if reason else ''}"))
            continue
        used = [name for name in EMULATOR_FIXTURES if name in getattr(item, "fixturenames", ())]
        if used:
            item.add_marker(pytest.mark.skip(reason=f"emulator only: uses the {used[0]} fixture"))


def settings(config: pytest.Config) -> dict:
    """The session's emulator settings: command line, then ini, then the defaults."""

    def pick(name: str):
        value = config.getoption(name)
        if value is None:
            value = config.getini(name)
        return value if value not in ("", None) else None

    start = pick("taskrouter_start") or DEFAULT_START
    try:
        parse_instant(start)
    except ValueError:
        raise pytest.UsageError(f"taskrouter_start: not an ISO 8601 instant: {start!r}") from None
    clock = pick("taskrouter_clock") or DEFAULT_CLOCK
    if clock not in MODES:
        raise pytest.UsageError(f"taskrouter_clock: must be one of {', '.join(MODES)}, not {clock!r}")
    strict = config.getoption("taskrouter_strict_schema")
    if strict is None:
        strict = config.getini("taskrouter_strict_schema")
    credentials = {}
    for line in config.getini("taskrouter_credentials"):
        account_sid, sep, token = line.partition("=")
        if not sep or not account_sid.strip() or not token.strip():
            raise pytest.UsageError(f"taskrouter_credentials: expected AccountSid=token, not {line!r}")
        credentials[account_sid.strip()] = token.strip()
    return {"start": start, "clock": clock, "seed": pick("taskrouter_seed"), "strict_schema": bool(strict),
            "guard": bool(config.getini("taskrouter_guard")), "auth_token": config.getini("taskrouter_auth_token") or None,
            "credentials": credentials or None, "app_time": bool(config.getini("taskrouter_app_time"))}


def pytest_report_header(config: pytest.Config) -> str:
    s = settings(config)
    seed = s["seed"] if s["seed"] is not None else "per test (node id)"
    if target(config) == "live":
        return "taskrouter-emulator: target=live (the real TaskRouter; one workspace per run, deleted at the end)"
    return f"taskrouter-emulator: clock={s['clock']} start={s['start']} seed={seed} strict_schema={s['strict_schema']}"


def _test_settings(request: pytest.FixtureRequest) -> dict:
    """Session settings with this test's defaults and ``@pytest.mark.taskrouter`` overrides."""
    values = settings(request.config)
    if values["seed"] is None:
        values["seed"] = request.node.nodeid
    marker = request.node.get_closest_marker("taskrouter")
    if marker is not None:
        if marker.args:
            raise pytest.UsageError("@pytest.mark.taskrouter takes keyword arguments only: "
                                    + ", ".join(OVERRIDES))
        unknown = set(marker.kwargs) - set(OVERRIDES)
        if unknown:
            raise pytest.UsageError(f"@pytest.mark.taskrouter: unknown setting(s) {', '.join(sorted(unknown))}; "
                                    f"known: {', '.join(OVERRIDES)}")
        values.update(marker.kwargs)
    return values


def _blueprint_for(request: pytest.FixtureRequest):
    """The blueprint this test asks for: an indirect parameter, else the closest marker."""
    param = getattr(request, "param", _NOTHING)
    if param is not _NOTHING and param is not None:
        return param
    marker = request.node.get_closest_marker("taskrouter_blueprint")
    if marker is None:
        return None
    if len(marker.args) != 1 or marker.kwargs:
        raise pytest.UsageError("@pytest.mark.taskrouter_blueprint takes one blueprint: a bundled name, a path "
                                "or a dict")
    return marker.args[0]


def _add_faults(request: pytest.FixtureRequest, emulator) -> None:
    """The faults ``@pytest.mark.taskrouter_fault(...)`` markers ask for (closest last, so a
    test's own marker is used before its class's or module's)."""
    from .faults import from_marker

    for marker in reversed(list(request.node.iter_markers("taskrouter_fault"))):
        if marker.args:
            raise pytest.UsageError("@pytest.mark.taskrouter_fault takes keyword arguments only: the options of "
                                    "taskrouter.faults.api(...), or callback=URL_PREFIX and those of "
                                    "taskrouter.faults.callback(...)")
        try:
            from_marker(emulator.faults, marker.kwargs)
        except (TypeError, ValueError) as exc:
            raise pytest.UsageError(f"@pytest.mark.taskrouter_fault{marker.kwargs}: {exc}") from None


def _app_time(emulator, on: bool):
    """The bridge from the virtual clock to the application's now, when asked for."""
    import contextlib

    if not on:
        return contextlib.nullcontext()
    try:
        return emulator.app_time().start()
    except (RuntimeError, ValueError) as exc:
        raise pytest.UsageError(f"taskrouter app_time: {exc}") from None


def _load(request: pytest.FixtureRequest, emulator, fixture: str) -> None:
    blueprint = _blueprint_for(request)
    if blueprint is not None:
        request.node.stash.setdefault(_BLUEPRINT_KEY, {})[fixture] = emulator.load(blueprint)


@pytest.fixture
def taskrouter(request: pytest.FixtureRequest):
    """A fresh TaskRouter emulator (manual clock by default) with ``mock()`` active for the test.

    Every ``twilio.rest.Client`` created during the test, by the test or by the code under test,
    reaches it in-process. Move time with ``taskrouter.clock.advance(seconds)``.
    """
    from .facade import TaskRouterEmulator

    values = _test_settings(request)
    app_time = values.pop("app_time")
    emulator = TaskRouterEmulator(**values)
    try:
        with emulator.mock():
            _load(request, emulator, "taskrouter")
            _add_faults(request, emulator)
            with _app_time(emulator, app_time):
                yield emulator
    finally:
        emulator.close()


@pytest.fixture
def taskrouter_client(request: pytest.FixtureRequest):
    """A ``twilio.rest.Client`` for the ``taskrouter`` emulator's default account; with
    ``--taskrouter-target=live``, a client of the real TaskRouter (what the test creates with it
    is deleted afterwards)."""
    return request.getfixturevalue("taskrouter_target").client


@pytest.fixture(scope="session")
def _taskrouter_live_target():
    from .contract.targets import LiveSettings, LiveTarget

    live = LiveTarget(LiveSettings.from_environment())
    try:
        yield live
    finally:
        live.close()


@pytest.fixture
def taskrouter_target(request: pytest.FixtureRequest):
    """The target of this run, with helpers that mean the same on the emulator and live:
    ``client``, ``live``, ``wait_for(fetch, until, within=30)`` (the virtual clock moves on the
    emulator; bounded polling live), ``wait_for_callback(event_type, within=30, **fields)``,
    ``pass_time(seconds)``, ``create_workspace()``. Live, what the test creates is deleted after it.
    With ``--taskrouter-shapes``, the shapes of what the test received are recorded or compared."""
    from .contract.targets import EmulatorTarget

    live = target(request.config) == "live"
    if live:
        chosen = request.getfixturevalue("_taskrouter_live_target")
        chosen.on_unavailable = pytest.skip  # a callback wait without a callback URL skips the test
    else:
        # responses are watched only when their shapes are compared
        chosen = EmulatorTarget(request.getfixturevalue("taskrouter"),
                                watch=bool(request.config.getoption("taskrouter_shapes")))
    created, callbacks = len(chosen.recorder.created), len(chosen.callbacks())
    chosen.recorder.reset_shapes()
    try:
        yield chosen
        mode = request.config.getoption("taskrouter_shapes")
        if mode:
            from .contract.per_test import finish
            differences = finish(chosen, mode, _shapes_dir(request.config), request.node.nodeid, callbacks)
            if differences:
                pytest.fail("the shapes differ from those recorded from the real TaskRouter:\n" + differences,
                            pytrace=False)
    finally:
        if live:
            problems = chosen.cleanup(created)
            if problems:
                import warnings
                warnings.warn("taskrouter live clean-up: " + "; ".join(problems), stacklevel=1)


@pytest.fixture(scope="session")
def _taskrouter_live_workspace(_taskrouter_live_target):
    live = _taskrouter_live_target
    # the run's set-up, not part of the test that happens to come first: neither recorded nor
    # remembered for that test's clean-up; it is deleted here, at the end of the run
    with live.recorder.pause():
        context, instance = live.create_workspace()
    context.instance = instance
    try:
        yield context
    finally:
        context.delete()


@pytest.fixture
def taskrouter_workspace(request: pytest.FixtureRequest, taskrouter_target):
    """A workspace (FIFO template, event callbacks to the target's receiver; ``.instance`` is the
    resource): fresh per test on the emulator, one per run live (uniquely named, always deleted)."""
    if taskrouter_target.live:
        return request.getfixturevalue("_taskrouter_live_workspace")
    with taskrouter_target.recorder.pause():  # as live, where it is made once for the run
        context, instance = taskrouter_target.create_workspace()
    context.instance = instance
    return context


@pytest.fixture(scope="session")
def _taskrouter_session_server(pytestconfig: pytest.Config):
    from .facade import TaskRouterEmulator

    values = settings(pytestconfig)
    values.pop("app_time")  # per test, in taskrouter_server
    emulator = TaskRouterEmulator(**values)
    server = emulator.serve(port=0)
    try:
        yield server
    finally:
        emulator.close()


@pytest.fixture
def taskrouter_server(request: pytest.FixtureRequest, _taskrouter_session_server):
    """A running TaskRouter emulator server (``.url``, ``.client()``, ``.emulator``).

    One server per session (per xdist worker, on a free port), reset before each test to this
    test's settings, so tests never see each other's state.
    """
    server = _taskrouter_session_server
    values = _test_settings(request)
    server.emulator.reset(seed=values["seed"], start=values["start"], clock=values["clock"])
    server.emulator.strict_schema = values["strict_schema"]
    server.emulator.set_credentials(values["credentials"], values["auth_token"])
    _load(request, server.emulator, "taskrouter_server")
    _add_faults(request, server.emulator)
    with _app_time(server.emulator, values["app_time"]):
        yield server


@pytest.fixture
def taskrouter_blueprint(request: pytest.FixtureRequest):
    """The ``LoadResult`` (``workspace_sid``, ``queues``, ``workers``, ...) of the blueprint loaded
    for this test by ``@pytest.mark.taskrouter_blueprint`` or an indirect parameter: into
    ``taskrouter``, or into ``taskrouter_server`` when the test uses only the server."""
    names = request.fixturenames
    fixture = "taskrouter_server" if ("taskrouter_server" in names and "taskrouter" not in names
                                      and "taskrouter_client" not in names) else "taskrouter"
    request.getfixturevalue(fixture)
    result = request.node.stash.get(_BLUEPRINT_KEY, {}).get(fixture)
    if result is None:
        raise pytest.UsageError("taskrouter_blueprint: no blueprint for this test; mark it with "
                                "@pytest.mark.taskrouter_blueprint(...) or parametrize the taskrouter fixture "
                                "indirectly")
    return result
