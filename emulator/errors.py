"""Every error the emulator can answer with, and their messages.

One module of error types, each carrying the Twilio ``code`` and the HTTP ``status``, with
message templates copied from the real service where known (https://www.twilio.com/docs/usage/twilios-response
and the TaskRouter pages cited beside each template). The HTTP layer renders any of them into
Twilio's JSON error body; the engine raises them and never builds a response itself.
"""

from __future__ import annotations

MORE_INFO = "https://www.twilio.com/docs/errors/{code}"


class TwilioError(Exception):
    """Base of every error the emulator answers with: a Twilio ``code``, HTTP ``status`` and message."""

    status = 400
    code = 20001

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None,
                 details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.details = details

    def to_dict(self) -> dict:
        """The JSON error body Twilio sends: ``code``, ``message``, ``more_info``, ``status``."""
        body = {
            "code": self.code,
            "message": self.message,
            "more_info": MORE_INFO.format(code=self.code),
            "status": self.status,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


class InvalidParameter(TwilioError):
    """400 / 20001: a parameter is missing, malformed, or names something that cannot be used."""

    status, code = 400, 20001


class IllegalState(TwilioError):
    """400 / 20001: the request is well formed but the resource is not in a state that allows it.

    The real service answers illegal lifecycle changes with HTTP 400 (observed messages in
    ``TASK_CANNOT_CANCEL`` and friends below); the numeric code is not shown in any public source,
    so the emulator uses 20001 like every other 400 of TaskRouter.
    """

    status, code = 400, 20001


class NotFound(TwilioError):
    """404 / 20404: unknown route, unknown SID, or a resource of another account."""

    status, code = 404, 20404


class Unauthorized(TwilioError):
    """401 / 20003: no or wrong credentials."""

    status, code = 401, 20003


class Forbidden(TwilioError):
    """403 / 20403: authenticated, but these credentials may not do this (another account's
    data, or a control action reserved for the admin token)."""

    status, code = 403, 20403


class MethodNotAllowed(TwilioError):
    """405 / 20004: the path exists but not with this HTTP method."""

    status, code = 405, 20004


class PreconditionFailed(TwilioError):
    """412: ``If-Match`` did not match the resource's current ``ETag``.

    https://www.twilio.com/docs/usage/mutation-and-conflict-resolution documents the status only;
    the code is inferred as 20412 (Twilio's codes mirror the HTTP status for generic errors).
    """

    status, code = 412, 20412


class Gone(TwilioError):
    """410: the reservation can no longer be accepted (rescinded)."""

    status, code = 410, 20410


class NotImplementedByEmulator(TwilioError):
    """501: an operation of the official spec that this version of the emulator does not serve yet.

    The real service never answers 501; this says clearly that the emulator lacks the capability
    instead of returning canned data. Code 20501 is not a Twilio code; it mirrors the status.
    """

    status, code = 501, 20501


class AccessTokenRefused(TwilioError):
    """401: an Access Token (Worker SDK) that is malformed, wrongly signed, expired, not yet valid
    or issued by an unknown API key. Codes 20101 (invalid), 20104 (expired), 20105 (not yet valid):
    https://www.twilio.com/docs/api/errors/20101"""

    status, code = 401, 20101


class ExpressionError(InvalidParameter):
    """400 / 20001: an expression (TargetWorkers, workflow filter, list filter) does not parse.

    ``position`` is the 0-based character offset of the problem in ``expression``.
    """

    def __init__(self, reason: str, expression: str = "", position: int | None = None) -> None:
        self.reason = reason
        self.expression = expression
        self.position = position
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"Invalid expression {expression!r}: {reason}{where}")


# --- message templates -------------------------------------------------------------------------
# Observed texts are marked [O] with their source; the rest follow the same pattern [I].

# 404 text of the 2010 API style, also used for TaskRouter paths [I].
RESOURCE_NOT_FOUND = "The requested resource {path} was not found"
# [O] twilio-python raises this for missing credentials; newer services say the same.
AUTH_REQUIRED = "Authentication Error - No credentials provided"
AUTH_INVALID = "Authentication Error - invalid username"
METHOD_NOT_ALLOWED = "Method not allowed: {method} {path}"
NOT_SERVED = "{operation} is not served by this version of the emulator"
NO_INBOX = "this emulator was started without webhooks, so it keeps no inbox"
NO_REQUEST_LOG = "this emulator app keeps no request log"
INVALID_FAULT = "Invalid fault: {reason}"
CALLBACK_FAULT_URL = "is not the start of an http or https URL, so no callback could match it"
INVALID_BOOLEAN = "Invalid {name}: must be true or false"
INVALID_METHOD = "Invalid {name}: must be one of {methods}"
CONTROL_UNKNOWN_PARAMETER = "Unknown parameter {name}: {path} takes {known}"
# The control API (/_emulator) in strict mode [I]
CONTROL_ADMIN_ONLY = "{action} acts on every account: only the admin token set at start may do it"
CONTROL_OTHER_ACCOUNT = "These credentials act on account {own} only, not {other}"
CONTROL_FOREIGN_HOST = "Host {host} is not this server's; the control API answers only its own host names"

