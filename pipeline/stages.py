"""The stages wired in one visible place: ingest → extract → validate → route → issue.

Each stage reads the case from the store and writes its result back, so any stage can be re-run on a
case (idempotent).  These functions never import Prefect; ``pipeline.flows`` wraps them.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from pipeline import extract as extract_stage
from pipeline import ingest as ingest_stage
from pipeline import policy
from pipeline import validate as validate_stage
from pipeline.actions import Action, ActionRules, OldCertificate, rules
from pipeline.config import Settings
from pipeline.errors import CaseBusy, CertIntakeError, ConfigError, InvalidTransition, IssuanceRefused
from pipeline.extract.ocr import OcrEngine, limited_engine
from pipeline.extract.snapshots import snapshots
from pipeline.ingest.imap import ImapConfig
from pipeline.issue import Issuer, IssueRequest, LocalIssuer
from pipeline.issue.ca import LocalCA
from pipeline.issue.delivery import SmtpConfig, build_message, bundle_zip, send_smtp, write_outbox
from pipeline.issue.external import ExternalIssuer, IssuancePending
from pipeline.issue.notice import NoticeData, to_pdf, write_notice
from pipeline.issue.revoke import publish_crl
from pipeline.models import DocKind, Document, Field, Route, Severity, TextSource, info
from pipeline.profiles import AttachmentSpecs, OfficeProfile, load_attachment_specs, load_profiles
from pipeline.store import Store
from pipeline.validate import crossdoc
from pipeline.workdays import add_working_days

log = logging.getLogger("cert_intake")


@dataclass
class Context:
    settings: Settings
    timings: dict[str, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.profiles  # noqa: B018 — a bad office profile stops every command at start, naming file and key

    @cached_property
    def store(self) -> Store:
        return Store.open(self.settings.database_url, self.settings.blob_dir)

    @cached_property
    def profiles(self) -> dict[str, OfficeProfile]:
        return load_profiles(self.settings.forms_dir)

    @cached_property
    def attachment_specs(self) -> AttachmentSpecs:
        return load_attachment_specs(self.settings.forms_dir)

    def ocr(self) -> OcrEngine:
        return limited_engine(self.settings.ocr_engine, self.settings.ocr_options, self.settings.ocr_concurrency)

    @cached_property
    def local_ca(self) -> LocalCA:
        return LocalCA.load_or_init(self.settings.ca_dir)

    @cached_property
    def issuer(self) -> Issuer:
        if self.settings.issuer == "external":
            return ExternalIssuer(
                self.store, self.settings.external_dir or self.settings.home / "external", self.settings.outputs_dir
            )
        return LocalIssuer(self.store, self.local_ca, self.settings.outputs_dir)

    def timing(self, case_id: str, key: str, seconds: float) -> None:
        self.timings.setdefault(case_id, {})[key] = self.timings.get(case_id, {}).get(key, 0.0) + seconds


# --------------------------------------------------------------------------- ingest


def ingest_path(
    ctx: Context, path: Path, medium: bool = False, from_inbox: bool = False
) -> list[ingest_stage.IngestOutcome]:
    """``from_inbox``: an entry of the watched folder, which leaves the folder only after it is stored — seeing
    it again means a run died in between, so the case already stored is its case (not a duplicate)."""
    subs = ingest_stage.collect_medium(path) if medium else ingest_stage.collect(path)
    return [ingest_stage.ingest(ctx.store, sub, ctx.settings.default_office, resume=from_inbox) for sub in subs]


def process_outcomes(ctx: Context, outcomes: list[ingest_stage.IngestOutcome]) -> list[dict[str, Any]]:
    """Run the stages for freshly ingested cases (duplicates are reported, not processed again)."""
    return [case_contract(ctx, o.case_id) if o.duplicate_of else process_case(ctx, o.case_id) for o in outcomes]


def take_inbox_entry(ctx: Context, entry: Path) -> list[dict[str, Any]]:
    """A settled entry of the watched folder: ingest it (resuming its case after a crash) and process it."""
    return process_outcomes(ctx, ingest_path(ctx, entry, from_inbox=True))


def imap_config(ctx: Context) -> ImapConfig:
    cfg = ctx.settings.imap
    if not cfg.get("host"):
        raise ConfigError("no IMAP server configured: add `imap:` (host, port, username, password_env) to config.yaml")
    return ImapConfig(
        host=str(cfg["host"]),
        port=int(cfg.get("port", 993)),
        security=str(cfg.get("security", "ssl")),
        username=str(cfg.get("username", "")),
        password=os.environ.get(str(cfg.get("password_env", "CERT_INTAKE_IMAP_PASSWORD")), ""),
        folder=str(cfg.get("folder", "INBOX")),
        move_to=cfg.get("move_to"),
    )


# --------------------------------------------------------------------------- extract


def _case_files(ctx: Context, case_id: str) -> list[tuple[str, str, bytes]]:
    return [(f.name, f.sha256, ctx.store.blobs.get(f.sha256)) for f in ctx.store.case_files(case_id)]


def run_extract(ctx: Context, case_id: str) -> None:
    start = time.perf_counter()
    files = _case_files(ctx, case_id)
    profile, result, docs = extract_stage.extract_case(
        files, ctx.profiles, ctx.settings.default_office, ctx.ocr, ctx.attachment_specs, cache=ctx.store.ocr_cache
    )
    ctx.store.save_pages(case_id, snapshots(files, docs))
    ctx.store.replace_fields(case_id, result.fields)
    ctx.store.replace_findings(case_id, "extract", result.findings)
    ctx.store.transition(
        case_id,
        "extracted",
        detail=f"{len(result.documents)} document(s), "
        f"{len(result.fields)} field(s), OCR {result.timings.get('ocr_s', 0):.2f}s",
        office=profile.office,
        documents=[d.to_json() for d in result.documents],
        applicant_name=result.fields["applicant_name"].value if "applicant_name" in result.fields else None,
        org_code=result.fields["org_code"].value if "org_code" in result.fields else None,
    )
    ctx.timing(case_id, "ocr_s", result.timings.get("ocr_s", 0.0))
    ctx.timing(case_id, "ocr_pages", result.timings.get("ocr_pages", 0.0))
    ctx.timing(case_id, "extract_s", time.perf_counter() - start)


def _documents(ctx: Context, case_id: str) -> list[Document]:
    case = ctx.store.get_case(case_id)
    return [
        Document(
            d["name"], d["sha256"], DocKind(d["kind"]), d["pages"], TextSource(d["text_source"]), d.get("first_page")
        )
        for d in case.documents
    ]


# --------------------------------------------------------------------------- validate + route


def run_validate(ctx: Context, case_id: str, actor: str = "system") -> Route:
    start = time.perf_counter()
    case = ctx.store.get_case(case_id)
    profile = ctx.profiles.get(case.office) or ctx.profiles[ctx.settings.default_office]
    fields = ctx.store.fields(case_id)
    documents = _documents(ctx, case_id)
    files = {name: data for name, _sha, data in _case_files(ctx, case_id)}

    def key_seen(fp: str) -> str | None:
        cert = ctx.store.key_already_certified(fp, exclude_case=case_id)
        return cert.case_id if cert else None

    def known_certificate(serial: str) -> validate_stage.KnownCertificate | None:
        cert = ctx.store.certificate(serial)
        if cert is None or cert.kind != "sign":
            return None
        return validate_stage.KnownCertificate(cert.serial, cert.org_code, cert.state, cert.not_after, cert.der_sha256)

    def registry(number: str) -> crossdoc.RegistryInfo | None:
        e = ctx.store.registry_entry(number)
        return crossdoc.RegistryInfo(e.number, e.product_name, e.model, e.valid_until) if e else None

    org = fields["org_code"].value if "org_code" in fields else None
    # the organisation's active certificates, less those renew already scheduled for revocation
    held = (
        [c for c in ctx.store.active_certificates(org, exclude_case=case_id) if c.scheduled_revocation_at is None]
        if org
        else []
    )
    category, findings = validate_stage.validate_case(
        validate_stage.CaseInput(
            profile,
            fields,
            documents,
            files,
            case.subject_company,
            key_seen,
            known_certificate,
            registry=registry,
            registry_size=ctx.store.registry_size(),
            active_certificates=len(held),
            held_certificates=tuple(c.serial for c in held),
            today=case.created_at.date(),
        )
    )
    # what ingest and extraction found, not this stage's own findings of an earlier run (a re-validation
    # after a correction must not be held back by the findings it replaces)
    earlier = ctx.store.findings(case_id, exclude_stage="validate")
    route, extra = validate_stage.route(fields, findings + earlier, profile, category)
    findings += extra
    if route == Route.ISSUE and ctx.store.reviewed(case_id):  # people touched it: an approver decides
        route = Route.REVIEW
        findings.append(info("APPROVAL_REQUIRED", None, "案件经过人工更正或核对，须经审批管理员复核批准后方可签发"))
    action = profile.action_of(category)
    if policy.needs_person(profile, action):  # the office's review policy, revocation authority
        route = Route.REVIEW
        findings.append(info("REVIEW_REQUIRED", None, policy.why_person_zh(profile, action)))
    proposed = validate_stage.proposal(findings + earlier) if route == Route.REVIEW else None
    ctx.store.replace_findings(case_id, "validate", findings)
    ctx.store.transition(
        case_id,
        "validated",
        actor=actor,
        detail=f"{len(findings)} finding(s), route {route}",
        route=str(route),
        category=category,
        proposal=proposed,
    )
    if route == Route.REVIEW:
        ctx.store.transition(case_id, "review", actor=actor, detail="doubt → reviewer")
    ctx.timing(case_id, "validate_s", time.perf_counter() - start)
    return route


# --------------------------------------------------------------------------- issue


def is_clean(ctx: Context, case_id: str) -> bool:
    """No unresolved error or warning and every required field above the threshold."""
    return not any(f.severity in (Severity.ERROR, Severity.WARNING) for f in ctx.store.findings(case_id, True))


def run_issue(ctx: Context, case_id: str, actor: str = "system") -> None:
    """Carry out the action of the case's category (issue, renew, replace, change, add, revoke, unlock) for a
    case that is clean (validated + route issue) or approved by a reviewer; refuse anything else."""
    start = time.perf_counter()
    case = ctx.store.get_case(case_id)
    if case.status == "validated":
        if case.route != str(Route.ISSUE) or not is_clean(ctx, case_id) or ctx.store.reviewed(case_id):
            raise IssuanceRefused(f"case {case_id} is not clean; it must be approved by a reviewer first")
    elif case.status not in ("approved", "issuing"):
        raise IssuanceRefused(f"case {case_id} is {case.status}; only clean or approved cases are issued")
    profile = ctx.profiles.get(case.office) or ctx.profiles[ctx.settings.default_office]
    action = profile.action_of(case.category)
    if action is None:
        raise IssuanceRefused(f"case {case_id}: category {case.category!r} has no action in profile {profile.office}")
    _policy_gate(ctx, case_id, profile, action)
    if case.status != "issuing":
        # compare-and-set: of two workers that both saw the case approved, one goes on, the other stops
        started = {"validated", "approved"}
        ctx.store.transition(case_id, "issuing", actor=actor, detail=f"{action} started", expect=started)
    job = _Job(case_id, action, case.category or "", ctx.store.fields(case_id), profile, actor)
    if action is Action.REVOKE:
        _revoke(ctx, job)
    elif action is Action.UNLOCK:
        _unlock(ctx, job)
    else:
        _issue_certificate(ctx, job)
    ctx.timing(case_id, "issue_s", time.perf_counter() - start)


def _policy_gate(ctx: Context, case_id: str, profile: OfficeProfile, action: Action) -> None:
    """The office's review policy and revocation authority, checked again right before anything is signed or
    revoked: a case that needs people never reaches issuance without their recorded approvals."""
    blockers = policy.issuance_blockers(profile, action, ctx.store.review_actions(case_id))
    if blockers:
        raise IssuanceRefused(
            f"case {case_id} ({profile.office}, {action}, review policy {policy.policy(profile)}): "
            + "; ".join(blockers)
        )


@dataclass(frozen=True)
class _Job:
    """One case being carried out: what issuance, revocation and the notice need to know."""

    case_id: str
    action: Action
    category: str
    fields: dict[str, Field]
    profile: OfficeProfile
    actor: str

    @property
    def rules(self) -> ActionRules:
        return rules(self.action)


def _old_serial(ctx: Context, job: _Job) -> str:
    """The certificate the request names (its .cer file first, else the form's 序号), one of ours."""
    for key in ("cert.serial", "old_cert_serial"):
        f = job.fields.get(key)
        serial = f.value.strip().upper().lstrip("0") if f and f.value else ""
        if serial and ctx.store.certificate(serial) is not None:
            return serial
    raise IssuanceRefused(f"case {job.case_id}: the old certificate ({job.action}) is not one of ours")


def _revoke_old(ctx: Context, job: _Job, serial: str) -> datetime:
    """Revoke the old pair and publish the CRL; when it was revoked (a re-run after a crash keeps the first time)."""
    now = datetime.now(UTC).replace(microsecond=0)
    reason = job.rules.revocation_reason
    revoked = ctx.store.revoke_case_certificates(serial, reason, now, actor=f"{job.actor} ({job.action} {job.case_id})")
    publish_crl(ctx.store, ctx.local_ca, ctx.settings.crl_path, now)
    log.info("case %s (%s): revoked %s (%s); CRL published", job.case_id, job.action, ", ".join(revoked), reason)
    cert = ctx.store.certificate(serial)
    return cert.revoked_at if cert is not None and cert.revoked_at is not None else now


def _issue_certificate(ctx: Context, job: _Job) -> None:
    """issue_new, add, renew, replace, change: a new pair; the old certificate as the action says."""
    fate = job.rules.old_certificate
    old_serial = _old_serial(ctx, job) if job.rules.needs_old_certificate else None
    revoked_at = None
    if old_serial and fate is OldCertificate.REVOKE_BEFORE_ISSUE:  # 补办: the lost key dies first
        revoked_at = _revoke_old(ctx, job, old_serial)
    csr_docs = [d for d in _documents(ctx, job.case_id) if d.kind == DocKind.CSR]
    if not csr_docs:
        raise IssuanceRefused(f"case {job.case_id} has no CSR")
    csr_der = {name: data for name, _sha, data in _case_files(ctx, job.case_id)}[csr_docs[0].name]
    fields = job.fields
    name = fields["applicant_name"].value
    out = ctx.issuer.issue(
        IssueRequest(
            case_id=job.case_id,
            applicant_name=name,
            common_name=fields["common_name"].value if "common_name" in fields else name,
            org_code=fields["org_code"].value if "org_code" in fields else None,
            csr_der=csr_der,
            profile=dict(job.profile.raw.get("profile") or {}),
        )
    )
    issued_at = datetime.fromisoformat(out.not_before)
    old_revoke_at = None
    if old_serial and fate is OldCertificate.REVOKE_AFTER_GRACE:  # 更新: the old one lives on for a while
        old_revoke_at = add_months(issued_at, _grace_months(job.profile))
        ctx.store.schedule_revocation(old_serial, old_revoke_at, by_case=job.case_id)
    elif old_serial and fate is OldCertificate.REVOKE_AFTER_ISSUE:  # 变更: the old subject's certificate ends
        revoked_at = _revoke_old(ctx, job, old_serial)
    change_record = _change_record(ctx, job, old_serial, out.serial) if job.action is Action.CHANGE else None
    outs = ctx.store.outputs(job.case_id)
    files = [Path(outs[k]) for k in ("sign_cert", "env_cert", "envelope", "chain") if k in outs]
    notice = _notice(
        ctx,
        job,
        [p.name for p in files],
        serial=out.serial,
        issued_at=issued_at,
        valid_until=datetime.fromisoformat(out.not_after),
        old_serial=old_serial,
        old_revoke_at=old_revoke_at,
        revoked_at=revoked_at,
        change_record=change_record,
    )
    ctx.store.transition(job.case_id, "issued", actor=job.actor, detail=f"{job.action}: sign.cer serial {out.serial}")
    if _deliver(ctx, job.case_id, fields, job.profile, [*files, notice]):
        ctx.store.transition(job.case_id, "delivered", actor=job.actor, detail="delivery mail sent")


def _change_record(ctx: Context, job: _Job, old_serial: str | None, new_serial: str) -> str:
    """变更: the record the seed asks for — the old certificate's subject → the new one's — kept on the case
    (a CHANGE_RECORD finding of the issue stage) and printed in the 告知书."""
    old = ctx.store.certificate(old_serial) if old_serial else None
    new = ctx.store.certificate(new_serial)
    before = (old.subject if old else "") or "（原证书主体不详）"
    after = new.subject if new else ""
    text = f"证书主体由“{before}”变更为“{after}”"
    ctx.store.replace_findings(job.case_id, "issue", [info("CHANGE_RECORD", None, text)])
    return text


def _grace_months(profile: OfficeProfile) -> int:
    return profile.settings.renew_revokes_old_after_months if profile.settings else 1


def _revoke(ctx: Context, job: _Job) -> None:
    serial = _old_serial(ctx, job)
    now = _revoke_old(ctx, job, serial)
    notice = _notice(ctx, job, [], old_serial=serial, revoked_at=now)
    ctx.store.transition(job.case_id, "revoked", actor=job.actor, detail=f"revoked {serial}; CRL published")
    _deliver(ctx, job.case_id, job.fields, job.profile, [notice])


def _unlock(ctx: Context, job: _Job) -> None:
    """解锁: nothing is issued or revoked (a CSR sent along is ignored); recorded, notice, ledger row."""
    now = datetime.now(UTC).replace(microsecond=0)
    notice = _notice(ctx, job, [], done_at=now)
    ctx.store.transition(job.case_id, "issued", actor=job.actor, detail="unlock recorded; no certificate issued")
    if _deliver(ctx, job.case_id, job.fields, job.profile, [notice]):
        ctx.store.transition(job.case_id, "delivered", actor=job.actor, detail="delivery mail sent")


def _notice(ctx: Context, job: _Job, files: list[str], **facts: Any) -> Path:
    path = ctx.settings.outputs_dir / job.case_id / "告知书.docx"
    profile = job.profile
    settings = profile.settings
    blob = write_notice(
        ctx.settings.forms_dir / "templates" / "notice.docx",
        NoticeData(
            case_id=job.case_id,
            action=job.action,
            category=profile.category_aliases.get(job.category, job.category),
            categories=profile.categories,
            customer=job.fields["applicant_name"].value if "applicant_name" in job.fields else "",
            office_name=profile.name,
            office_phone=settings.office_phone if settings else "",
            form_title=settings.notice_title if settings else "数字证书",
            handler=ctx.settings.clerk,
            files=files,
            note=settings.notice_note if settings else "",
            grace_months=_grace_months(profile),
            **facts,
        ),
        path,
    )
    ctx.store.record_output(job.case_id, "notice", path, ctx.store.blobs.put(blob))
    if settings is not None and settings.notice_pdf:
        pdf = to_pdf(path)
        if pdf is not None:
            ctx.store.record_output(job.case_id, "notice_pdf", pdf, ctx.store.blobs.put(pdf.read_bytes()))
    return path


def _deliver(
    ctx: Context, case_id: str, fields: dict[str, Field], profile: OfficeProfile, attachments: list[Path]
) -> bool:
    """Zip bundle and .eml in the outbox always; SMTP when configured.  True when mail was sent now."""
    out_dir = ctx.settings.outputs_dir / case_id
    bundle = out_dir.parent / f"{case_id}.zip"
    ctx.store.record_output(case_id, "bundle", bundle, ctx.store.blobs.put(bundle_zip(attachments, bundle)))
    recipient = fields["email"].value if "email" in fields else None
    if not recipient:
        return False
    smtp = ctx.settings.smtp
    msg = build_message(
        sender=str(smtp.get("sender", "ca-office@localhost")),
        recipient=recipient,
        applicant=fields["applicant_name"].value if "applicant_name" in fields else "",
        office_name=profile.name,
        case_id=case_id,
        attachments=attachments,
    )
    eml = write_outbox(ctx.store, case_id, msg, ctx.settings.outbox_dir)
    ctx.store.record_output(case_id, "mail", eml, ctx.store.blobs.put(eml.read_bytes()))
    if not smtp.get("host"):
        return False
    cfg = SmtpConfig(
        host=str(smtp["host"]),
        port=int(smtp.get("port", 587)),
        security=str(smtp.get("security", "starttls")),
        username=smtp.get("username"),
        password=os.environ.get(str(smtp.get("password_env", "CERT_INTAKE_SMTP_PASSWORD"))),
        sender=str(smtp.get("sender", "ca-office@localhost")),
    )
    return send_smtp(ctx.store, case_id, msg, cfg)


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


# --------------------------------------------------------------------------- one case


def process_case(ctx: Context, case_id: str) -> dict[str, Any]:
    """Run every stage a case still needs; an exception marks the case failed and is reported, not raised.
    One process works on a case at a time (the store's case lock): a second one leaves it be."""
    try:
        with ctx.store.case_lock(case_id):
            _advance(ctx, case_id)
    except CaseBusy as exc:
        log.info("%s", exc)
    return case_contract(ctx, case_id)


def _advance(ctx: Context, case_id: str) -> None:
    try:
        case = ctx.store.get_case(case_id)
        if case.status in ("received", "failed"):
            run_extract(ctx, case_id)
            case = ctx.store.get_case(case_id)
        if case.status == "extracted":
            run_validate(ctx, case_id)
            case = ctx.store.get_case(case_id)
        if case.status == "validated" and case.route == str(Route.REVIEW):  # stopped between the two steps
            ctx.store.transition(case_id, "review", detail="doubt → reviewer")
        elif (case.status == "validated" and case.route == str(Route.ISSUE)) or case.status in ("approved", "issuing"):
            run_issue(ctx, case_id)
    except IssuancePending as exc:
        log.info("%s", exc)
    except InvalidTransition as exc:  # another worker moved the case on meanwhile: its work, not a failure
        log.info("case %s moved on elsewhere: %s", case_id, exc)
    except CertIntakeError as exc:
        _fail(ctx, case_id, exc)
    except Exception as exc:  # one bad case never stops the batch: record it, keep the originals
        log.exception("case %s failed", case_id)
        _fail(ctx, case_id, exc)


def _fail(ctx: Context, case_id: str, exc: BaseException) -> None:
    reason = f"{type(exc).__name__}: {exc}"
    case = ctx.store.get_case(case_id)
    if case.status in ("received", "extracted", "validated", "approved", "issuing"):
        ctx.store.transition(case_id, "failed", detail=reason[:2000], failure=reason[:2000])


def _deadline(ctx: Context, office: str, received: date) -> str | None:
    """When the office must have answered: received + the profile's working days (holidays from the profile)."""
    profile = ctx.profiles.get(office)
    days = int(profile.raw.get("deadline_working_days", 0) or 0) if profile else 0
    if not days or profile is None:
        return None
    holidays = [date.fromisoformat(str(d)) for d in profile.raw.get("holidays") or []]
    return add_working_days(received, days, holidays).isoformat()


def case_contract(ctx: Context, case_id: str) -> dict[str, Any]:
    """The JSON object of the architecture doc's contract."""
    case = ctx.store.get_case(case_id)
    source: dict[str, Any] = {"kind": case.source_kind, "path": case.source_path}
    if case.source_subject:
        source["subject"] = case.source_subject
    if case.subject_company:
        source["subject_company"] = case.subject_company
    outputs: dict[str, Any] = dict(ctx.store.outputs(case_id))
    sign = next((c for c in ctx.store.certificates(case_id) if c.kind == "sign" and c.state == "issued"), None)
    if sign is not None:
        outputs["serial"] = sign.serial
        outputs["not_after"] = sign.not_after.isoformat() if sign.not_after else None
    result: dict[str, Any] = {
        "case_id": case.id,
        "office": case.office,
        "source": source,
        "documents": [{k: v for k, v in d.items() if k != "sha256"} for d in case.documents],
        "fields": {k: f.to_json() for k, f in ctx.store.fields(case_id).items()},
        "findings": [f.to_json() for f in ctx.store.findings(case_id)],
        "route": case.route or ("review" if case.status in ("failed", "duplicate") else None),
        "proposal": case.proposal,
        "deadline": _deadline(ctx, case.office, case.created_at.date()),
        "status": case.status,
        "outputs": outputs,
    }
    if case.duplicate_of:
        result["duplicate_of"] = case.duplicate_of
    if case.failure:
        result["failure"] = case.failure
    if case_id in ctx.timings:
        result["timings"] = {k: round(v, 3) for k, v in ctx.timings[case_id].items()}
    return result
