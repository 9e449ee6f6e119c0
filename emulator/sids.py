"""The emulator's one source of randomness: SIDs (two-letter prefix + 32 lowercase hex digits).

Seeded, a run produces the same SIDs every time; unseeded, it draws its seed from the OS.
"""

from __future__ import annotations

import base64
import random
import re

SID_PATTERN = re.compile(r"^[A-Z]{2}[0-9a-f]{32}$")
# Twilio prints hex in either case in its docs; it accepts both on input.
SID_INPUT = re.compile(r"^[A-Za-z]{2}[0-9a-fA-F]{32}$")


class SidSource:
    """Makes SIDs and any other random value the emulator needs, from one seedable generator."""

    def __init__(self, seed: int | str | None = None) -> None:
        self.seed = seed
        self._random = random.Random(seed)

    def sid(self, prefix: str) -> str:
        return prefix + "%032x" % self._random.getrandbits(128)

    def secret(self, nbytes: int = 24) -> str:
        """``nbytes`` random bytes, URL-safe base64 (as ``secrets.token_urlsafe`` words them)."""
        raw = self._random.getrandbits(8 * nbytes).to_bytes(nbytes, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def reseed(self, seed: int | str | None = None) -> None:
        self.seed = seed
        self._random = random.Random(seed)

    def getstate(self):
        return self._random.getstate()

    def setstate(self, state) -> None:
        self._random.setstate(state)


def is_sid(value: str, prefix: str | None = None) -> bool:
    """Whether ``value`` is well-formed as a SID (of ``prefix``, if given)."""
    if not isinstance(value, str) or not SID_INPUT.match(value):
        return False
    return prefix is None or value[:2] == prefix
