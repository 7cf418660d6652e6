"""The case store: SQLite (WAL) or PostgreSQL through SQLAlchemy 2, plus a content-addressed blob store.

Every state transition is one transaction that also writes an audit row.  Blobs are immutable files
``blobs/ab/cd/<sha256>`` written through a temporary name and an atomic rename.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from pipeline.errors import CaseBusy, InvalidTransition, StoreError
from pipeline.fsutil import atomic_write
from pipeline.models import CaseStatus, Field, Finding, transition_allowed
from pipeline.store.auditchain import AuditKeyError, configured_key
from pipeline.store.auditchain import install as install_audit_chain
from pipeline.store.people import PeopleStore
from pipeline.store.schema import (
    Audit,
    Blob,
    Case,
    CaseField,
    CaseFile,
    CaseFinding,
    Certificate,
    CrlState,
    Delivery,
    MailLedger,
    Output,
    ProductRegistryEntry,
)

MIGRATIONS = Path(__file__).parent / "migrations"


def new_case_id() -> str:
    return f"C{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4).upper()}"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


PRIVATE_DIRS = ("blobs", "outputs", "outbox", "ledger", "locks", "ca")  # under the home: owner only


def private_dir(path: Path) -> Path:
    """Make ``path`` (and missing parents) a directory only its owner may enter (0700), whatever the umask."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if missing; make an existing one 0600."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
    except FileExistsError:
        pass
    os.chmod(path, 0o600)


def _sqlite_file(url: str) -> Path | None:
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url[len(prefix) :] in ("", ":memory:"):
        return None
    return Path(url[len(prefix) :].split("?")[0])


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        private_dir(root)

    def path(self, sha: str) -> Path:
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise StoreError(f"not a sha256: {sha!r}")
        return self.root / sha[:2] / sha[2:4] / sha

    def put(self, data: bytes) -> str:
        sha = sha256_bytes(data)
        target = self.path(sha)
        if target.exists():
            return sha
        atomic_write(target, data, mode=0o440)
        return sha

    def get(self, sha: str) -> bytes:
        return self.path(sha).read_bytes()


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()


