"""The HTTP layer: parse the request, call the engine, render the answer."""

from .app import Credentials, create_app

__all__ = ["Credentials", "create_app"]
