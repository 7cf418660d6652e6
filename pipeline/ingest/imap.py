"""IMAP polling (stdlib ``imaplib``): fetch UNSEEN messages, store each as a case, then flag it.

Crash safety: the case and its ledger row (mailbox, UIDVALIDITY, UID) are written in one transaction
*before* the message is flagged \\Seen (or moved).  A crash in between leaves the message unseen; the
next poll finds the ledger row and only flags it — one case per message, never none, never two.
Messages are fetched with BODY.PEEK[] so reading does not mark them.
"""

from __future__ import annotations

import imaplib
import logging
import ssl
from dataclasses import dataclass

from pipeline.errors import ImapError, ImapLoginRefused
from pipeline.ingest import IngestOutcome, from_mail_bytes, ingest
from pipeline.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImapConfig:
    host: str
    port: int = 993
    security: str = "ssl"  # ssl | starttls | none (loopback tests only)
    username: str = ""
    password: str = ""
    folder: str = "INBOX"
    move_to: str | None = None  # e.g. "Processed"; default: flag \Seen
    timeout: float = 60.0

    @property
    def mailbox_id(self) -> str:
        return f"{self.username}@{self.host}:{self.port}/{self.folder}"


__all__ = ["ImapConfig", "ImapError", "ImapLoginRefused", "fetch"]


def _connect(cfg: ImapConfig) -> imaplib.IMAP4:
    if cfg.security == "ssl":
        conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
            cfg.host, cfg.port, ssl_context=ssl.create_default_context(), timeout=cfg.timeout
        )
    else:
        conn = imaplib.IMAP4(cfg.host, cfg.port, timeout=cfg.timeout)
        if cfg.security == "starttls":
            conn.starttls(ssl_context=ssl.create_default_context())
    conn.login(cfg.username, cfg.password)
    return conn


def _flag(conn: imaplib.IMAP4, uid: bytes, cfg: ImapConfig) -> None:
    if cfg.move_to:
        typ, _ = conn.uid("COPY", uid.decode(), cfg.move_to)
        if typ != "OK":
            raise ImapError(f"COPY to {cfg.move_to} failed")
        conn.uid("STORE", uid.decode(), "+FLAGS.SILENT", r"(\Deleted \Seen)")
        conn.expunge()
    else:
        conn.uid("STORE", uid.decode(), "+FLAGS.SILENT", r"(\Seen)")


def fetch(store: Store, cfg: ImapConfig, office: str) -> list[IngestOutcome]:
    """One poll: every UNSEEN message becomes a case (or is recognised as stored already)."""
    try:
        conn = _connect(cfg)
    except imaplib.IMAP4.error as exc:  # the server answered and said no: retrying cannot help
        raise ImapLoginRefused(f"cannot log in to {cfg.host}:{cfg.port}: {exc}") from exc
    except OSError as exc:  # refused, unreachable, timed out, TLS failure: a later poll may get through
        raise ImapError(f"cannot connect to {cfg.host}:{cfg.port}: {exc}") from exc
    outcomes: list[IngestOutcome] = []
    try:
        typ, _ = conn.select(cfg.folder)
        if typ != "OK":
            raise ImapError(f"cannot select {cfg.folder}")
        uidvalidity = (conn.response("UIDVALIDITY")[1] or [b"0"])[0]
        uv = (uidvalidity or b"0").decode() if isinstance(uidvalidity, bytes) else str(uidvalidity)
        typ, data = conn.uid("SEARCH", "UNSEEN")
        if typ != "OK":
            raise ImapError("UID SEARCH UNSEEN failed")
        for uid in (data[0] or b"").split():
            key = (cfg.mailbox_id, uv, uid.decode())
            seen = store.mail_seen(*key)
            if seen is not None:  # stored before a crash: only the flag is missing
                _flag(conn, uid, cfg)
                store.mail_flagged(seen.id)
                continue
            typ, msg = conn.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
            raw = next((part[1] for part in msg or [] if isinstance(part, tuple)), None)
            if typ != "OK" or not isinstance(raw, bytes):
                log.warning("IMAP FETCH of UID %s failed; it stays unseen for the next poll", uid)
                continue
            source = f"imap://{cfg.username}@{cfg.host}:{cfg.port}/{cfg.folder};UIDVALIDITY={uv}/;UID={uid.decode()}"
            outcome = ingest(store, from_mail_bytes(raw, source, key), office)
            outcomes.append(outcome)
            _flag(conn, uid, cfg)
            row = store.mail_seen(*key)
            if row is not None:
                store.mail_flagged(row.id)
    except imaplib.IMAP4.error as exc:
        raise ImapError(str(exc)) from exc
    finally:
        try:
            conn.logout()
        except (OSError, imaplib.IMAP4.error):
            pass
    return outcomes
