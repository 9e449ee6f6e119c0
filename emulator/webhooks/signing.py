"""``X-Twilio-Signature``: how Twilio signs every webhook it sends.

The signature is the Base64 of an HMAC-SHA1, keyed with the account's auth token, of the full URL
followed by each POST parameter's name and value, parameters sorted by name
(https://www.twilio.com/docs/usage/webhooks/webhooks-security). A receiver checks it with
``twilio.request_validator.RequestValidator(auth_token).validate(url, params, signature)``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping

SIGNATURE_HEADER = "X-Twilio-Signature"


def _values(params: Mapping | Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    items = params.items() if isinstance(params, Mapping) else params
    values: dict[str, set[str]] = {}
    for name, value in items:
        for v in (value if isinstance(value, (list, tuple)) else [value]):
            values.setdefault(str(name), set()).add(str(v))
    return values


def signature(auth_token: str, url: str, params: Mapping | Iterable[tuple[str, str]] = ()) -> str:
    """The ``X-Twilio-Signature`` of a POST of ``params`` (form fields) to ``url``.

    Names are sorted; a name given several values contributes each distinct value, sorted, as
    Twilio's own validators rebuild it."""
    payload = url
    values = _values(params)
    for name in sorted(values):
        for value in sorted(values[name]):
            payload += name + value
    digest = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")
