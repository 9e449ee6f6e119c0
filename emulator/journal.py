"""Durable state for the standalone server: a snapshot plus an append-only journal of what changed.

With ``--state-file PATH`` every change the server acknowledges is first written to a journal
(``PATH.journal.<generation>``), one JSON line per applied operation, flushed before the answer
leaves, as Redis's append-only file does:

- ``http``: an API or control write that succeeded (method, path, query, form, the account),
  with the virtual instant it was applied at;
- ``done``: a callback delivered over HTTP finished, with its result, and for an assignment
  callback the answer that was applied to the reservation.

From time to time the whole state is compacted into the snapshot (``PATH``): its copy is taken
under the engine lock, the journal moves on to a new generation, and the document is written and
renamed into place outside the lock; then the older generation goes. On start the snapshot is
restored and the journal replayed through the same public paths (the WSGI app, the webhooks'
answer rule) with the clock moved to each entry's instant, so the result is the state the
acknowledged writes made. The snapshot document is the emulator's own (``snapshot.take``); this
module never looks inside it.

Sync modes: ``always`` (written and fsynced before the answer leaves: a crash of the process or
of the machine loses no acknowledged write) and ``everysec`` (written before the answer leaves,
fsynced once a second: a killed process loses nothing, a machine that loses power up to a second).

In real-clock mode timers due before a write are fired first, under the same lock hold, so a
replay that moves the clock to the write's instant fires the same timers in the same order. What a
timer stamps is stamped, in a replay, at its due instant; the original may have stamped it up to
the delay with which the real-mode clock fired it later.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import threading
import time
from typing import IO
from urllib.parse import urlencode

from . import snapshot
from .clock import MANUAL, REAL, parse_instant

log = logging.getLogger("emulator.journal")

ALWAYS = "always"
EVERYSEC = "everysec"
SYNC_MODES = (ALWAYS, EVERYSEC)
STATE_FORMAT = "taskrouter-emulator-state"
REPLAY_KEY = "emulator.replay"  # WSGI environ key: the account (or "*") a replayed request acts as
ALL = "*"
# what a ``done`` entry keeps of a callback's answer (``webhooks.delivery.Result``)
ANSWER_FIELDS = ("attempts", "status", "headers", "body", "error", "timed_out", "failure")
COMPACT_ENTRIES = 20_000  # compact after this many entries, whatever the interval


class JournalError(Exception):
    """The state file or its journal cannot be read or written."""


class _Switch:
    """A marker in the write buffer: later lines go to generation ``generation``."""

    def __init__(self, generation: int) -> None:
        self.generation = generation


def _iso(instant) -> str:
    return instant.isoformat()


def _well_formed(entry) -> bool:
    """Whether a journal line has the fields ``_apply`` reads, of the types ``_append`` writes."""
    if not isinstance(entry, dict) or not isinstance(entry.get("t"), (str, type(None))):
        return False
    if entry.get("k") == "http":
        return (all(isinstance(entry.get(key), str) for key in ("m", "p", "a"))
                and all(isinstance(entry.get(key), list) and all(isinstance(pair, list) and len(pair) == 2
                                                                 and all(isinstance(v, str) for v in pair)
                                                                 for pair in entry[key])
                        for key in ("q", "f"))
                and isinstance(entry.get("h", {}), dict) and isinstance(entry.get("tok", ""), str))
    if entry.get("k") == "done":
        answer = entry.get("ans") or {}
        return (type(entry.get("id")) is int and isinstance(entry.get("f"), dict)
                and isinstance(answer, dict) and set(answer) <= set(ANSWER_FIELDS))
    return False


class Journal:
    """The server's durable state at ``path`` for ``backend``, ``webhooks`` and ``app``."""

    def __init__(self, path: str, backend, webhooks, app, *, sync: str = ALWAYS, interval: float = 60.0,
                 compact_entries: int = COMPACT_ENTRIES) -> None:
        if sync not in SYNC_MODES:
            raise ValueError(f"sync must be one of {SYNC_MODES}, not {sync!r}")
        self.path = os.path.abspath(path)
        self.backend = backend
        self.webhooks = webhooks
        self.app = app
        webhooks.journal = self
        app.config["journal"] = self
        self.sync = sync
        self.interval = interval
        self.compact_entries = compact_entries
        self.generation = 0
        self.replaying = False
        self._buffer: list = []  # lines (str) and _Switch markers, in the order of the changes
        self._buffer_lock = threading.Lock()
        self._io_lock = threading.Lock()
        self._seq = 0  # entries recorded
        self._written = 0  # entries written to the file
        self._synced = 0  # entries fsynced
        self._since_compaction = 0
        self._file: IO[str] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._compacting = threading.Lock()
        self._instant: str | None = None  # the instant of the change being made (real-clock mode)

    # --- files ---------------------------------------------------------------------------------
    def _segment(self, generation: int) -> str:
        return f"{self.path}.journal.{generation}"

    def _segments(self) -> list[tuple[int, str]]:
        folder, base = os.path.split(self.path)
        prefix = base + ".journal."
        found = []
        for name in os.listdir(folder):
            if name.startswith(prefix) and name[len(prefix):].isdigit():
                found.append((int(name[len(prefix):]), os.path.join(folder, name)))
        return sorted(found)

    @property
    def _temporary(self) -> str:
        return self.path + ".tmp"

    def _empty(self) -> bool:
        try:
            with open(self.path, "rb") as fh:
                return not fh.read(4096).strip()
        except OSError:
            return False  # reported by the read that follows

    # --- start ---------------------------------------------------------------------------------
    def load(self) -> bool:
        """Restore the snapshot and replay the journal when there is one; whether there was.
        Raises ``JournalError``."""
        with contextlib.suppress(OSError):
            os.unlink(self._temporary)  # left by a crash during a save
        restored = False
        if os.path.exists(self.path) and self._empty():
            # An empty file is a fresh start: what `touch PATH` or `mktemp` leave, and never what
            # a save leaves (snapshots are renamed into place whole). With journal files beside it
            # something else emptied it, and starting over would drop acknowledged writes.
            if self._segments():
                raise JournalError(f"{self.path} is empty but its journal ({self._segment(self._segments()[-1][0])}) "
                                   "is beside it: refusing to start over; remove both to start afresh")
        elif os.path.exists(self.path):
            restored = True
            try:
                with open(self.path, encoding="utf-8") as fh:
                    document = json.load(fh)
            except (OSError, ValueError) as exc:
                raise JournalError(f"cannot read {self.path}: {exc}") from None
            if isinstance(document, dict) and document.get("format") == STATE_FORMAT:
                generation = document.get("generation", 0)
                if type(generation) is not int or generation < 0:
                    raise JournalError(f"cannot read {self.path}: \"generation\" must be a non-negative integer")
                self.generation = generation
                document = document.get("snapshot")
                segments = [(g, p) for g, p in self._segments() if g >= self.generation]
            else:
                segments = []  # a plain snapshot put there by hand: no journal belongs to it
            try:
                snapshot.restore(self.backend, document, self.webhooks)
            except snapshot.SnapshotError as exc:
                raise JournalError(str(exc)) from None
            try:
                replayed = self._replay(segments)
            except UnicodeDecodeError as exc:
                raise JournalError(f"cannot read the journal of {self.path}: {exc}") from None
            if replayed:
                log.warning("replayed %d journal entries from %s", replayed, self.path)
        return restored

    def start(self) -> None:
        """Write a fresh snapshot (so a file that cannot be written is an error now, not at the
        first save) and start journaling."""
        try:
            self._compact()
        except OSError as exc:
            raise JournalError(f"cannot write {self.path}: {exc}") from None
        # once a second: fsync (everysec) and write what callbacks finished; compact when due
        self._thread = threading.Thread(target=self._run, name="taskrouter-emulator-journal", daemon=True)
        self._thread.start()

    def _replay(self, segments: list[tuple[int, str]]) -> int:
        clock = self.backend.clock
        mode = clock.mode
        count = 0
        client = self.app.test_client()
        self.replaying = True
        try:
            clock.set_mode(MANUAL)  # time moves only to each entry's instant
            with self.webhooks.paused():
                for _generation, path in segments:
                    with open(path, encoding="utf-8") as fh:
                        for number, line in enumerate(fh, 1):
                            if not line.endswith("\n"):
                                break  # the last line was being written when the process died
                            try:
                                entry = json.loads(line)
                            except ValueError:
                                log.warning("%s line %d is not JSON: skipped", path, number)
                                continue
                            if not _well_formed(entry):
                                log.warning("%s line %d is not a journal entry: skipped", path, number)
                                continue
                            self._apply(client, entry)
                            count += 1
                            mode = entry.get("mode", mode)
        finally:
            self.replaying = False
            clock.set_mode(mode)
        self.webhooks.resume_undelivered()
        return count

    def _apply(self, client, entry: dict) -> None:
        clock = self.backend.clock
        at = entry.get("t")
        if at is not None:
            instant = parse_instant(at)
            if instant > clock.now():
                clock.set(instant)
        if entry["k"] == "http":
            token = entry.get("tok")
            credentials = self.app.config.get("credentials")
            if token is not None and credentials is not None:
                credentials.last_tokens[entry["a"]] = token
            answer = client.open(entry["p"], method=entry["m"], query_string=urlencode([tuple(p) for p in entry["q"]]),
                                 data=urlencode([tuple(p) for p in entry["f"]]), content_type="application/x-www-form-urlencoded",
                                 headers=entry.get("h") or {}, environ_overrides={REPLAY_KEY: entry["a"]})
            if answer.status_code >= 400:
                log.warning("replaying %s %s gave %s: %s", entry["m"], entry["p"], answer.status_code,
                            answer.get_data(as_text=True)[:300])
        elif entry["k"] == "done":
            self.webhooks.replay_done(entry["id"], entry["f"], entry.get("ans"))

    # --- recording (under the engine lock) -----------------------------------------------------
    def catch_up(self) -> None:
        """Before a change in real-clock mode, fire the timers already due (under the lock the
        caller holds), so the change's instant says which timers came before it."""
        self._instant = None
        if self.replaying:
            return
        clock = self.backend.clock
        if clock.mode == REAL:
            self._instant = _iso(clock.fire_due())

    def _entry_time(self) -> str | None:
        return self._instant

    def record_request(self, request, account: str | None, token: str | None = None) -> int | None:
        """Journal the write ``request`` just applied; returns the number to ``commit``."""
        if self.replaying:
            return None
        entry = {"k": "http", "t": self._entry_time(), "m": request.method, "p": request.path,
                 "q": list(request.args.items(multi=True)), "f": list(request.form.items(multi=True)),
                 "a": account or ALL, "mode": self.backend.clock.mode}
        if_match = request.headers.get("If-Match")
        if if_match is not None:
            entry["h"] = {"If-Match": if_match}
        if token is not None:
            entry["tok"] = token
        return self._append(entry)

    def record_done(self, record_id: int, fields: dict, answer) -> None:
        """Journal a callback's outcome (and the answer applied, if any)."""
        if self.replaying:
            return
        entry: dict = {"k": "done", "id": record_id, "f": fields}
        if answer is not None:
            entry["t"] = self._entry_time()
            entry["ans"] = {name: getattr(answer, name) for name in ANSWER_FIELDS}
        self._append(entry)

    def _append(self, entry: dict) -> int:
        line = json.dumps(entry, separators=(",", ":"), default=_jsonable) + "\n"
        with self._buffer_lock:
            self._buffer.append(line)
            self._seq += 1
            self._since_compaction += 1
            return self._seq

    # --- writing (outside the engine lock) ----------------------------------------------------
    def commit(self, seq: int | None = None) -> None:
        """Make entries up to ``seq`` (all by default) durable as the sync mode promises: written
        (``everysec``) or written and fsynced (``always``). Concurrent callers share one write."""
        with self._buffer_lock:
            target = self._seq if seq is None else seq
        fsync = self.sync == ALWAYS
        if self._written >= target and (not fsync or self._synced >= target):
            return
        with self._io_lock:
            if self._written < target:
                self._write_buffer()
            if fsync and self._synced < target:
                self._fsync()

    def _write_buffer(self) -> None:
        with self._buffer_lock:
            items, self._buffer = self._buffer, []
            seq = self._seq
        chunk: list[str] = []
        for item in items:
            if isinstance(item, _Switch):
                self._file_write(chunk)
                chunk = []
                self._fsync()
                self._open_segment(item.generation)
            else:
                chunk.append(item)
        self._file_write(chunk)
        self._written = seq

    def _file_write(self, lines: list[str]) -> None:
        if lines and self._file is not None:
            self._file.write("".join(lines))
            self._file.flush()

    def _fsync(self) -> None:
        if self._file is not None:
            os.fsync(self._file.fileno())
        self._synced = self._written

    def _open_segment(self, generation: int) -> None:
        if self._file is not None:
            self._file.close()
        self._file = _private_open(self._segment(generation), "a")
        _fsync_folder(self.path)

    # --- compaction ------------------------------------------------------------------------------
    def compact(self) -> None:
        """Write the whole state to the snapshot and start a new journal generation; the engine
        lock is held only while the state is copied."""
        self._compact()

    def _compact(self) -> None:
        backend = self.backend
        # Lock order: the engine lock, then the compaction lock (a restore holds the first while
        # it asks for the second).
        with backend.lock:
            self._compacting.acquire()
            try:
                with self.webhooks.as_is():
                    document = snapshot.take(backend, self.webhooks)
                generation = self.generation + 1
                with self._buffer_lock:
                    self._buffer.append(_Switch(generation))
                    self._since_compaction = 0
            except BaseException:
                self._compacting.release()
                raise
        try:
            with self._io_lock:
                self._write_buffer()  # the old generation is complete and on disk; the new one is open
            state = {"format": STATE_FORMAT, "generation": generation, "snapshot": document}
            try:
                with _private_open(self._temporary, "w") as fh:
                    json.dump(state, fh, separators=(",", ":"))
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(self._temporary, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(self._temporary)
                raise
            _fsync_folder(self.path)
            self.generation = generation
            for old, path in self._segments():
                if old < generation:
                    with contextlib.suppress(OSError):
                        os.unlink(path)
        finally:
            self._compacting.release()

    def rebase(self) -> None:
        """After the state was replaced (a restore): compact now, holding the caller's lock, so
        no write lands in a journal generation that does not lead to the new state."""
        self._compact()

    # --- background -----------------------------------------------------------------------------
    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(1.0):
            try:
                with self._io_lock:
                    self._write_buffer()
                    self._fsync()
                due = self.interval > 0 and time.monotonic() - last >= self.interval
                if due or self._since_compaction >= self.compact_entries:
                    self.compact()
                    last = time.monotonic()
            except OSError:  # a full disk must not kill the server; the next round tries again
                log.exception("could not write the state file %s", self.path)

    def close(self) -> None:
        """Write and fsync what is recorded and stop (no compaction: exiting stays quick; the
        next start compacts after its replay)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        with self._io_lock:
            try:
                self._write_buffer()
                self._fsync()
            except OSError:
                log.exception("could not write the journal of %s", self.path)
            if self._file is not None:
                self._file.close()
                self._file = None


def _private_open(path: str, mode: str):
    """Open a state, journal or temporary file readable by its owner only: the journal holds the
    auth tokens that requests were made with, and the snapshot the whole state."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)  # a file left by an older version may be world-readable
        return os.fdopen(fd, mode, encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def _fsync_folder(path: str) -> None:
    """Make a rename or a new file in ``path``'s folder durable (where the OS allows it)."""
    try:
        fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _jsonable(value):
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)
