"""Outbound callbacks: event callbacks, assignment callbacks and their fallbacks.

outbox (``Webhooks``: events -> signed records, flush, answers) -> delivery (capture / Python
handler / WSGI app / real HTTP, chosen per URL prefix) -> inbox (every record, readable from
Python and over ``/_emulator/webhooks``).
"""

from .delivery import Answer
from .inbox import ASSIGNMENT, EVENT, FALLBACK_ASSIGNMENT, KINDS, Inbox, WebhookRecord
from .outbox import DEFAULT_AUTH_TOKEN, Webhooks
from .signing import SIGNATURE_HEADER, signature

__all__ = ["ASSIGNMENT", "Answer", "DEFAULT_AUTH_TOKEN", "EVENT", "FALLBACK_ASSIGNMENT", "Inbox", "KINDS",
           "SIGNATURE_HEADER", "WebhookRecord", "Webhooks", "signature"]
