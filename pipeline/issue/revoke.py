"""Revocation and the CRL: execute scheduled revocations (the old certificate of a ``renew``, after the office's
grace period), publish an SM2 CRL.  Immediate revocations (revoke, replace, change) are done by the issue stage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.fsutil import atomic_write
from pipeline.issue.ca import LocalCA
from pipeline.issue.x509build import RevokedEntry, build_crl
from pipeline.store import Store

CRL_VALIDITY = timedelta(days=7)


def execute_due(store: Store, now: datetime | None = None) -> list[str]:
    """Revoke every certificate whose scheduled revocation time has come (superseded by a ``renew``)."""
    now = now or datetime.now(UTC)
    done: list[str] = []
    for cert in store.due_revocations(now):
        done += store.revoke_case_certificates(
            cert.serial, "superseded", now, actor=f"schedule:{cert.scheduled_by_case or '-'}"
        )
    return done


def publish_crl(store: Store, ca: LocalCA, path: Path, now: datetime | None = None) -> tuple[Path, int]:
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    number = store.next_crl_number(str(path), now)
    entries = [
        RevokedEntry(int(c.serial, 16), _aware(c.revoked_at) or now, c.revocation_reason or "unspecified")
        for c in store.revoked()
    ]
    crl = build_crl(ca.issuer_name, ca.issuing_key, ca.issuing_key_id, number, now, now + CRL_VALIDITY, entries)
    atomic_write(path, crl.dump())
    return path, number


def _aware(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