class Store(PeopleStore):
    def __init__(self, url: str, blob_root: Path, audit_key: bytes | None = None) -> None:
        """``audit_key``: the key of the audit chain's HMAC (default: the one the home configures, if any)."""
        self.url = url
        home = blob_root.parent
        for name in PRIVATE_DIRS:  # the home's data directories are the owner's alone (0700)
            if name != "ca" or (home / name).is_dir():  # the CA directory is made by `ca init`
                private_dir(home / name)
        db_file = _sqlite_file(url)
        if db_file is not None:
            db_file.parent.mkdir(parents=True, exist_ok=True)
            private_file(db_file)  # SQLite gives its -wal and -shm files the database file's mode
        self.engine = create_engine(url, future=True, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            _sqlite_pragmas(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        try:
            self.audit_key = audit_key if audit_key is not None else configured_key(home)
        except AuditKeyError as exc:
            raise StoreError(str(exc)) from exc
        install_audit_chain(self.sessions, self.audit_key)
        self.blobs = BlobStore(blob_root)

    @classmethod
    def open(cls, url: str, blob_root: Path, audit_key: bytes | None = None, check_key: bool = True) -> Store:
        """Open and migrate.  ``check_key``: refuse a store whose audit chain does not match the key setting
        (``audit verify`` and ``audit start-keyed`` open without it)."""
        store = cls(url, blob_root, audit_key)
        store.migrate()
        if check_key:
            store.check_audit_key()
        return store

    def check_audit_key(self) -> None:
        """A keyed chain refuses a process without the key (its rows would be a downgrade); a key over an
        unkeyed chain is refused until ``cert-intake audit start-keyed`` starts the keyed segment — else a
        chain rewritten without the key would quietly be continued as if nothing had happened."""
        keyed = self.head_is_keyed()
        if keyed and self.audit_key is None:
            raise StoreError(
                "the audit chain is keyed (HMAC-SM3): set the audit key (CERT_INTAKE_AUDIT_KEY, or the variable "
                "that audit_hmac_key_env names) for every process that writes to this store"
            )
        if keyed is False and self.audit_key is not None:
            raise StoreError(
                "an audit key is set but the audit chain does not end in a keyed row: if the key is new, run "
                "`cert-intake audit start-keyed` once; otherwise the chain was rewritten (`cert-intake audit verify`)"
            )

    def start_keyed_segment(self) -> bool:
        """Begin HMAC-SM3 rows on an unkeyed chain (once, when the office first sets a key)."""
        if self.audit_key is None:
            raise StoreError("no audit key is set (CERT_INTAKE_AUDIT_KEY, or the variable audit_hmac_key_env names)")
        if self.head_is_keyed():
            return False
        self.audit("audit_keyed", "admin-cli", "audit rows from here on are HMAC-SM3 under the office's audit key")
        return True

    def migrate(self) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions() as s, s.begin():
            yield s

    # ------------------------------------------------------------------ one worker per case
    @contextmanager
    def case_lock(self, case_id: str) -> Iterator[None]:
        """Hold the case for this process, or raise CaseBusy at once.  PostgreSQL: a session advisory lock
        (every host on the database); SQLite: an flock on a file beside the database (one host).  Both
        are released when the holder dies, so a killed worker never blocks a case."""
        key = int.from_bytes(hashlib.sha256(case_id.encode()).digest()[:8], "big", signed=True)
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                got = conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({key})").scalar()
                conn.commit()
                if not got:
                    raise CaseBusy(f"case {case_id} is being processed elsewhere")
                try:
                    yield
                finally:
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({key})")
                    conn.commit()
            return
        import fcntl

        locks = private_dir(self.blobs.root.parent / "locks")
        with open(locks / f"{case_id}.lock", "a+b") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise CaseBusy(f"case {case_id} is being processed elsewhere") from exc
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    # ------------------------------------------------------------------ cases
    def find_by_fingerprint(self, fingerprint: str) -> Case | None:
        with self.sessions() as s:
            return s.scalars(
                select(Case)
                .where(Case.fingerprint == fingerprint, Case.duplicate_of.is_(None))
                .order_by(Case.created_at)
            ).first()

    def create_case(
        self,
        *,
        office: str,
        source_kind: str,
        source_path: str,
        files: list[tuple[str, bytes]],
        originals: list[tuple[str, bytes]] | None = None,
        subject: str | None = None,
        subject_company: str | None = None,
        actor: str = "system",
        mail_key: tuple[str, str, str] | None = None,
    ) -> Case:
        """Store the originals and create the case (status ``received``) in one transaction.

        ``files`` are the case's documents (their hashes make the duplicate fingerprint); ``originals`` are
        containers kept as received (an archive, the raw mail, an ISO) whose contents are in ``files``."""
        hashes = [(name, self.blobs.put(data), len(data)) for name, data in files]
        kept = [(name, self.blobs.put(data), len(data)) for name, data in originals or []]
        fingerprint = sha256_bytes("\n".join(sorted(h for _, h, _ in hashes)).encode())
        case_id = new_case_id()
        with self.session() as s:
            for _, sha, size in hashes + kept:
                if s.get(Blob, sha) is None:
                    s.add(Blob(sha256=sha, size=size))
                    s.flush()
            s.flush()
            case = Case(
                id=case_id,
                office=office,
                status=str(CaseStatus.RECEIVED),
                source_kind=source_kind,
                source_path=source_path,
                source_subject=subject,
                subject_company=subject_company,
                fingerprint=fingerprint,
                documents=[],
            )
            s.add(case)
            s.flush()
            taken: set[str] = set()
            for role, entries in (("document", hashes), ("original", kept)):
                for name, sha, size in entries:
                    unique = name
                    while unique in taken:
                        unique = f"原件-{unique}"
                    taken.add(unique)
                    s.add(CaseFile(case_id=case_id, name=unique, sha256=sha, size=size, role=role))
            s.add(
                Audit(
                    case_id=case_id,
                    actor=actor,
                    from_status=None,
                    to_status=str(CaseStatus.RECEIVED),
                    detail=f"ingested {len(files)} file(s) from {source_kind}: {source_path}",
                )
            )
            if mail_key is not None:  # same transaction: the case and its ledger row exist together or not at all
                s.add(MailLedger(mailbox=mail_key[0], uidvalidity=mail_key[1], uid=mail_key[2], case_id=case_id))
        return self.get_case(case_id)

    def mail_seen(self, mailbox: str, uidvalidity: str, uid: str) -> MailLedger | None:
        with self.sessions() as s:
            q = select(MailLedger).where(
                MailLedger.mailbox == mailbox, MailLedger.uidvalidity == uidvalidity, MailLedger.uid == uid
            )
            return s.scalars(q).first()

    def mail_flagged(self, ledger_id: int) -> None:
        with self.session() as s:
            row = s.get(MailLedger, ledger_id)
            if row is not None:
                row.flagged = True

    def get_case(self, case_id: str) -> Case:
        with self.sessions() as s:
            case = s.get(Case, case_id)
            if case is None:
                raise StoreError(f"no case {case_id}")
            return case

    def list_cases(self, status: CaseStatus | None = None) -> list[Case]:
        with self.sessions() as s:
            q = select(Case).order_by(Case.created_at)
            if status:
                q = q.where(Case.status == status)
            return list(s.scalars(q))

    def case_files(self, case_id: str, role: str | None = "document") -> list[CaseFile]:
        """The case's documents (``role="original"``: the containers as received; ``None``: both)."""
        with self.sessions() as s:
            q = select(CaseFile).where(CaseFile.case_id == case_id)
            if role is not None:
                q = q.where(CaseFile.role == role)
            return list(s.scalars(q.order_by(CaseFile.id)))

    def transition(
        self,
        case_id: str,
        to: CaseStatus,
        *,
        actor: str = "system",
        detail: str = "",
        expect: set[CaseStatus] | None = None,
        **updates: Any,
    ) -> Case:
        """Move a case to ``to`` (with column updates) and write the audit row, in one transaction.  The move must
        be one of the lifecycle's (:data:`pipeline.models.CASE_TRANSITIONS`); ``expect``: the case must be in one
        of these statuses (compare-and-set between workers)."""
        with self.session() as s:
            case = s.get(Case, case_id, with_for_update=True)
            if case is None:
                raise StoreError(f"no case {case_id}")
            frm = case.status
            if expect is not None and frm not in expect:
                raise InvalidTransition(f"case {case_id} is {frm}, expected one of {sorted(map(str, expect))}")
            if not transition_allowed(frm, to):
                raise InvalidTransition(f"case {case_id}: {frm} → {to} is not allowed")
            case.status = str(to)
            for k, v in updates.items():
                setattr(case, k, v)
            case.updated_at = datetime.now(UTC)
            s.add(Audit(case_id=case_id, actor=actor, from_status=frm, to_status=str(to), detail=detail))
        return self.get_case(case_id)

    # ------------------------------------------------------------------ fields and findings
    def replace_fields(self, case_id: str, fields: dict[str, Field], source: str = "extract") -> None:
        """``extract``: replace all extracted fields (a reviewer's correction of a key is kept);
        any other source (``reviewer``): set just these keys, over whatever was there."""
        with self.session() as s:
            if source == "extract":
                stale = select(CaseField).where(CaseField.case_id == case_id, CaseField.source == source)
            else:
                stale = select(CaseField).where(CaseField.case_id == case_id, CaseField.key.in_(list(fields)))
            for row in s.scalars(stale):
                s.delete(row)
            s.flush()
            existing = {r.key for r in s.scalars(select(CaseField).where(CaseField.case_id == case_id))}
            for key, f in fields.items():
                if key in existing:  # a reviewer's correction wins over a re-extraction
                    continue
                s.add(
                    CaseField(
                        case_id=case_id,
                        key=key,
                        value=f.value,
                        confidence=f.confidence,
                        evidence=f.evidence.to_json() if f.evidence else None,
                        source=source,
                    )
                )

    def fields(self, case_id: str) -> dict[str, Field]:
        with self.sessions() as s:
            rows = s.scalars(select(CaseField).where(CaseField.case_id == case_id).order_by(CaseField.id))
            return {
                r.key: Field.from_json({"value": r.value, "confidence": r.confidence, "evidence": r.evidence})
                for r in rows
            }

    def replace_findings(self, case_id: str, stage: str, findings: list[Finding]) -> None:
        with self.session() as s:
            for row in s.scalars(select(CaseFinding).where(CaseFinding.case_id == case_id, CaseFinding.stage == stage)):
                s.delete(row)
            for f in findings:
                j = f.to_json()
                s.add(
                    CaseFinding(
                        case_id=case_id,
                        stage=stage,
                        code=f.code,
                        severity=str(f.severity),
                        field=f.field,
                        message=f.message_zh,
                        evidence=j["evidence"],
                        resolved=False,
                    )
                )

    def findings(self, case_id: str, unresolved_only: bool = False, exclude_stage: str | None = None) -> list[Finding]:
        with self.sessions() as s:
            q = select(CaseFinding).where(CaseFinding.case_id == case_id).order_by(CaseFinding.id)
            if exclude_stage:
                q = q.where(CaseFinding.stage != exclude_stage)
            if unresolved_only:
                q = q.where(CaseFinding.resolved.is_(False))
            return [
                Finding.from_json(
                    {
                        "code": r.code,
                        "severity": r.severity,
                        "field": r.field,
                        "message": r.message,
                        "evidence": r.evidence,
                    }
                )
                for r in s.scalars(q)
            ]

    # ------------------------------------------------------------------ certificates and outputs
    def serial_exists(self, serial_hex: str) -> bool:
        with self.sessions() as s:
            return s.get(Certificate, serial_hex) is not None

    def certificates(self, case_id: str | None = None) -> list[Certificate]:
        with self.sessions() as s:
            q = select(Certificate).order_by(Certificate.created_at)
            if case_id:
                q = q.where(Certificate.case_id == case_id)
            return list(s.scalars(q))

    def key_already_certified(self, fingerprint: str, exclude_case: str | None = None) -> Certificate | None:
        with self.sessions() as s:
            q = select(Certificate).where(
                Certificate.key_fingerprint == fingerprint, Certificate.state.in_(("issued", "reserved"))
            )
            if exclude_case:
                q = q.where(Certificate.case_id != exclude_case)
            return s.scalars(q).first()

    def reserve_certificate(
        self, case_id: str, kind: str, serial_hex: str, org_code: str | None, key_fingerprint: str | None
    ) -> Certificate:
        """Record the serial before signing (unique per case and kind; unique serial)."""
        with self.session() as s:
            existing = s.scalars(
                select(Certificate).where(Certificate.case_id == case_id, Certificate.kind == kind)
            ).first()
            if existing is not None:
                return existing
            cert = Certificate(
                serial=serial_hex,
                case_id=case_id,
                kind=kind,
                state="reserved",
                org_code=org_code,
                key_fingerprint=key_fingerprint,
                subject="",
            )
            s.add(cert)
        return cert

    def mark_certificate_issued(
        self, serial_hex: str, *, subject: str, not_before: datetime, not_after: datetime, der_sha256: str
    ) -> None:
        with self.session() as s:
            cert = s.get(Certificate, serial_hex)
            if cert is None:
                raise StoreError(f"no reserved certificate {serial_hex}")
            cert.state, cert.subject, cert.der_sha256 = "issued", subject, der_sha256
            cert.not_before, cert.not_after = not_before, not_after

    def record_output(self, case_id: str, name: str, path: Path, sha: str) -> None:
        with self.session() as s:
            row = s.scalars(select(Output).where(Output.case_id == case_id, Output.name == name)).first()
            if row is None:
                s.add(Output(case_id=case_id, name=name, path=str(path), sha256=sha))
            else:
                row.path, row.sha256 = str(path), sha

    def outputs(self, case_id: str) -> dict[str, str]:
        with self.sessions() as s:
            return {o.name: o.path for o in s.scalars(select(Output).where(Output.case_id == case_id))}

    def audit_rows(self, case_id: str) -> list[Audit]:
        with self.sessions() as s:
            return list(s.scalars(select(Audit).where(Audit.case_id == case_id).order_by(Audit.id)))

    # ------------------------------------------------------------------ revocation
    def certificate(self, serial_hex: str) -> Certificate | None:
        with self.sessions() as s:
            return s.get(Certificate, serial_hex.upper())

    def revoke_case_certificates(self, serial_hex: str, reason: str, at: datetime, actor: str = "system") -> list[str]:
        """Revoke the certificate ``serial_hex`` and its dual partner (same case); returns revoked serials."""
        with self.session() as s:
            cert = s.get(Certificate, serial_hex.upper())
            if cert is None:
                raise StoreError(f"no certificate {serial_hex}")
            pair = list(s.scalars(select(Certificate).where(Certificate.case_id == cert.case_id)))
            done = []
            for c in pair:
                if c.state == "issued":
                    c.state, c.revoked_at, c.revocation_reason = "revoked", at, reason
                    c.scheduled_revocation_at = None
                    done.append(c.serial)
            s.add(
                Audit(
                    case_id=cert.case_id,
                    actor=actor,
                    from_status=None,
                    to_status=None,
                    detail=f"revoked {', '.join(done)} ({reason})",
                )
            )
            return done

    def import_certificate(
        self,
        *,
        office: str,
        serial_hex: str,
        org_code: str,
        org_name: str,
        subject: str,
        not_before: datetime | None,
        not_after: datetime | None,
        revoked: bool,
        der_sha256: str | None,
        source: str,
        actor: str = "system",
    ) -> str | None:
        """A certificate issued before this system (``cert-intake certs import``): one inert case (status
        ``imported``) holding it as a signing certificate.  None when the serial is already in the store."""
        serial = serial_hex.upper()
        with self.session() as s:
            if s.get(Certificate, serial) is not None:
                return None
            case_id = new_case_id()
            s.add(
                Case(
                    id=case_id,
                    office=office,
                    status=str(CaseStatus.IMPORTED),
                    source_kind="import",
                    source_path=source[:2000],
                    applicant_name=org_name[:200] or None,
                    org_code=org_code[:40] or None,
                    fingerprint=sha256_bytes(f"import:{serial}".encode()),
                    documents=[],
                )
            )
            s.flush()
            s.add(
                Certificate(
                    serial=serial,
                    case_id=case_id,
                    kind="sign",
                    state="revoked" if revoked else "issued",
                    org_code=org_code or None,
                    subject=subject,
                    not_before=not_before,
                    not_after=not_after,
                    der_sha256=der_sha256,
                    revoked_at=datetime.now(UTC) if revoked else None,
                    revocation_reason="unspecified" if revoked else None,
                )
            )
            s.add(
                Audit(
                    case_id=case_id,
                    actor=actor,
                    from_status=None,
                    to_status=str(CaseStatus.IMPORTED),
                    detail=f"certificate {serial} imported from {source[:500]}",
                )
            )
            return case_id

    def schedule_revocation(self, serial_hex: str, at: datetime, by_case: str) -> None:
        with self.session() as s:
            cert = s.get(Certificate, serial_hex.upper())
            if cert is None:
                raise StoreError(f"no certificate {serial_hex}")
            cert.scheduled_revocation_at, cert.scheduled_by_case = at, by_case

    def due_revocations(self, now: datetime) -> list[Certificate]:
        with self.sessions() as s:
            q = select(Certificate).where(
                Certificate.state == "issued",
                Certificate.kind == "sign",
                Certificate.scheduled_revocation_at.is_not(None),
                Certificate.scheduled_revocation_at <= now,
            )
            return list(s.scalars(q))

    def revoked(self) -> list[Certificate]:
        with self.sessions() as s:
            return list(
                s.scalars(select(Certificate).where(Certificate.state == "revoked").order_by(Certificate.revoked_at))
            )

    def next_crl_number(self, path: str, at: datetime) -> int:
        with self.session() as s:
            state = s.get(CrlState, 1, with_for_update=True)
            if state is None:
                state = CrlState(id=1, number=0)
                s.add(state)
            state.number += 1
            state.published_at, state.path = at, path
            return state.number

    # ------------------------------------------------------------------ delivery
    def delivery(self, case_id: str, channel: str) -> Delivery | None:
        with self.sessions() as s:
            return s.scalars(select(Delivery).where(Delivery.case_id == case_id, Delivery.channel == channel)).first()

    def record_delivery(self, case_id: str, channel: str, recipient: str, message_id: str) -> None:
        with self.session() as s:
            s.add(Delivery(case_id=case_id, channel=channel, recipient=recipient, message_id=message_id))

    # ------------------------------------------------------------------ product registry
    def import_registry(self, rows: list[Any]) -> int:
        """Insert or update registry rows (objects with number, product_name, model, maker, issued_on, valid_until)."""
        with self.session() as s:
            for r in rows:
                entry = s.get(ProductRegistryEntry, r.number) or ProductRegistryEntry(number=r.number)
                entry.product_name, entry.model, entry.maker = r.product_name, r.model, r.maker
                entry.issued_on, entry.valid_until = r.issued_on, r.valid_until
                entry.imported_at = datetime.now(UTC)
                s.add(entry)
        return len(rows)

    def registry_entry(self, number: str) -> ProductRegistryEntry | None:
        with self.sessions() as s:
            return s.get(ProductRegistryEntry, number.upper())

    def registry_size(self) -> int:
        from sqlalchemy import func

        with self.sessions() as s:
            return int(s.scalar(select(func.count()).select_from(ProductRegistryEntry)) or 0)

    def active_certificates(self, org_code: str, exclude_case: str | None = None) -> list[Certificate]:
        with self.sessions() as s:
            q = select(Certificate).where(
                Certificate.org_code == org_code, Certificate.kind == "sign", Certificate.state == "issued"
            )
            if exclude_case:
                q = q.where(Certificate.case_id != exclude_case)
            return list(s.scalars(q))
