"""A reservation update as one typed value: what the REST API's ReservationStatus / Instruction
update asks for, and what an assignment callback's answer asks for, alike.

The REST handler builds it from its parsed parameters (``from_params``); the webhooks build it
from an answer's instruction, written as the REST parameters of the same meaning (``from_form``).
``check`` holds the rules every update obeys, whoever sent it
(https://www.twilio.com/docs/taskrouter/api/reservations).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .. import errors

# Instruction call timeouts: "Default is 60 seconds, the maximum is 999 seconds".
INSTRUCTION_TIMEOUT_MAX = 999
RECORD_VALUES = ("record-from-answer", "do-not-record")
DEQUEUE_STATUS_CALLBACK_EVENTS = ("initiated", "ringing", "answered", "completed")
INSTRUCTIONS = ("dequeue", "call", "redirect", "conference", "supervise")
SUPERVISOR_MODES = ("monitor", "whisper", "barge")
TRUE_WORDS, FALSE_WORDS = ("true", "1", "yes"), ("false", "0", "no")


@dataclass(frozen=True)
class ReservationUpdate:
    """The parameters of a reservation update the engine acts on; the others (the many call and
    conference options an instruction passes to Programmable Voice) ride in ``options``."""

    reservation_status: str | None = None
    instruction: str | None = None
    worker_activity_sid: str | None = None
    post_work_activity_sid: str | None = None
    timeout: int | None = None  # conference ring timeout
    dequeue_from: str | None = None
    dequeue_to: str | None = None
    dequeue_timeout: int | None = None
    dequeue_record: str | None = None
    dequeue_status_callback_event: tuple[str, ...] | None = None
    dequeue_post_work_activity_sid: str | None = None
    call_from: str | None = None
    call_url: str | None = None
    call_timeout: int | None = None
    call_record: str | None = None
    call_accept: bool | None = None
    redirect_call_sid: str | None = None
    redirect_url: str | None = None
    redirect_accept: bool | None = None
    supervisor: str | None = None
    supervisor_mode: str | None = None
    if_match: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ReservationUpdate:
        """From the REST layer's parsed parameters (snake_case names, typed values)."""
        values: dict[str, Any] = {}
        options: dict[str, Any] = {}
        for name, value in params.items():
            if name in _FIELDS:
                values[name] = tuple(value) if isinstance(value, list) else value
            else:
                options[name] = value
        return cls(**values, options=options)

    @classmethod
    def from_form(cls, form: Iterable[tuple[str, str]]) -> ReservationUpdate:
        """From REST parameter names and text values (``[("Instruction", "call"), ("CallAccept",
        "true"), ...]``): how an assignment callback's answer is read. A value of the wrong type
        is refused as the REST API refuses it."""
        values: dict[str, Any] = {}
        options: dict[str, Any] = {}
        lists: dict[str, list[str]] = {}
        for rest_name, raw in form:
            name = _snake(rest_name)
            kind = _FIELDS.get(name)
            if kind is None:
                options[name] = raw
            elif kind == "list":
                lists.setdefault(name, []).extend(part for part in raw.split(",") if part)
            else:
                values[name] = _typed(rest_name, kind, raw)
        values.update({name: tuple(items) for name, items in lists.items()})
        return cls(**values, options=options)

    @property
    def activity_sids(self) -> tuple[tuple[str, str | None], ...]:
        """The activities the update names, with their REST names."""
        return (("WorkerActivitySid", self.worker_activity_sid),
                ("PostWorkActivitySid", self.post_work_activity_sid),
                ("DequeuePostWorkActivitySid", self.dequeue_post_work_activity_sid))

    def check_shape(self) -> None:
        """The rules on the parameters alone (before the reservation is looked at)."""
        if self.reservation_status is not None and self.instruction is not None:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="Instruction", reason="cannot be combined with ReservationStatus"))
        if self.reservation_status is None and self.instruction is None and self.worker_activity_sid is not None:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="WorkerActivitySid", reason="is only used with ReservationStatus or Instruction"))

    def check_instruction(self, multi_task_enabled: bool) -> tuple[bool, str | None]:
        """An instruction's required parameters and call options; ``(accepts, post-work activity)``."""
        instruction = (self.instruction or "").lower()
        if instruction == "dequeue":
            # DequeueFrom is optional: "it defaults for tasks created by <Enqueue>" (TaskRouter.js
            # docs); the destination and the task's call_sid are checked against the task and worker
            self._check_call_options(("DequeueTimeout", self.dequeue_timeout), ("DequeueRecord", self.dequeue_record),
                                     ("DequeueStatusCallbackEvent", self.dequeue_status_callback_event))
            return True, self.dequeue_post_work_activity_sid
        if instruction == "call":
            self._require(("CallFrom", self.call_from), ("CallUrl", self.call_url))
            self._check_call_options(("CallTimeout", self.call_timeout), ("CallRecord", self.call_record))
            return bool(self.call_accept), None
        if instruction == "redirect":
            self._require(("RedirectCallSid", self.redirect_call_sid), ("RedirectUrl", self.redirect_url))
            return bool(self.redirect_accept), None
        if instruction == "conference":
            self._check_call_options(("Timeout", self.timeout))
            if self.post_work_activity_sid is not None and multi_task_enabled:
                # "(Deprecated) ... Not valid in multi-tasking workspaces."
                raise errors.InvalidParameter(errors.POST_WORK_ACTIVITY_MULTITASKING)
            return True, self.post_work_activity_sid
        if instruction == "supervise":
            self._require(("Supervisor", self.supervisor))
            if self.supervisor_mode is not None and self.supervisor_mode not in SUPERVISOR_MODES:
                raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                    name="SupervisorMode", reason=f"must be one of {', '.join(SUPERVISOR_MODES)}"))
            return False, None
        raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
            name="Instruction", reason=f"'{instruction}' is not one of {', '.join(INSTRUCTIONS)}"))

    @staticmethod
    def _require(*pairs: tuple[str, Any]) -> None:
        for name, value in pairs:
            if not value:
                raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                    name=name, reason="is required for this Instruction"))

    @staticmethod
    def _check_call_options(timeout: tuple[str, int | None], record: tuple[str, str | None] | None = None,
                            events: tuple[str, tuple[str, ...] | None] | None = None) -> None:
        """Ring timeout 1..999 s, record mode and status callback events of an instruction's call."""
        name, value = timeout
        if value is not None and not (isinstance(value, int) and 1 <= value <= INSTRUCTION_TIMEOUT_MAX):
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name=name, reason=f"must be between 1 and {INSTRUCTION_TIMEOUT_MAX} seconds"))
        if record is not None and record[1] is not None and record[1] not in RECORD_VALUES:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name=record[0], reason=f"must be one of {', '.join(RECORD_VALUES)}"))
        if events is not None:
            for event in events[1] or ():
                if event not in DEQUEUE_STATUS_CALLBACK_EVENTS:
                    raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                        name=events[0], reason=f"'{event}' is not one of {', '.join(DEQUEUE_STATUS_CALLBACK_EVENTS)}"))


def _field_kinds() -> dict[str, str]:
    kinds = {}
    for f in fields(ReservationUpdate):
        if f.name == "options":
            continue
        text = str(f.type)
        kinds[f.name] = ("list" if "tuple" in text else "int" if "int" in text else "bool" if "bool" in text
                         else "str")
    return kinds


_FIELDS = _field_kinds()


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _typed(name: str, kind: str, raw: str) -> Any:
    if kind == "int":
        text = raw.strip()
        if not re.fullmatch(r"[+-]?\d{1,19}", text):
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(name=name, reason=f"'{raw}' is not an integer"))
        return int(text)
    if kind == "bool":
        word = raw.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
            name=name, reason=f"'{raw}' is not a boolean (true or false)"))
    return raw
