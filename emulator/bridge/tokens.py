"""Access tokens of the Worker SDK: HS256 JWTs signed with an API key's secret.

Twilio's helper libraries mint them (twilio-python ``AccessToken`` + ``TaskRouterGrant``,
twilio-node ``jwt.AccessToken``); the header is ``{"alg": "HS256", "typ": "JWT", "cty":
"twilio-fpa;v=1"}`` and the claims are ``jti``, ``iss`` (the key, ``SK…``), ``sub`` (its
account, ``AC…``), ``nbf``, ``exp`` and ``grants.task_router`` (``workspace_sid``,
``worker_sid``, ``role``). https://www.twilio.com/docs/iam/access-tokens

Token time is the machine's clock, not the virtual clock: the libraries stamp ``nbf``/``exp``
from the machine's clock and the SDK times ``tokenExpired`` with real timers, so a test that
moves the virtual clock must not invalidate every token it minted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from .. import errors
from ..sids import is_sid

ROLES = ("worker", "supervisor", "admin")
HEADERS = {"cty": "twilio-fpa;v=1"}

EXPIRED, NOT_YET_VALID = 20104, 20105


def wall_clock() -> float:
    return time.time()


@dataclass(frozen=True)
class Grant:
    """What a verified token allows: an account, a workspace, maybe a worker, and a role."""

    account_sid: str
    key_sid: str
    workspace_sid: str
    worker_sid: str | None
    role: str
    expires: float  # epoch seconds

    def lifetime_ms(self, now: float | None = None) -> int:
        """Milliseconds the token has left (the websocket ``init`` event's ``token_lifetime``)."""
        return max(0, int(self.expires * 1000 - (wall_clock() if now is None else now) * 1000))


def mint(account_sid: str, key_sid: str, key_secret: str, workspace_sid: str, worker_sid: str | None = None,
         *, role: str = "worker", ttl: int = 3600, identity: str | None = None, now: float | None = None) -> str:
    """A token with the claims twilio-python's ``AccessToken`` + ``TaskRouterGrant`` produce."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    issued = int(wall_clock() if now is None else now)
    grant: dict = {"workspace_sid": workspace_sid, "role": role}
    if worker_sid:
        grant["worker_sid"] = worker_sid
    claims = {"jti": f"{key_sid}-{issued}", "iss": key_sid, "sub": account_sid, "nbf": issued,
              "exp": issued + int(ttl),
              "grants": {"identity": identity or worker_sid or role, "task_router": grant}}
    return jwt.encode(claims, key_secret, algorithm="HS256", headers=HEADERS)


def verify(token, api_keys: dict[str, tuple[str, str]], *, now: float | None = None) -> Grant:
    """Check signature, ``exp``/``nbf``, that the key belongs to ``sub`` and the grant's shape.

    ``api_keys`` maps a key SID to ``(secret, account_sid)`` (the server's ``--credentials``).
    Whether the workspace and worker exist is the caller's check (it holds the engine)."""
    if not isinstance(token, str) or not token:
        raise errors.AccessTokenRefused(errors.TOKEN_MISSING)
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise errors.AccessTokenRefused(errors.TOKEN_INVALID) from None
    key_sid, account_sid = unverified.get("iss"), unverified.get("sub")
    key = api_keys.get(key_sid) if isinstance(key_sid, str) else None
    if key is None:
        raise errors.AccessTokenRefused(errors.TOKEN_UNKNOWN_KEY.format(key_sid=key_sid))
    secret, owner = key
    if account_sid != owner:
        raise errors.AccessTokenRefused(errors.TOKEN_WRONG_ACCOUNT.format(key_sid=key_sid, account_sid=account_sid))
    try:
        # exp/nbf are compared below, against ``now`` when given (tests), else the machine clock
        claims = jwt.decode(token, secret, algorithms=["HS256"],
                            options={"require": ["exp"], "verify_exp": False, "verify_nbf": False})
        instant = wall_clock() if now is None else now
        if not isinstance(claims["exp"], (int, float)) or claims["exp"] <= instant:
            raise jwt.ExpiredSignatureError()
        if isinstance(claims.get("nbf"), (int, float)) and claims["nbf"] > instant:
            raise jwt.ImmatureSignatureError()
    except jwt.ExpiredSignatureError:
        raise errors.AccessTokenRefused(errors.TOKEN_EXPIRED, code=EXPIRED) from None
    except jwt.ImmatureSignatureError:
        raise errors.AccessTokenRefused(errors.TOKEN_NOT_YET_VALID, code=NOT_YET_VALID) from None
    except jwt.InvalidSignatureError:
        raise errors.AccessTokenRefused(errors.TOKEN_SIGNATURE) from None
    except jwt.PyJWTError as exc:
        raise errors.AccessTokenRefused(f"{errors.TOKEN_INVALID}: {exc}") from None
    grant = (claims.get("grants") or {}).get("task_router") if isinstance(claims.get("grants"), dict) else None
    if not isinstance(grant, dict):
        raise errors.Forbidden(errors.TOKEN_NO_GRANT)
    workspace_sid, worker_sid, role = grant.get("workspace_sid"), grant.get("worker_sid") or None, grant.get("role")
    if not isinstance(workspace_sid, str) or not is_sid(workspace_sid, "WS"):
        raise errors.Forbidden(errors.TOKEN_BAD_GRANT.format(name="workspace_sid"))
    if worker_sid is not None and (not isinstance(worker_sid, str) or not is_sid(worker_sid, "WK")):
        raise errors.Forbidden(errors.TOKEN_BAD_GRANT.format(name="worker_sid"))
    # [I] A grant without a role is the worker role when it names a worker (the default of the
    # helper libraries' TaskRouterGrant), admin otherwise.
    role = role or ("worker" if worker_sid else "admin")
    if role not in ROLES:
        raise errors.Forbidden(errors.TOKEN_ROLE.format(role=role))
    return Grant(owner, str(key_sid), workspace_sid, worker_sid, role, float(claims["exp"]))
