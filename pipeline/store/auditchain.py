"""Tamper-evident audit trail: every audit row carries SM3(previous hash ‖ canonical row).

Rows get a gap-free ``seq`` from the one-row ``audit_head`` table, which is updated in the same
transaction (that update serialises concurrent writers on PostgreSQL and SQLite alike).  ``verify``
recomputes the chain: an edited row breaks its own hash, a deleted row leaves a gap in ``seq`` (or a
head that points past the last row), and a re-ordered row breaks the link to its predecessor.

What the chain alone cannot show: someone with write access to the database who deletes the last rows
and moves the head back, or who recomputes the whole chain.  Two defences:

* **a keyed chain**: with an audit key configured (the environment variable that ``audit_hmac_key_env``
  names, ``CERT_INTAKE_AUDIT_KEY`` by default) every new row's hash is HMAC-SM3 under that key, and the
  row says so (``scheme = "hmac-sm3"``).  Rows written before the key existed keep their plain SM3 hash;
  the first keyed row starts a keyed segment, after which an unkeyed row is reported as a downgrade.
  Without the key nobody can write a row that verifies.
* **a head recorded outside the database**: ``head_line`` ("audit head: seq N hash H") is printed after
  every batch and written into the ledger; ``verify_recorded`` checks that every recorded head is still a
  row of the chain with the same hash (a truncation or a rewrite removes or changes it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

GENESIS = "0" * 64
HEAD_ID = 1
KEYED = "hmac-sm3"
KEY_ENV = "CERT_INTAKE_AUDIT_KEY"  # the default name of the variable that holds the audit key
MIN_KEY = 16
HEAD_LINE = re.compile(r"seq\s+(\d+)\s+hash\s+([0-9a-f]{64})")


class AuditKeyError(Exception):
    """The audit key is missing where the chain needs it, or too short."""


def configured_key(home: Path) -> bytes | None:
    """The audit key of this home: the environment variable named by ``audit_hmac_key_env`` (environment
    ``CERT_INTAKE_AUDIT_HMAC_KEY_ENV``, else ``<home>/config.yaml``, else ``CERT_INTAKE_AUDIT_KEY``)."""
    name = os.environ.get("CERT_INTAKE_AUDIT_HMAC_KEY_ENV", "")
    cfg = home / "config.yaml"
    if not name and cfg.is_file():
        import yaml

        try:
            data = yaml.safe_load(cfg.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            data = {}
        name = str(data.get("audit_hmac_key_env") or "") if isinstance(data, dict) else ""
    value = os.environ.get(name or KEY_ENV, "")
    if not value:
        return None
    if len(value) < MIN_KEY:
        raise AuditKeyError(f"the audit key in {name or KEY_ENV} is shorter than {MIN_KEY} characters")
    return value.encode()


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
    scheme = getattr(row, "scheme", None)
    if scheme:  # only keyed rows name their scheme: the plain rows hash exactly as before
        body["scheme"] = scheme
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def link(prev_hash: str, row: Any, key: bytes | None = None) -> str:
    """The row's hash: SM3(prev ‖ row), or HMAC-SM3 under ``key`` for a keyed row."""
    message = prev_hash.encode() + canonical(row)
    if getattr(row, "scheme", None) == KEYED:
        if key is None:
            raise AuditKeyError("a keyed audit row needs the audit key")
        return hmac.new(key, message, "sm3").hexdigest()
    return hashlib.new("sm3", message).hexdigest()  # OpenSSL 3's SM3


def head_line(seq: int, digest: str) -> str:
    """What an office records outside the database (and ``audit verify --head-file`` reads back)."""
    return f"audit head: seq {seq} hash {digest}"


def parse_heads(text: str) -> list[tuple[int | None, str]]:
    """Recorded heads: "audit head: seq N hash H" lines, "N:H", or a bare 64-hex hash (any seq)."""
    out: list[tuple[int | None, str]] = []
    for line in text.splitlines():
        line = line.strip().lower()
        m = HEAD_LINE.search(line)
        if m:
            out.append((int(m.group(1)), m.group(2)))
        elif re.fullmatch(r"\d+:[0-9a-f]{64}", line):
            seq, digest = line.split(":")
            out.append((int(seq), digest))
        elif re.fullmatch(r"[0-9a-f]{64}", line):
            out.append((None, line))
    return out


