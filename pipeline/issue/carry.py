"""Carrying out a case's action (issue_new, add, renew, replace, change, revoke, unlock) from one snapshot.

The wiring (``pipeline.stages``) gates the case, reads it once into a :class:`CaseSnapshot` and calls
:func:`carry_out` with the collaborators (:class:`IssueDesk`).  This module does what cannot be undone, in the
order the action's rules say (``pipeline.actions``): revoke the old certificate and publish the CRL, issue the
new pair, write the 告知书.  It returns an :class:`IssueResult` — the status to move to, the outputs, the
scheduled revocation and the findings — which the wiring records before it delivers
(:func:`pipeline.issue.delivery.deliver`) and moves the case on.

The issuer records its own certificates and outputs (a serial is reserved before signing), revocation and the
CRL go straight to the store: their order is the action's meaning (补办 revokes before issuing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.actions import Action, ActionRules, OldCertificate, rules
from pipeline.errors import IssuanceRefused
from pipeline.issue import Issuer, IssueRequest
from pipeline.issue.ca import LocalCA
from pipeline.issue.notice import NoticeData, to_pdf, write_notice
from pipeline.issue.revoke import publish_crl
from pipeline.models import CaseStatus, Field, Finding, info
from pipeline.profiles import OfficeProfile
from pipeline.store import Store

log = logging.getLogger("cert_intake")

# the issuer's outputs that go to the customer, in the order they are listed and attached
DELIVERED_OUTPUTS = ("sign_cert", "env_cert", "envelope", "chain")


@dataclass(frozen=True)
class CertificateRecord:
    """The certificate a request names (renew, replace, change, revoke), as the store held it."""

    serial: str
    subject: str
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class CaseSnapshot:
    """Everything carrying out a case needs, read once from the store."""

    case_id: str
    action: Action
    category: str
    fields: Mapping[str, Field]
    profile: OfficeProfile
    actor: str
    csr_der: bytes | None = None  # the case's first CSR (read only for an action that issues)
    old_certificate: CertificateRecord | None = None  # the named certificate, when it is one of ours

    @property
    def rules(self) -> ActionRules:
        return rules(self.action)

    def value(self, key: str, default: str = "") -> str:
        f = self.fields.get(key)
        return f.value if f is not None else default


@dataclass(frozen=True)
class IssueDesk:
    """The collaborators: the store, the issuer, the CA (loaded only when something is revoked) and paths."""

    store: Store
    issuer: Issuer
    ca: Callable[[], LocalCA]
    outputs_dir: Path
    crl_path: Path
    notice_template: Path
    clerk: str


@dataclass(frozen=True)
class OutputFile:
    """A file written for the case (the 告知书 and its PDF): recorded as output ``key``."""

    key: str
    path: Path
    data: bytes


@dataclass(frozen=True)
class ScheduledRevocation:
    serial: str
    at: datetime
    by_case: str


@dataclass(frozen=True)
class IssueResult:
    """What carrying out a case did, and what the wiring records."""

    case_id: str
    status: CaseStatus  # issued | revoked
    detail: str  # the audit row's text
    outputs: tuple[OutputFile, ...] = ()
    scheduled: tuple[ScheduledRevocation, ...] = ()
    findings: tuple[Finding, ...] = ()  # the issue stage's findings (变更: the CHANGE_RECORD)
    attachments: tuple[Path, ...] = ()  # what the delivery mail and the bundle carry
    serial: str | None = None  # the new signing certificate
    revoked: tuple[str, ...] = ()  # serials revoked now
    deliverable: bool = True  # a sent mail moves the case on to delivered (not after a revocation)


def grace_months(profile: OfficeProfile) -> int:
    return profile.settings.renew_revokes_old_after_months if profile.settings else 1


def add_months(when: datetime, months: int) -> datetime:
    month = when.month - 1 + months
    year, month = when.year + month // 12, month % 12 + 1
    day = min(
        when.day,
        [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][
            month - 1
        ],
    )
    return when.replace(year=year, month=month, day=day)


def carry_out(snap: CaseSnapshot, desk: IssueDesk) -> IssueResult:
    """Carry out the snapshot's action; raise :class:`IssuanceRefused` when it cannot be."""
    if snap.action is Action.REVOKE:
        return _revoke(snap, desk)
    if snap.action is Action.UNLOCK:
        return _unlock(snap, desk)
    return _issue_certificate(snap, desk)


def _old(snap: CaseSnapshot) -> CertificateRecord:
    if snap.old_certificate is None:
        raise IssuanceRefused(f"case {snap.case_id}: the old certificate ({snap.action}) is not one of ours")
    return snap.old_certificate


def _revoke_old(snap: CaseSnapshot, desk: IssueDesk, old: CertificateRecord) -> tuple[datetime, list[str]]:
    """Revoke the old pair and publish the CRL; when it was revoked (a re-run after a crash keeps the first
    time) and the serials revoked now."""
    now = datetime.now(UTC).replace(microsecond=0)
    reason = snap.rules.revocation_reason
    revoked = desk.store.revoke_case_certificates(
        old.serial, reason, now, actor=f"{snap.actor} ({snap.action} {snap.case_id})"
    )
    publish_crl(desk.store, desk.ca(), desk.crl_path, now)
    log.info("case %s (%s): revoked %s (%s); CRL published", snap.case_id, snap.action, ", ".join(revoked), reason)
    return (old.revoked_at or now), revoked


