"""A local, stateful emulator of Twilio TaskRouter (REST API v1)."""

__version__ = "0.1.0"