def install(sessions: sessionmaker[Session], key: bytes | None = None) -> None:
    """Chain every new audit row at flush time, whichever code path added it (keyed when ``key``)."""
    from sqlalchemy import event

    def before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
        _before_flush(session, key)

    event.listen(sessions, "before_flush", before_flush)


def _before_flush(session: Session, key: bytes | None) -> None:
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
            row.scheme = KEYED if key is not None else None
            row.row_hash = prev = link(prev, row, key)
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
    scheme: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.at, str):  # SQLite hands raw text to a Core query
            self.at = datetime.fromisoformat(self.at)


@dataclass(frozen=True)
class ChainProblem:
    row_id: int | None
    seq: int | None
    message: str


def verify_rows(
    rows: Iterable[Any], head_seq: int, head_hash: str, key: bytes | None = None, keyed_end: bool = True
) -> list[ChainProblem]:
    """Problems in the chain (empty: intact).  ``rows`` ordered by seq (NULL seq first).  With ``key``,
    keyed rows are checked under it, an unkeyed row after a keyed one is a downgrade, and the chain must
    end in a keyed row (a rewrite without the key cannot)."""
    problems: list[ChainProblem] = []
    prev, expected = GENESIS, 1
    keyed_seen = False
    last: Any = None
    keyless_reported = False
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
        scheme = getattr(row, "scheme", None)
        if scheme not in (None, KEYED):
            problems.append(ChainProblem(row.id, row.seq, f"audit row id {row.id} has an unknown scheme {scheme!r}"))
        elif scheme == KEYED and key is None:
            if not keyless_reported:
                problems.append(
                    ChainProblem(row.id, row.seq, f"audit rows from seq {row.seq} are keyed: the audit key is needed")
                )
                keyless_reported = True
        elif link(row.prev_hash or "", row, key) != row.row_hash:
            problems.append(
                ChainProblem(row.id, row.seq, f"audit row id {row.id} (seq {row.seq}) was altered: hash mismatch")
            )
        if scheme is None and keyed_seen:
            problems.append(
                ChainProblem(row.id, row.seq, f"audit row id {row.id} (seq {row.seq}) is unkeyed after keyed rows")
            )
        keyed_seen = keyed_seen or scheme == KEYED
        prev, expected, last = row.row_hash or "", row.seq + 1, row
    if head_seq != expected - 1:
        problems.append(
            ChainProblem(None, head_seq, f"audit rows seq {expected}..{head_seq} are missing (deleted at the end)")
        )
    elif head_hash != prev and expected > 1:
        problems.append(ChainProblem(None, head_seq, "the audit head does not match the last row"))
    if keyed_end and key is not None and last is not None and getattr(last, "scheme", None) != KEYED:
        problems.append(
            ChainProblem(last.id, last.seq, "the chain does not end in a keyed row although an audit key is set")
        )
    return problems


def verify_recorded(by_seq: dict[int, str], recorded: Iterable[tuple[int | None, str]]) -> list[ChainProblem]:
    """Each head recorded outside the database must still be in the chain with the same hash."""
    problems: list[ChainProblem] = []
    hashes = set(by_seq.values())
    last = max(by_seq, default=0)
    for seq, digest in recorded:
        if seq is None:
            if digest not in hashes:
                problems.append(ChainProblem(None, None, f"recorded head {digest[:16]}… is not in the chain"))
        elif seq > last:
            problems.append(
                ChainProblem(None, seq, f"recorded head seq {seq} is past the chain's end (seq {last}): truncated")
            )
        elif by_seq.get(seq) != digest:
            problems.append(
                ChainProblem(None, seq, f"recorded head seq {seq} has a different hash in the chain: rewritten")
            )
    return problems
