"""``taskrouter-emulator`` / ``python -m emulator``: start the standalone server."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import signal
import sys
import threading
from urllib.parse import urlsplit

from . import __version__
from .clock import MODES, REAL, parse_instant
from .collector import tune_garbage_collector
from .facade import DEFAULT_ACCOUNT_SID, TaskRouterEmulator
from .http import Credentials
from .server import DEFAULT_HOST, DEFAULT_PORT, READ_TIMEOUT, Server
from .webhooks.delivery import BACKLOG, DESTINATION_BACKLOG, WORKERS, WORKERS_PER_DESTINATION

# --- option checks: a bad value stops the start with a message and exit code 2 (argparse) -----
INBOX_MAX_RECORDS = 10_000  # about 25 MB of records
INBOX_MAX_AGE = 86_400.0


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: use 1 to 65535, or 0 for a free one")
    return port


def _seconds(minimum: float, *, inclusive: bool = True):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
        if not math.isfinite(value) or value < minimum or (not inclusive and value == minimum):
            bound = f"at least {minimum:g}" if inclusive else f"more than {minimum:g}"
            raise argparse.ArgumentTypeError(f"{text} seconds: must be {bound}")
        return value

    return parse


def _count(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value}: must be at least {minimum}")
        return value

    return parse


def _url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"not an http(s) URL with a host: {text!r}")
    return text


def _state_path(text: str) -> str:
    if not text or text.endswith(os.sep):
        raise argparse.ArgumentTypeError(f"not a file path: {text!r}")
    path = os.path.abspath(text)
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"{text}: the folder {folder} does not exist")
    if os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{text}: is a folder, not a file")
    if not os.access(folder, os.W_OK | os.X_OK) or (os.path.exists(path) and not os.access(path, os.R_OK | os.W_OK)):
        raise argparse.ArgumentTypeError(f"{text}: cannot be written")
    return text


def _readable_file(text: str) -> str:
    if not os.path.isfile(text) or not os.access(text, os.R_OK):
        raise argparse.ArgumentTypeError(f"{text}: no such readable file")
    return text


def _log_level(text: str) -> int:
    level = logging.getLevelName(text.upper())  # the level's number, or text when unknown
    if not isinstance(level, int):
        raise argparse.ArgumentTypeError(f"not a logging level: {text!r} (DEBUG, INFO, WARNING, ERROR)")
    return level


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskrouter-emulator",
        description="A local, stateful emulator of Twilio TaskRouter (REST API v1).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="start the HTTP server",
        description="Serve TaskRouter v1 under /v1 and the control API under /_emulator. Point a client at it "
                    "with client.taskrouter.base_url = 'http://HOST:PORT'.")
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    serve.add_argument("--port", type=_port, default=DEFAULT_PORT,
                       help=f"port to listen on; 0 picks a free one (default {DEFAULT_PORT})")
    serve.add_argument("--clock", choices=MODES, default=REAL,
                       help="real: time follows the wall clock and timers fire by themselves (default); "
                            "manual: time moves only through POST /_emulator/clock/advance")
    serve.add_argument("--start", metavar="ISO8601",
                       help="the virtual instant to start at, e.g. 2026-01-01T00:00:00Z (default: now)")
    serve.add_argument("--seed", help="seed for SIDs, so a run can be replayed identically")
    serve.add_argument("--auth-token", metavar="TOKEN",
                       help="strict auth: every account must authenticate with this token "
                            "(default: any well-formed AccountSid with any token)")
    serve.add_argument("--admin-token", metavar="TOKEN",
                       help="the control API's owner: this token (Authorization: Bearer TOKEN, or HTTP Basic "
                            "user 'admin') acts on every account under /_emulator. In strict mode an account's "
                            "own credentials act on that account only")
    serve.add_argument("--allowed-host", metavar="NAME", action="append", default=[],
                       help="a host name the control API answers besides the loopback names, --host and "
                            "--public-url's host (e.g. a docker-compose service name); repeatable")
    serve.add_argument("--credentials", metavar="FILE", type=_readable_file,
                       help='strict auth from a JSON file: {"accounts": {"AC..": "token"}, '
                            '"api_keys": {"SK..": {"secret": "..", "account_sid": "AC.."}}}')
    serve.add_argument("--public-url", metavar="URL", type=_url,
                       help="base URL to put in url, links and paging URLs (default: the host each request came to)")
    serve.add_argument("--strict-schema", action="store_true",
                       help="validate every response against the official schema and fail loudly on a mismatch")
    serve.add_argument("--webhooks", choices=("http", "capture"), default="http",
                       help="http: POST event and assignment callbacks to their URLs (default); capture: only "
                            "record them, readable at GET /_emulator/webhooks")
    serve.add_argument("--blueprint", metavar="NAME_OR_FILE", action="append", default=[],
                       help="load a workspace blueprint at start-up: a bundled name "
                            "(helpdesk, contact_centre, chat_voice_team) or a JSON file; repeatable. "
                            "The SIDs by friendly name are printed as JSON")
    serve.add_argument("--blueprint-account", metavar="ACCOUNT_SID", default=DEFAULT_ACCOUNT_SID,
                       help=f"the account blueprints are loaded into (default {DEFAULT_ACCOUNT_SID})")
    serve.add_argument("--state-file", metavar="PATH", type=_state_path,
                       help="keep the whole state in this file, durably: every acknowledged write is in its journal "
                            "(PATH.journal.N) before the answer leaves, and a restart after a crash restores it all. "
                            "Loaded on start when it exists")
    serve.add_argument("--state-sync", choices=("always", "everysec"), default="always",
                       help="always: the journal is fsynced before each answer (a power cut loses nothing; the "
                            "default); everysec: written before each answer, fsynced once a second (a killed process "
                            "loses nothing, a power cut up to a second)")
    serve.add_argument("--state-interval", type=_seconds(0), default=300.0, metavar="SECONDS",
                       help="real seconds between compactions of the journal into the snapshot (default 300; 0: "
                            "only at start and every 20,000 changes)")
    serve.add_argument("--callback-workers", type=_count(1), default=WORKERS, metavar="N",
                       help=f"real HTTP callbacks delivered at once, overall (default {WORKERS})")
    serve.add_argument("--callback-workers-per-host", type=_count(1), default=WORKERS_PER_DESTINATION, metavar="N",
                       help="... and to one receiver (scheme, host and port), so a slow receiver holds up only its "
                            f"own callbacks (default {WORKERS_PER_DESTINATION}); one task's callbacks stay in order")
    serve.add_argument("--callback-backlog", type=_count(1), default=BACKLOG, metavar="N",
                       help=f"callbacks that may wait for delivery, overall (default {BACKLOG})")
    serve.add_argument("--callback-backlog-per-host", type=_count(1), default=DESTINATION_BACKLOG, metavar="N",
                       help=f"... and for one receiver (default {DESTINATION_BACKLOG}). A callback past either "
                            "limit is not sent: it stays in the inbox with the reason, and an assignment callback "
                            "counts as unanswered (fallback URL, then the reservation is canceled)")
    serve.add_argument("--inbox-max-records", type=_count(1), default=INBOX_MAX_RECORDS, metavar="N",
                       help=f"keep at most N callback records in the inbox, dropping the oldest (default {INBOX_MAX_RECORDS})")
    serve.add_argument("--inbox-max-age", type=_seconds(0, inclusive=False), default=INBOX_MAX_AGE, metavar="SECONDS",
                       help="drop callback records older than this many seconds of virtual time "
                            f"(default {INBOX_MAX_AGE:g}: a day)")
    serve.add_argument("--read-timeout", type=_seconds(0, inclusive=False), default=READ_TIMEOUT, metavar="SECONDS",
                       help="seconds a client may stay silent mid-request or idle on a kept-alive connection "
                            f"(default {READ_TIMEOUT:g})")
    serve.add_argument("--log-level", type=_log_level, default=logging.WARNING, metavar="LEVEL",
                       help="logging level (default WARNING); INFO writes one line per API request (method, path, "
                            "status, error code, account, virtual time, injected fault), DEBUG adds the bodies")
    serve.add_argument("--access-log", action="store_true", help="also werkzeug's access-log line per request")
    from . import nodeenv
    nodeenv.add_parser(commands)
    parity = commands.add_parser(
        "parity", help="compare the emulator's response and callback shapes with recorded real ones",
        description="Run the contract scenarios on the emulator and print, per operation and event type, whether "
                    "its shape matches the one recorded from the real TaskRouter, and when that was recorded. "
                    "Same as python -m emulator.contract parity.")
    parity.add_argument("--fixtures", metavar="DIR", help="the recorded shapes (default: fixtures/contract)")
    parity.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "env":
        from . import nodeenv
        return nodeenv.run(args)
    if args.command == "parity":
        from .contract.cli import main as contract_main
        return contract_main((["--fixtures", args.fixtures] if args.fixtures else []) + ["parity"]
                             + (["--json"] if args.json else []))
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # one line per request at INFO comes from the request log (emulator.requests); werkzeug's
    # access log would repeat it, so it is only on when asked for
    access_log = args.access_log
    if access_log:
        logging.getLogger("werkzeug").setLevel(logging.INFO)
    try:
        start = parse_instant(args.start) if args.start else None
    except ValueError:
        print(f"--start: not an ISO 8601 instant: {args.start}", file=sys.stderr)
        return 2
    if args.credentials:
        try:
            credentials = Credentials.from_file(args.credentials, auth_token=args.auth_token,
                                                admin_token=args.admin_token)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            print(f"--credentials {args.credentials}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
    else:
        credentials = Credentials(auth_token=args.auth_token, admin_token=args.admin_token)
    limits = {"workers": args.callback_workers, "per_destination": args.callback_workers_per_host,
              "backlog": args.callback_backlog, "destination_backlog": args.callback_backlog_per_host}
    # the one assembly of an emulator (as in-process and in the pytest plugin)
    emulator = TaskRouterEmulator(clock=args.clock, start=start, seed=args.seed, strict_schema=args.strict_schema,
                                  credentials=credentials, public_url=args.public_url, webhooks=args.webhooks,
                                  guard=False, callback_limits=limits,
                                  inbox_retention={"max_records": args.inbox_max_records,
                                                   "max_age": args.inbox_max_age})
    clock, backend, webhooks, app = emulator.clock, emulator.backend, emulator.webhooks, emulator.app
    journal = None
    if args.state_file:
        from .journal import Journal, JournalError
        journal = Journal(args.state_file, backend, webhooks, app, sync=args.state_sync, interval=args.state_interval)
        try:
            restored = journal.load()
        except (OSError, JournalError) as exc:
            print(f"--state-file {args.state_file}: {exc}", file=sys.stderr)
            clock.stop()
            return 2
        if restored:
            # The saved state already holds what the blueprints created the first time.
            print(f"state restored from {args.state_file} (clock at {clock.now().isoformat()})", flush=True)
            args.blueprint = []
    if args.blueprint:
        from .blueprints import BlueprintError, load_blueprint
        for blueprint in args.blueprint:
            try:
                loaded = load_blueprint(backend, args.blueprint_account, blueprint)
            except BlueprintError as exc:
                print(f"--blueprint {blueprint}: {exc}", file=sys.stderr)
                clock.stop()
                return 2
            print(json.dumps({"blueprint": blueprint, **dataclasses.asdict(loaded)}), flush=True)
    if journal is not None:
        try:
            journal.start()  # a first snapshot now: a file that cannot be written stops the start
        except (OSError, JournalError) as exc:
            print(f"--state-file {args.state_file}: {exc}", file=sys.stderr)
            clock.stop()
            return 2
    try:
        server = Server(app, args.host, args.port, log_requests=access_log, read_timeout=args.read_timeout,
                        public_hosts=args.allowed_host)
    except OSError as exc:
        print(f"--host {args.host} --port {args.port}: {exc}", file=sys.stderr)
        if journal is not None:
            journal.close()
        clock.stop()
        return 2
    # SIGTERM (docker stop, a supervisor) ends the server as Ctrl-C does, from here on: a signal
    # during the start-up below stops the server as quietly as one while it serves.
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        if main_thread:
            # the process is the server's: the collector is tuned for it (emulator.collector says why)
            # (a server run from a thread shares a process that is not ours)
            tune_garbage_collector()
        print(f"TaskRouter emulator {__version__} serving on {server.url} (clock: {clock.mode}); "
              f"dashboard at {server.url}/", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        # Quick whatever the receivers do: the journal already holds every acknowledged write,
        # and callbacks still in flight are sent again after a restart.
        server.stop()
        webhooks.close(timeout=0.5)
        if journal is not None:
            journal.close()
        clock.stop()
    return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
