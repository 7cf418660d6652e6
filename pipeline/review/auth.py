"""Passwords (argon2id via argon2-cffi), logins with throttling, users from the command line.

A login answers the same words after the same work for an unknown name, a disabled account and a wrong
password: one argon2 verification each (a dummy hash stands in for a missing user).  Failed logins are
throttled with growing waits, never by a lock that anyone could set off on someone else's account:

* per **client address**: after ``FREE_FAILURES`` failures the address is refused for 2, 4, 8 … seconds
  (at most ``ADDRESS_MAX_BLOCK``); this is what stops a guesser;
* per **name tried** (known or not, so it tells nothing): after ``ACCOUNT_FREE`` failures from anywhere,
  each further login for that name waits a little first (at most ``ACCOUNT_MAX_DELAY`` seconds, done by the
  web app without holding a thread), so the right password from another address still gets in.

``login`` is synchronous and slow on purpose (argon2); the web app runs it on a worker thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from pipeline.errors import CertIntakeError
from pipeline.review.roles import Role
from pipeline.store import Store

log = logging.getLogger(__name__)
_hasher = PasswordHasher()
MIN_PASSWORD = 10
FREE_FAILURES = 3  # per client address before any wait
ADDRESS_MAX_BLOCK = timedelta(minutes=15)
ACCOUNT_FREE = 5  # per name before its logins are slowed down
ACCOUNT_MAX_DELAY = 3.0  # seconds: the most that others' failures can slow a name's login
ACCOUNT_WINDOW = timedelta(minutes=15)  # failures older than this no longer slow a name down
FAILED = "用户名或密码错误"
THROTTLED = "登录尝试过于频繁，请稍后再试"
# verified against when the user does not exist (or is disabled): the same argon2 work as a wrong password
_DUMMY = _hasher.hash("not-a-real-password")


class AuthError(CertIntakeError):
    """A login or user-management request that cannot be done (message for the user, Chinese)."""


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AuthError(f"密码至少 {MIN_PASSWORD} 个字符")
    return _hasher.hash(password)


def add_user(store: Store, name: str, role: str, password: str) -> None:
    try:
        Role(role)
    except ValueError as exc:
        raise AuthError(f"未知角色 {role}（可选：{', '.join(r.value for r in Role)}）") from exc
    if not name or len(name) > 64 or any(c.isspace() for c in name):
        raise AuthError("用户名须为 1–64 个非空白字符")
    store.add_user(name, role, hash_password(password))


@dataclass(frozen=True)
class LoginResult:
    token: str | None
    message: str  # for the login page when token is None


def _address_key(address: str) -> str:
    return f"addr:{address[:150]}"


def _name_key(name: str) -> str:
    return f"user:{name[:64]}"


def address_block(failures: int) -> timedelta | None:
    """How long an address is refused after its ``failures``-th failure in a row."""
    if failures <= FREE_FAILURES:
        return None
    return min(timedelta(seconds=2 ** min(failures - FREE_FAILURES, 20)), ADDRESS_MAX_BLOCK)


def account_delay(store: Store, name: str) -> float:
    """Seconds to wait before checking a login for ``name`` (the same for a name that does not exist)."""
    failures, last, _ = store.throttle_state(_name_key(name))
    if failures <= ACCOUNT_FREE or last is None or datetime.now(UTC) - last > ACCOUNT_WINDOW:
        return 0.0
    return min(0.25 * 2 ** min(failures - ACCOUNT_FREE - 1, 8), ACCOUNT_MAX_DELAY)


def _check(password_hash: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def login(store: Store, name: str, password: str, address: str = "local") -> LoginResult:
    """Check a password; a session token on success.  Every failure reads ``FAILED``; a throttled address
    reads ``THROTTLED`` whatever the name."""
    name = name[:64]
    addr = _address_key(address)
    failures, _last, blocked = store.throttle_state(addr)
    if blocked is not None and blocked > datetime.now(UTC):
        store.audit("login_refused", name, f"client {address[:64]} throttled after {failures} failures")
        return LoginResult(None, THROTTLED)
    user = store.get_user(name)
    usable = user is not None and user.active and not store.is_locked(user)
    ok = _check(user.password_hash if user is not None and usable else _DUMMY, password) and usable
    if not ok or user is None:
        block = address_block(failures + 1)
        store.throttle_failure(
            {addr: block, _name_key(name): None}, name, f"wrong password or unknown user, from {address[:64]}"
        )
        log.info("login failed from a client%s", " (now throttled)" if block else "")
        return LoginResult(None, FAILED)
    if _hasher.check_needs_rehash(user.password_hash):
        store.set_user(name, name, password_hash=_hasher.hash(password))
    store.throttle_reset(_name_key(name))
    token, _csrf = store.open_web_session(name)
    return LoginResult(token, "")


def unlock(store: Store, name: str) -> None:
    """Forget the failed logins counted against a name (``users unlock``)."""
    store.throttle_reset(_name_key(name))