MISSING_PARAMETER = "Missing required parameter {name} in the post body"
INVALID_PARAMETER = "Invalid {name}: {reason}"
INVALID_SID = "Value '{value}' provided for {name} has an invalid format"
INVALID_JSON = "{name} must be a valid JSON object: {reason}"
ATTRIBUTES_TOO_LONG = "{name} exceeds the maximum length of {limit} characters"
INVALID_URL = "Invalid {name}: '{value}' {reason}"
EVENTS_FILTER_UNKNOWN = "Invalid EventsFilter: unknown event type(s) {types}"
NOT_UTF8 = "Invalid request: parameters must be UTF-8 encoded ({where} is not)"
PAGE_TOKEN_OTHER_LIST = "Invalid PageToken: the token belongs to another list than {key}"
# https://www.twilio.com/docs/taskrouter/limits (the numbers); the message follows ACTIVITY_LIMIT [I]
RESOURCE_LIMIT = "Maximum number of {kind} ({limit}) reached for {owner}"
# https://www.twilio.com/docs/taskrouter/api/task: IgnoreCapacity applies to a Worker RoutingTarget only
IGNORE_CAPACITY_WITHOUT_WORKER = "IgnoreCapacity can only be set when RoutingTarget is a Worker SID"
# https://www.twilio.com/docs/taskrouter/api/task: Reason "is required only if the Task is canceled or completed"
REASON_WITHOUT_STATUS = "Reason can only be given with a change of AssignmentStatus"

# [O] nash-md/twilio-contact-center#23
QUEUE_NAME_TAKEN = "Queue named {name} already exists for workspace {workspace_sid} for account {account_sid}"
WORKER_NAME_TAKEN = "Worker named {name} already exists for workspace {workspace_sid} for account {account_sid}"
ACTIVITY_NAME_TAKEN = "Activity named {name} already exists for workspace {workspace_sid} for account {account_sid}"
WORKFLOW_NAME_TAKEN = "Workflow named {name} already exists for workspace {workspace_sid} for account {account_sid}"
TASK_CHANNEL_NAME_TAKEN = ("TaskChannel with unique name {name} already exists for workspace {workspace_sid} "
                           "for account {account_sid}")
ACTIVITY_LIMIT = "Maximum number of Activities ({limit}) reached for workspace {workspace_sid}"
ACTIVITY_AVAILABLE_IMMUTABLE = "Available cannot be changed after an Activity is created"
ACTIVITY_IN_USE = "Cannot delete Activity {sid} because it is {reason}"
QUEUE_IN_USE = "Cannot delete TaskQueue {sid} because {reason}"
WORKFLOW_IN_USE = "Cannot delete Workflow {sid} because it still controls pending or reserved Tasks"
TASK_CHANNEL_IN_USE = "Cannot delete TaskChannel {sid} because {reason}"

# [O] twilio-labs/plugin-queued-callbacks-and-voicemail#35
TASK_CANNOT_CANCEL = ("Cannot cancel task {task_sid} in workspace {workspace_sid} for account {account_sid} "
                      "because it is not pending or reserved.")
# [O] lehel-twilio/plugin-dialpad#31
TASK_CHANNEL_LOCKED = "Task {task_sid} is {status}: its TaskChannel cannot change while a worker holds it"
TASK_CANNOT_WRAP = ("Cannot wrap up a task {task_sid} in workspace {workspace_sid} for account {account_sid} "
                    "because it's not currently assigned")
TASK_CANNOT_COMPLETE = ("Cannot complete task {task_sid} in workspace {workspace_sid} for account {account_sid} "
                        "because it is not assigned or wrapping.")
TASK_ETAG_MISMATCH = "The If-Match header {given} does not match the current version {current} of Task {task_sid}"
TASK_ATTRIBUTES_AND_STATUS = ("Updating AssignmentStatus and Attributes in one request is not supported; "
                              "send two requests")
# https://www.twilio.com/docs/api/errors/40131, 40140, 40146, 40147 (the debugger's texts; the REST
# answer carries the same code)
DEQUEUE_NO_TO = ("Missing or Invalid 'to' parameter - Dequeue Instruction: no DequeueTo and no contact_uri in the "
                 "worker's attributes")
DEQUEUE_NO_CALL_SID = "Failed to issue Dequeue instruction due to missing 'call_sid' property"
SUPERVISE_STATE = ("Failed to issue Supervise Instruction due to invalid Reservation state: the Reservation cannot be "
                   "pending or canceled (status {status})")
