"""Passwords (argon2id via argon2-cffi), logins with lockout, users from the command line."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from pipeline.errors import CertIntakeError
from pipeline.review.roles import Role
from pipeline.store import Store

log = logging.getLogger(__name__)
_hasher = PasswordHasher()
MIN_PASSWORD = 10
MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=30)
# verified against when the user does not exist, so an unknown name costs the same time as a wrong password
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


def login(store: Store, name: str, password: str) -> LoginResult:
    user = store.get_user(name)
    if user is not None and store.is_locked(user):
        store.audit("login_refused", name[:64], "account locked")
        return LoginResult(None, "账户已锁定，请稍后再试或联系系统管理员解锁")
    try:
        _hasher.verify(user.password_hash if user is not None and user.active else _DUMMY, password)
        ok = user is not None and user.active
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None:
        locked = store.login_failed(name, MAX_FAILURES, LOCK_FOR)
        log.info("login failed for a user%s", " (now locked)" if locked else "")
        if locked:
            return LoginResult(None, "连续登录失败次数过多，账户已锁定")
        return LoginResult(None, "用户名或密码错误")
    if _hasher.check_needs_rehash(user.password_hash):
        store.set_user(name, name, password_hash=_hasher.hash(password))
    token, _csrf = store.open_web_session(name)
    return LoginResult(token, "")
