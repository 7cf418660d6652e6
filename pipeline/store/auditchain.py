"""Tamper-evident audit trail: every audit row carries SM3(previous hash ‖ canonical row).

Rows get a gap-free ``seq`` from the one-row ``audit_head`` table, which is updated in the same
transaction (that update serialises concurrent writers on PostgreSQL and SQLite alike).  ``verify``
recomputes the chain: an edited row breaks its own hash, a deleted row leaves a gap in ``seq`` (or a
head that points past the last row), and a re-ordered row breaks the link to its predecessor.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

GENESIS = "0" * 64
HEAD_ID = 1


def _utc(at: datetime | None) -> str:
    if at is None:
        return ""
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.isoformat(timespec="microseconds")


def canonical(row: Any) -> bytes:
    """The hashed content of an audit row (every column but the id and the hashes)."""
    body = {
        "seq": row.seq,
        "case_id": row.case_id,
        "actor": row.actor,
        "at": _utc(row.at),
        "action": row.action or "transition",
        "from": row.from_status,
        "to": row.to_status,
        "detail": row.detail or "",
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def link(prev_hash: str, row: Any) -> str:
    return hashlib.new("sm3", prev_hash.encode() + canonical(row)).hexdigest()  # OpenSSL 3's SM3


def install(sessions: sessionmaker[Session]) -> None:
    """Chain every new audit row at flush time, whichever code path added it."""
    from sqlalchemy import event

    event.listen(sessions, "before_flush", _before_flush)


def _before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
    from pipeline.store.schema import Audit, AuditHead

    new = [o for o in session.new if isinstance(o, Audit) and o.row_hash is None]
    if not new:
        return
    new.sort(key=lambda o: o.chain_order)
    with session.no_autoflush:
        # the update comes first: it takes the write lock before the head is read
        session.execute(update(AuditHead).where(AuditHead.id == HEAD_ID).values(seq=AuditHead.seq))
        head = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == HEAD_ID)).first()
        seq, prev = (int(head[0]), str(head[1])) if head else (0, GENESIS)
        for row in new:
            seq += 1
            row.seq = seq
            row.action = row.action or "transition"
            row.detail = row.detail or ""
            if row.at is None:
                row.at = datetime.now(UTC)
            row.prev_hash = prev
            row.row_hash = prev = link(prev, row)
        if head is None:
            session.execute(insert(AuditHead).values(id=HEAD_ID, seq=seq, hash=prev))
        else:
            session.execute(update(AuditHead).where(AuditHead.id == HEAD_ID).values(seq=seq, hash=prev))


def chain_existing(conn: Connection) -> None:
    """Migration helper: chain the rows that were written before the chain existed (id order)."""
    from sqlalchemy import text

    query = text("SELECT id, case_id, actor, at, from_status, to_status, detail FROM audit ORDER BY id")
    rows = conn.execute(query).mappings().all()
    prev, seq = GENESIS, 0
    for r in rows:
        seq += 1
        row = _RowView(seq=seq, **{k: r[k] for k in ("case_id", "actor", "at", "from_status", "to_status", "detail")})
        h = link(prev, row)
        conn.exec_driver_sql(
            "UPDATE audit SET seq = ?, prev_hash = ?, row_hash = ?, action = 'transition' WHERE id = ?"
            if conn.dialect.paramstyle == "qmark"
            else "UPDATE audit SET seq = %s, prev_hash = %s, row_hash = %s, action = 'transition' WHERE id = %s",
            (seq, prev, h, r["id"]),
        )
        prev = h
    conn.exec_driver_sql(
        "INSERT INTO audit_head (id, seq, hash) VALUES (?, ?, ?)"
        if conn.dialect.paramstyle == "qmark"
        else "INSERT INTO audit_head (id, seq, hash) VALUES (%s, %s, %s)",
        (HEAD_ID, seq, prev),
    )


@dataclass
class _RowView:
    seq: int
    case_id: str | None
    actor: str
    at: Any
    from_status: str | None
    to_status: str | None
    detail: str
    action: str = "transition"

    def __post_init__(self) -> None:
        if isinstance(self.at, str):  # SQLite hands raw text to a Core query
            self.at = datetime.fromisoformat(self.at)


@dataclass(frozen=True)
class ChainProblem:
    row_id: int | None
    seq: int | None
    message: str


def verify_rows(rows: Iterable[Any], head_seq: int, head_hash: str) -> list[ChainProblem]:
    """Problems in the chain (empty: intact).  ``rows`` ordered by seq (NULL seq first)."""
    problems: list[ChainProblem] = []
    prev, expected = GENESIS, 1
    for row in rows:
        if row.seq is None:
            problems.append(ChainProblem(row.id, None, f"audit row id {row.id} is outside the chain (no seq)"))
            continue
        if row.seq != expected:
            problems.append(
                ChainProblem(
                    row.id,
                    row.seq,
                    f"audit rows seq {expected}..{row.seq - 1} are missing (deleted) before row id {row.id}",
                )
            )
        elif row.prev_hash != prev:
            problems.append(ChainProblem(row.id, row.seq, f"audit row id {row.id} (seq {row.seq}) does not link"))
        if link(row.prev_hash or "", row) != row.row_hash:
            problems.append(
                ChainProblem(row.id, row.seq, f"audit row id {row.id} (seq {row.seq}) was altered: hash mismatch")
            )
        prev, expected = row.row_hash or "", row.seq + 1
    if head_seq != expected - 1:
        problems.append(
            ChainProblem(None, head_seq, f"audit rows seq {expected}..{head_seq} are missing (deleted at the end)")
        )
    elif head_hash != prev and expected > 1:
        problems.append(ChainProblem(None, head_seq, "the audit head does not match the last row"))
    return problems
