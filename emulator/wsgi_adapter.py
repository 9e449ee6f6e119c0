"""A ``requests`` transport adapter that hands requests to a WSGI application in-process.

Mounted on a ``requests.Session`` (such as the one inside twilio's ``TwilioHttpClient``), it lets
the real client talk to the emulator with no socket while everything the client does to build
the request (auth, encoding, headers, paging URLs) stays exactly as on the wire.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from werkzeug.test import Client as WerkzeugClient


class WSGIAdapter(BaseAdapter):
    """Send every request the session routes here to ``app`` and return its answer."""

    def __init__(self, app) -> None:
        super().__init__()
        self.client = WerkzeugClient(app)

    def send(self, request: requests.PreparedRequest, stream=False, timeout=None, verify=True, cert=None,
             proxies=None) -> requests.Response:
        parts = urlsplit(request.url)
        body = request.body.encode("utf-8") if isinstance(request.body, str) else request.body
        headers = [(k, v) for k, v in request.headers.items() if k.lower() != "content-length"]
        answer = self.client.open(parts.path, base_url=f"{parts.scheme}://{parts.netloc}",
                                  query_string=parts.query, method=request.method, headers=headers,
                                  data=body or b"")
        response = requests.Response()
        response.status_code = answer.status_code
        response.headers = CaseInsensitiveDict(dict(answer.headers))
        response._content = answer.get_data()
        response.encoding = "utf-8"
        response.url = request.url
        response.request = request
        response.reason = answer.status.partition(" ")[2]
        return response

    def close(self) -> None:
        pass
