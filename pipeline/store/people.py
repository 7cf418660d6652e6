"""The store's side for people: users and web sessions, review actions, page images, the audit chain."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from pipeline.errors import StoreError
from pipeline.models import CaseStatus
from pipeline.store.auditchain import KEYED, ChainProblem, head_line, verify_recorded, verify_rows
from pipeline.store.schema import (
    Audit,
    AuditHead,
    Blob,
    CaseField,
    CaseFile,
    CasePage,
    LoginThrottle,
    OcrCacheEntry,
    ReviewAction,
    User,
    WebSession,
)

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from sqlalchemy.orm import Session, sessionmaker


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


@dataclass(frozen=True)
class PageImage:
    id: int
    document: str
    page: int
    sha256: str
    width: int
    height: int
    scale: float


class PeopleStore:
    """Mixed into ``Store``; relies on its ``sessions``, ``session()`` and ``blobs``."""

    sessions: sessionmaker[Session]
    blobs: Any
    audit_key: bytes | None = None

    def session(self) -> AbstractContextManager[Session]:  # pragma: no cover - provided by Store
        raise NotImplementedError

    # ------------------------------------------------------------------ audit
    def audit(self, action: str, actor: str, detail: str = "", case_id: str | None = None) -> None:
        """One audit row outside a state transition (login, view, correction, decision)."""
        with self.session() as s:
            s.add(Audit(case_id=case_id, actor=actor, action=action, detail=detail))

    def verify_audit(
        self, recorded: Sequence[tuple[int | None, str]] = (), keyed_end: bool = True
    ) -> tuple[int, list[ChainProblem]]:
        """(rows checked, problems); no problems means the chain is intact.  ``recorded``: heads the office
        kept outside the database ((seq or None, hash)); each must still be in the chain unchanged.
        ``keyed_end``: with a key, the chain must end in a keyed row (not before ``audit start-keyed``)."""
        with self.sessions() as s:
            head = s.get(AuditHead, 1)
            rows = list(s.scalars(select(Audit).order_by(Audit.seq.is_not(None), Audit.seq)))
            head_seq, head_hash = (head.seq, head.hash) if head else (0, "")
            problems = verify_rows(rows, head_seq, head_hash, self.audit_key, keyed_end)
            by_seq = {r.seq: r.row_hash or "" for r in rows if r.seq is not None}
            problems += verify_recorded(by_seq, recorded)
            return len(rows), problems

    def audit_head(self) -> tuple[int, str]:
        """(seq, hash) of the chain's last row as the head table says."""
        with self.sessions() as s:
            head = s.get(AuditHead, 1)
            return (int(head.seq), str(head.hash)) if head else (0, "0" * 64)

    def audit_head_line(self) -> str:
        return head_line(*self.audit_head())

    def head_is_keyed(self) -> bool | None:
        """Is the chain's last row keyed?  None when the chain is empty."""
        with self.sessions() as s:
            head = s.get(AuditHead, 1)
            if head is None or not head.seq:
                return None
            scheme = s.scalars(select(Audit.scheme).where(Audit.seq == head.seq)).first()
            return scheme == KEYED

    def audit_log(self, case_id: str | None = None, limit: int = 200) -> list[Audit]:
        with self.sessions() as s:
            q = select(Audit).order_by(Audit.seq.desc()).limit(limit)
            if case_id is not None:
                q = q.where(Audit.case_id == case_id)
            return list(s.scalars(q))

    # ------------------------------------------------------------------ users
    def add_user(self, name: str, role: str, password_hash: str) -> None:
        with self.session() as s:
            if s.get(User, name) is not None:
                raise StoreError(f"user {name} exists")
            s.add(User(name=name, role=role, password_hash=password_hash))
            s.add(Audit(actor="admin-cli", action="user_add", detail=f"user {name} role {role}"))

    def get_user(self, name: str) -> User | None:
        with self.sessions() as s:
            return s.get(User, name)

    def list_users(self) -> list[User]:
        with self.sessions() as s:
            return list(s.scalars(select(User).order_by(User.name)))

    def set_user(self, name: str, actor: str, **changes: Any) -> None:
        with self.session() as s:
            user = s.get(User, name)
            if user is None:
                raise StoreError(f"no user {name}")
            for k, v in changes.items():
                setattr(user, k, v)
            shown = ", ".join(k for k in changes if k != "password_hash") or "password"
            s.add(Audit(actor=actor, action="user_change", detail=f"user {name}: {shown}"))

    def is_locked(self, user: User) -> bool:
        """An administrator's lock (``users disable`` sets one); failed logins never lock an account."""
        until = _aware(user.locked_until)
        return until is not None and until > datetime.now(UTC)

    # ------------------------------------------------------------------ login throttling
    def throttle_state(self, key: str) -> tuple[int, datetime | None, datetime | None]:
        """(failures, last failure, blocked until) of a throttle key (``addr:…`` or ``user:…``)."""
        with self.sessions() as s:
            row = s.get(LoginThrottle, key)
            if row is None:
                return 0, None, None
            return row.failures, _aware(row.last_failure), _aware(row.blocked_until)

    def throttle_failure(self, keys: dict[str, timedelta | None], name: str, detail: str) -> None:
        """Count a failed login against each key; ``keys[key]`` is how long that key is now blocked (None:
        not blocked).  Counts older than a day start again.  One audit row."""
        now = datetime.now(UTC)
        with self.session() as s:
            for key, block in keys.items():
                row = s.get(LoginThrottle, key, with_for_update=True)
                if row is None:
                    row = LoginThrottle(key=key, failures=0, last_failure=now)
                    s.add(row)
                last = _aware(row.last_failure) or now
                if now - last > timedelta(days=1):
                    row.failures = 0
                row.failures += 1
                row.last_failure = now
                row.blocked_until = now + block if block is not None else None
            s.add(Audit(actor=name[:64], action="login_failed", detail=detail[:500]))

    def throttle_reset(self, *keys: str) -> None:
        with self.session() as s:
            s.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(list(keys))))

    def throttle_prune(self, older_than: timedelta = timedelta(days=1)) -> None:
        with self.session() as s:
            s.execute(delete(LoginThrottle).where(LoginThrottle.last_failure < datetime.now(UTC) - older_than))

    # ------------------------------------------------------------------ web sessions
    def open_web_session(self, name: str) -> tuple[str, str]:
        """A new session for ``name`` (after a good password): (cookie token, CSRF token)."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self.session() as s:
            user = s.get(User, name)
            if user is None:
                raise StoreError(f"no user {name}")
            user.failed_logins = 0
            s.add(WebSession(token_hash=_token_hash(token), user=name, csrf=csrf))
            s.add(Audit(actor=name, action="login", detail="login"))
        return token, csrf

    def web_session(
        self, token: str, idle: timedelta, max_age: timedelta | None = None
    ) -> tuple[WebSession, User] | None:
        """The session and its user, or None (unknown, idle too long, older than ``max_age``, user off)."""
        now = datetime.now(UTC)
        with self.session() as s:
            ws = s.get(WebSession, _token_hash(token))
            if ws is None:
                return None
            user = s.get(User, ws.user)
            last = _aware(ws.last_seen) or now
            born = _aware(ws.created_at) or now
            too_old = max_age is not None and now - born > max_age
            if user is None or not user.active or self.is_locked(user) or now - last > idle or too_old:
                s.delete(ws)
                s.add(Audit(actor=ws.user, action="session_end", detail="expired" if user else "no user"))
                return None
            ws.last_seen = now
            return ws, user

    def close_web_session(self, token: str) -> None:
        with self.session() as s:
            ws = s.get(WebSession, _token_hash(token))
            if ws is not None:
                s.add(Audit(actor=ws.user, action="logout", detail="logout"))
                s.delete(ws)

    def close_user_sessions(self, name: str) -> None:
        with self.session() as s:
            s.execute(delete(WebSession).where(WebSession.user == name))

    # ------------------------------------------------------------------ review actions
    def record_review(self, case_id: str, actor: str, action: str, detail: dict[str, Any], note: str) -> None:
        """A person's action on a case and its audit row, in one transaction."""
        with self.session() as s:
            s.add(ReviewAction(case_id=case_id, actor=actor, action=action, detail=detail))
            s.add(Audit(case_id=case_id, actor=actor, action=action, detail=note))

    def merge_files(self, source_case: str, target_case: str) -> list[str]:
        """Add the source case's files (same blobs) to the target case; names made unique.  Returns them."""
        with self.session() as s:
            taken = {f.name for f in s.scalars(select(CaseFile).where(CaseFile.case_id == target_case))}
            added: list[str] = []
            for f in s.scalars(select(CaseFile).where(CaseFile.case_id == source_case).order_by(CaseFile.id)):
                name = f.name
                while name in taken:
                    name = f"并入-{name}"
                taken.add(name)
                s.add(CaseFile(case_id=target_case, name=name, sha256=f.sha256, size=f.size, role=f.role))
                added.append(name)
            return added

    def field_sources(self, case_id: str) -> dict[str, str]:
        """key → extract | reviewer."""
        with self.sessions() as s:
            q = select(CaseField.key, CaseField.source).where(CaseField.case_id == case_id)
            return {k: v for k, v in s.execute(q)}

    def reviewed(self, case_id: str) -> bool:
        """Has a person acted on the case (a correction, a confirmation, a verification …)?"""
        with self.sessions() as s:
            acted = s.scalars(select(ReviewAction.id).where(ReviewAction.case_id == case_id).limit(1)).first()
            corrected = s.scalars(
                select(CaseField.id).where(CaseField.case_id == case_id, CaseField.source != "extract").limit(1)
            ).first()
            return acted is not None or corrected is not None

    def read_count(self, case_id: str) -> int:
        """How often the case was read (transitions to ``extracted``): a re-read changes what a person saw."""
        from sqlalchemy import func

        with self.sessions() as s:
            q = (
                select(func.count())
                .select_from(Audit)
                .where(Audit.case_id == case_id, Audit.to_status == CaseStatus.EXTRACTED)
            )
            return int(s.scalar(q) or 0)

    def review_actions(self, case_id: str) -> list[ReviewAction]:
        with self.sessions() as s:
            q = select(ReviewAction).where(ReviewAction.case_id == case_id).order_by(ReviewAction.id)
            return list(s.scalars(q))

    # ------------------------------------------------------------------ OCR cache
    @property
    def ocr_cache(self) -> OcrCacheStore:
        return OcrCacheStore(self.sessions)

    # ------------------------------------------------------------------ page images
    def save_pages(self, case_id: str, pages: list[tuple[str, int, bytes, int, int, float]]) -> None:
        """(document, page, JPEG bytes, width, height, scale) for each page extraction looked at."""
        stored = [(doc, page, self.blobs.put(data), len(data), w, h, scale) for doc, page, data, w, h, scale in pages]
        with self.session() as s:
            s.execute(delete(CasePage).where(CasePage.case_id == case_id))
            for doc, page, sha, size, w, h, scale in stored:
                if s.get(Blob, sha) is None:
                    s.add(Blob(sha256=sha, size=size))
                    s.flush()
                s.add(CasePage(case_id=case_id, document=doc, page=page, sha256=sha, width=w, height=h, scale=scale))

    def case_pages(self, case_id: str) -> list[PageImage]:
        with self.sessions() as s:
            q = select(CasePage).where(CasePage.case_id == case_id).order_by(CasePage.id)
            return [PageImage(p.id, p.document, p.page, p.sha256, p.width, p.height, p.scale) for p in s.scalars(q)]


class OcrCacheStore:
    """``extract.OcrCache`` over the ``ocr_cache`` table (shared by every worker on the same database)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def get(self, sha256: str, engine: str) -> list[dict[str, Any]] | None:
        with self.sessions() as s:
            row = s.get(OcrCacheEntry, (sha256, engine))
            return list(row.pages) if row is not None else None

    def put(self, sha256: str, engine: str, pages: list[dict[str, Any]]) -> None:
        try:
            with self.sessions() as s, s.begin():
                if s.get(OcrCacheEntry, (sha256, engine)) is None:
                    s.add(OcrCacheEntry(sha256=sha256, engine=engine, pages=pages))
        except IntegrityError:  # another worker cached the same file meanwhile
            pass