SUPERVISE_CONTACT_URI = "Failed to issue Supervise instruction due to missing or invalid 'contact_uri' property"
RESERVATION_NOT_PENDING = "Reservation {sid} is not pending (status {status})"
RESERVATION_RESCINDED = "Reservation {sid} has been rescinded"
RESERVATION_CANNOT_WRAP = "Reservation {sid} is not accepted (status {status}); it cannot wrap up"
RESERVATION_CANNOT_COMPLETE = "Reservation {sid} is not accepted or wrapping (status {status}); it cannot complete"
# https://www.twilio.com/docs/taskrouter/api/reservations: "(Deprecated) ... Not valid in multi-tasking workspaces."
POST_WORK_ACTIVITY_MULTITASKING = "PostWorkActivitySid is not valid in multi-tasking workspaces"
WORKFLOW_REQUIRED = "WorkflowSid is required when the workspace has {count} Workflows"
# [O] TRJS test/voice/outbound/spec/Task.js
ROUTING_TARGET_INVALID = ("Value '{value}' provided for RoutingTarget has an invalid format. "
                          "WorkspaceSid: {workspace_sid}, AccountSid: {account_sid}")

# Statistics (https://www.twilio.com/docs/taskrouter/api/taskqueue-statistics and siblings) [I]
STATISTICS_MINUTES = "Invalid Minutes: {value} is not between 1 and {maximum} (statistics cover the last 30 days)"
STATISTICS_TOO_OLD = "Invalid {name}: statistics are only kept for the past {days} days"
STATISTICS_END_BEFORE_START = "Invalid EndDate: the end of the interval is before its start (StartDate or Minutes)"
SPLIT_BY_WAIT_TIME_INVALID = ("Invalid SplitByWaitTime: '{value}' must be a comma-separated list of whole "
                              "numbers of seconds, such as 20,60")
# "If the number of TaskQueueSIDs in the request body is less than 1 or exceeds 50, an HTTP 400 error is returned"
BULK_QUEUE_COUNT = "Invalid QueueSids: between 1 and {maximum} TaskQueue SIDs are required, {count} given"

# Access Tokens and the Event Bridge of the Worker SDK [I]; the SDK shows ``message`` to its caller.
TOKEN_MISSING = "Access Token is missing"
TOKEN_INVALID = "Invalid Access Token"
TOKEN_UNKNOWN_KEY = "Invalid Access Token issuer: API key {key_sid} is not known to this emulator"
TOKEN_WRONG_ACCOUNT = "Invalid Access Token subject: API key {key_sid} does not belong to account {account_sid}"
TOKEN_SIGNATURE = "Invalid Access Token signature"
TOKEN_EXPIRED = "Access Token expired or expiration date invalid"
TOKEN_NOT_YET_VALID = "Access Token not yet valid"
TOKEN_NO_GRANT = "Access Token has no TaskRouter grant"
TOKEN_BAD_GRANT = "Access Token's TaskRouter grant has an invalid {name}"
TOKEN_ROLE = "Access Token's TaskRouter role {role!r} is not one of worker, supervisor, admin"
TOKEN_WORKSPACE_GONE = "Access Token's workspace {workspace_sid} does not exist in account {account_sid}"
TOKEN_WORKER_GONE = "Access Token's worker {worker_sid} does not exist in workspace {workspace_sid}"
TOKEN_OTHER_WORKSPACE = "Access Token grants workspace {granted}, not {requested}"
TOKEN_NO_WORKER = "Access Token names no worker: the event stream needs a worker_sid in its TaskRouter grant"
ROLE_OTHER_WORKER = "A worker token may change only its own worker ({worker_sid}), not {target}"
ROLE_WORKSPACE_CHANGE = ("A worker token ({worker_sid}) may not change the workspace's configuration ({method} {url});"
                         " use a supervisor or admin token")
BRIDGE_BAD_BODY = "Invalid Event Bridge request: {reason}"
BRIDGE_NOT_DRAWN = "The Event Bridge does not serve {resource} resources"
BRIDGE_NO_ROUTE = "The requested resource {url} was not found"
BRIDGE_VOICE = "Voice calls are not placed by this emulator ({method} {url})"
BRIDGE_NEEDS_SERVER = "The Event Bridge websocket needs the emulator's HTTP server (emu.serve())"
# [O] the Worker SDK's own specs quote this text, space before the period included
TRANSFER_NOT_INITIATED = "Transfer {sid} is already {status} . Cannot cancel transfer."
TRANSFER_TARGET = ("Invalid To: {to} is neither a TaskQueue of workspace {workspace_sid} nor a Worker of it other "
                   "than the one transferring")
TRANSFER_RESERVATION = "Reservation {sid} is not an accepted reservation of Worker {worker_sid} on Task {task_sid}"
TRANSFER_UNDER_WAY = "Task {task_sid} already has a transfer under way ({transfer_sid})"