def _issue_certificate(snap: CaseSnapshot, desk: IssueDesk) -> IssueResult:
    """issue_new, add, renew, replace, change: a new pair; the old certificate as the action says."""
    fate = snap.rules.old_certificate
    old = _old(snap) if snap.rules.needs_old_certificate else None
    revoked_at = None
    revoked: list[str] = []
    if old and fate is OldCertificate.REVOKE_BEFORE_ISSUE:  # 补办: the lost key dies first
        revoked_at, revoked = _revoke_old(snap, desk, old)
    if snap.csr_der is None:
        raise IssuanceRefused(f"case {snap.case_id} has no CSR")
    name = snap.fields["applicant_name"].value
    out = desk.issuer.issue(
        IssueRequest(
            case_id=snap.case_id,
            applicant_name=name,
            common_name=snap.value("common_name", name),
            org_code=snap.fields["org_code"].value if "org_code" in snap.fields else None,
            csr_der=snap.csr_der,
            profile=dict(snap.profile.raw.get("profile") or {}),
        )
    )
    issued_at = datetime.fromisoformat(out.not_before)
    old_revoke_at = None
    scheduled: tuple[ScheduledRevocation, ...] = ()
    if old and fate is OldCertificate.REVOKE_AFTER_GRACE:  # 更新: the old one lives on for a while
        old_revoke_at = add_months(issued_at, grace_months(snap.profile))
        scheduled = (ScheduledRevocation(old.serial, old_revoke_at, snap.case_id),)
    elif old and fate is OldCertificate.REVOKE_AFTER_ISSUE:  # 变更: the old subject's certificate ends
        revoked_at, revoked = _revoke_old(snap, desk, old)
    findings: tuple[Finding, ...] = ()
    change_record = None
    if snap.action is Action.CHANGE:
        change_record = _change_record(desk, old, out.serial)
        findings = (info("CHANGE_RECORD", None, change_record),)
    issued = out.to_json()
    files = [Path(issued[k]) for k in DELIVERED_OUTPUTS if issued.get(k)]
    notice, outputs = _notice(
        snap,
        desk,
        [p.name for p in files],
        serial=out.serial,
        issued_at=issued_at,
        valid_until=datetime.fromisoformat(out.not_after),
        old_serial=old.serial if old else None,
        old_revoke_at=old_revoke_at,
        revoked_at=revoked_at,
        change_record=change_record,
    )
    return IssueResult(
        snap.case_id,
        CaseStatus.ISSUED,
        f"{snap.action}: sign.cer serial {out.serial}",
        outputs=outputs,
        scheduled=scheduled,
        findings=findings,
        attachments=(*files, notice),
        serial=out.serial,
        revoked=tuple(revoked),
    )


def _change_record(desk: IssueDesk, old: CertificateRecord | None, new_serial: str) -> str:
    """变更: the record the seed asks for — the old certificate's subject → the new one's — kept on the case
    (a CHANGE_RECORD finding of the issue stage) and printed in the 告知书."""
    new = desk.store.certificate(new_serial)
    before = (old.subject if old else "") or "（原证书主体不详）"
    after = new.subject if new else ""
    return f"证书主体由“{before}”变更为“{after}”"


def _revoke(snap: CaseSnapshot, desk: IssueDesk) -> IssueResult:
    old = _old(snap)
    now, revoked = _revoke_old(snap, desk, old)
    notice, outputs = _notice(snap, desk, [], old_serial=old.serial, revoked_at=now)
    return IssueResult(
        snap.case_id,
        CaseStatus.REVOKED,
        f"revoked {old.serial}; CRL published",
        outputs=outputs,
        attachments=(notice,),
        revoked=tuple(revoked),
        deliverable=False,
    )


def _unlock(snap: CaseSnapshot, desk: IssueDesk) -> IssueResult:
    """解锁: nothing is issued or revoked (a CSR sent along is ignored); recorded, notice, ledger row."""
    now = datetime.now(UTC).replace(microsecond=0)
    notice, outputs = _notice(snap, desk, [], done_at=now)
    return IssueResult(
        snap.case_id,
        CaseStatus.ISSUED,
        "unlock recorded; no certificate issued",
        outputs=outputs,
        attachments=(notice,),
    )


def _notice(snap: CaseSnapshot, desk: IssueDesk, files: list[str], **facts: Any) -> tuple[Path, tuple[OutputFile, ...]]:
    """The 告知书 (and its PDF when the office wants one): the path attached, the outputs to record."""
    path = desk.outputs_dir / snap.case_id / "告知书.docx"
    profile = snap.profile
    settings = profile.settings
    blob = write_notice(
        desk.notice_template,
        NoticeData(
            case_id=snap.case_id,
            action=snap.action,
            category=profile.category_aliases.get(snap.category, snap.category),
            categories=profile.categories,
            customer=snap.value("applicant_name"),
            office_name=profile.name,
            office_phone=settings.office_phone if settings else "",
            form_title=settings.notice_title if settings else "数字证书",
            handler=desk.clerk,
            files=files,
            note=settings.notice_note if settings else "",
            grace_months=grace_months(profile),
            **facts,
        ),
        path,
    )
    outputs = [OutputFile("notice", path, blob)]
    if settings is not None and settings.notice_pdf:
        pdf = to_pdf(path)
        if pdf is not None:
            outputs.append(OutputFile("notice_pdf", pdf, pdf.read_bytes()))
    return path, tuple(outputs)
