"""Assignment callbacks: what TaskRouter posts when it reserves a worker, and how the answer
drives the reservation (https://www.twilio.com/docs/taskrouter/handle-assignment-callbacks).

- No answer within 5 s, a non-2xx status, or a body whose ``Content-Type`` is not JSON (debugger
  warning 40000): the callback failed, and ``FallbackAssignmentCallbackUrl`` is tried; when
  that fails too (or there is none) the reservation is canceled.
- An empty body or ``{}``: no instruction; the reservation stays pending for a REST or SDK
  answer (or its timeout).
- ``{"instruction": ...}``: ``accept``, ``reject`` (``activity_sid``), ``dequeue``, ``call``,
  ``redirect``, ``conference``, applied exactly as the same update through the REST API.
- [I] A body that is not a JSON object (40001), an object without ``instruction`` (40005), an
  unknown instruction (55555) or one the reservation update refuses (missing ``from``, invalid
  ``activity_sid`` (40100), reservation no longer pending (40114/40123/40135/40136)) is a debugger
  alert on the real service and changes nothing: the reservation stays as it was. The record's
  ``outcome`` names the alert.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .delivery import Result

# How long TaskRouter waits for the answer.
ANSWER_TIMEOUT = 5.0

INSTRUCTIONS = ("accept", "reject", "dequeue", "call", "redirect", "conference")

# JSON keys of each instruction -> the REST parameter of the same meaning
# (https://www.twilio.com/docs/taskrouter/api/reservations).
_KEYS = {
    "reject": {"activity_sid": "WorkerActivitySid"},
    "dequeue": {"to": "DequeueTo", "from": "DequeueFrom", "post_work_activity_sid": "DequeuePostWorkActivitySid",
                "record": "DequeueRecord", "timeout": "DequeueTimeout",
                "status_callback_url": "DequeueStatusCallbackUrl",
                "status_callback_events": "DequeueStatusCallbackEvent"},
    "call": {"to": "CallTo", "from": "CallFrom", "url": "CallUrl", "accept": "CallAccept", "record": "CallRecord",
             "timeout": "CallTimeout", "status_callback_url": "CallStatusCallbackUrl"},
    "redirect": {"call_sid": "RedirectCallSid", "url": "RedirectUrl", "accept": "RedirectAccept"},
}


@dataclass
class Verdict:
    """What an answer means: ``failed`` (go to the fallback), ``none`` (leave the reservation
    pending), ``alert`` (ignored, with the debugger code in ``note``) or ``instruction`` (apply
    ``form``, the REST parameters of the same update)."""

    kind: str
    note: str
    form: list | None = None


def _pascal(key: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in key.split("_"))


def _form_value(value) -> list[str]:
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, list):
        return [v for item in value for v in _form_value(item)]
    if value is None:
        return []
    return [str(value)]


def instruction_form(answer: dict) -> list[tuple[str, str]] | None:
    """The REST update parameters equivalent to an instruction answer; None if unknown."""
    instruction = str(answer.get("instruction", "")).strip().lower()
    if instruction not in INSTRUCTIONS:
        return None
    if instruction == "accept":
        return [("ReservationStatus", "accepted")]
    form = [("ReservationStatus", "rejected")] if instruction == "reject" else [("Instruction", instruction)]
    mapping = _KEYS.get(instruction)
    for key, value in answer.items():
        if key == "instruction":
            continue
        # conference passes the Participant API's parameters through under their own names
        name = mapping.get(key) if mapping is not None else _pascal(key)
        if name is None or name.lower() in ("instruction", "reservationstatus"):
            continue  # a key this instruction does not use is ignored; none may change the instruction
        form.extend((name, v) for v in _form_value(value))
    return form


def judge(result: Result) -> Verdict:
    """Read a delivery's result as TaskRouter reads an assignment callback's answer."""
    if not result.answered:
        if result.timed_out:
            return Verdict("failed", f"no answer within {ANSWER_TIMEOUT:g} s ({result.error})")
        return Verdict("failed", f"no answer ({result.error})" if result.error else "no answer")
    if result.status is None or not 200 <= result.status < 300:
        return Verdict("failed", f"answered HTTP {result.status}")
    body = (result.body or "").strip()
    if not body:
        return Verdict("none", "no instruction: the reservation stays pending")
    content_type = next((v for k, v in result.headers.items() if k.lower() == "content-type"), "")
    if "json" not in content_type.lower():
        return Verdict("failed", f"40000: the answer's Content-Type is {content_type or 'missing'}, not application/json")
    try:
        answer = json.loads(body)
    except ValueError:
        return Verdict("alert", "40001: the answer is not valid JSON; the reservation stays pending")
    if not isinstance(answer, dict):
        return Verdict("alert", "40001: the answer is not a JSON object; the reservation stays pending")
    if not answer:
        return Verdict("none", "no instruction: the reservation stays pending")
    if "instruction" not in answer:
        return Verdict("alert", "40005: the answer has no instruction; the reservation stays pending")
    form = instruction_form(answer)
    if form is None:
        return Verdict("alert", f"55555: invalid instruction {answer.get('instruction')!r}; "
                                "the reservation stays pending")
    return Verdict("instruction", f"instruction {str(answer['instruction']).strip().lower()}", form)


def callback_params(event_params: dict) -> dict:
    """The assignment callback's form fields, from the ``reservation.created`` event's data
    (https://www.twilio.com/docs/taskrouter/handle-assignment-callbacks)."""
    keys = ("Timestamp", "AccountSid", "WorkspaceSid", "WorkflowSid", "TaskQueueSid", "WorkerSid",
            "WorkerAttributes", "TaskSid", "TaskAttributes", "TaskAge", "TaskPriority", "ReservationSid")
    return {key: event_params.get(key, "") for key in keys}
