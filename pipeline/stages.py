"""The stages wired in one visible place: ingest → extract → validate → route → issue.

Each stage reads the case from the store and writes its result back, so any stage can be re-run on a
case (idempotent).  These functions never import Prefect; ``pipeline.flows`` wraps them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

from pipeline import extract as extract_stage
from pipeline import ingest as ingest_stage
from pipeline import policy
from pipeline import validate as validate_stage
from pipeline.actions import Action, rules
from pipeline.config import Settings
from pipeline.errors import CaseBusy, CertIntakeError, ConfigError, InvalidTransition, IssuanceRefused
from pipeline.extract.ocr import OcrEngine, limited_engine
from pipeline.extract.snapshots import snapshots
from pipeline.ingest.imap import ImapConfig
from pipeline.issue import Issuer, LocalIssuer
from pipeline.issue.ca import LocalCA
from pipeline.issue.carry import CaseSnapshot, CertificateRecord, IssueDesk, IssueResult, carry_out
from pipeline.issue.carry import add_months as add_months  # the grace period's arithmetic, where tests find it
from pipeline.issue.delivery import Delivery, SmtpConfig, deliver
from pipeline.issue.external import ExternalIssuer, IssuancePending
from pipeline.models import CaseResult, CaseStatus, DocKind, Document, Field, Route, Severity, TextSource, info
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
        CaseStatus.EXTRACTED,
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
        CaseStatus.VALIDATED,
        actor=actor,
        detail=f"{len(findings)} finding(s), route {route}",
        route=str(route),
        category=category,
        proposal=proposed,
    )
    if route == Route.REVIEW:
        ctx.store.transition(case_id, CaseStatus.REVIEW, actor=actor, detail="doubt → reviewer")
    ctx.timing(case_id, "validate_s", time.perf_counter() - start)
    return route


# --------------------------------------------------------------------------- issue


def is_clean(ctx: Context, case_id: str) -> bool:
    """No unresolved error or warning and every required field above the threshold."""
    return not any(f.severity in (Severity.ERROR, Severity.WARNING) for f in ctx.store.findings(case_id, True))


def run_issue(ctx: Context, case_id: str, actor: str = "system") -> None:
    """Carry out the action of the case's category (issue, renew, replace, change, add, revoke, unlock) for a
    case that is clean (validated + route issue) or approved by a reviewer; refuse anything else.

    The wiring: gate the case, take one snapshot, carry it out (``pipeline.issue.carry``), record, deliver."""
    start = time.perf_counter()
    case = ctx.store.get_case(case_id)
    if case.status == CaseStatus.VALIDATED:
        if case.route != str(Route.ISSUE) or not is_clean(ctx, case_id) or ctx.store.reviewed(case_id):
            raise IssuanceRefused(f"case {case_id} is not clean; it must be approved by a reviewer first")
    elif case.status not in (CaseStatus.APPROVED, CaseStatus.ISSUING):
        raise IssuanceRefused(f"case {case_id} is {case.status}; only clean or approved cases are issued")
    profile = ctx.profiles.get(case.office) or ctx.profiles[ctx.settings.default_office]
    action = profile.action_of(case.category)
    if action is None:
        raise IssuanceRefused(f"case {case_id}: category {case.category!r} has no action in profile {profile.office}")
    _policy_gate(ctx, case_id, profile, action)
    if case.status != CaseStatus.ISSUING:
        # compare-and-set: of two workers that both saw the case approved, one goes on, the other stops
        started = {CaseStatus.VALIDATED, CaseStatus.APPROVED}
        ctx.store.transition(case_id, CaseStatus.ISSUING, actor=actor, detail=f"{action} started", expect=started)
    snap = _snapshot(ctx, case_id, case.category or "", case.documents, profile, action, actor)
    result = carry_out(snap, _desk(ctx))
    _record(ctx, result, actor)
    if _deliver(ctx, case_id, snap.fields, profile, list(result.attachments)) and result.deliverable:
        ctx.store.transition(case_id, CaseStatus.DELIVERED, actor=actor, detail="delivery mail sent")
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


def _snapshot(
    ctx: Context,
    case_id: str,
    category: str,
    documents: list[dict[str, Any]],
    profile: OfficeProfile,
    action: Action,
    actor: str,
) -> CaseSnapshot:
    """What carrying out the case needs, read once: its fields, its CSR (an action that issues), the certificate
    it names (its .cer file first, else the form's 序号) when that is one of ours."""
    fields = ctx.store.fields(case_id)
    todo = rules(action)
    csr_der = None
    csr_names = [d["name"] for d in documents if d["kind"] == DocKind.CSR]
    if todo.issues_certificate and csr_names:
        sha = {f.name: f.sha256 for f in ctx.store.case_files(case_id)}[csr_names[0]]
        csr_der = ctx.store.blobs.get(sha)
    old = None
    for key in ("cert.serial", "old_cert_serial") if todo.needs_old_certificate else ():
        f = fields.get(key)
        serial = f.value.strip().upper().lstrip("0") if f and f.value else ""
        cert = ctx.store.certificate(serial) if serial else None
        if cert is not None:
            old = CertificateRecord(serial, cert.subject or "", cert.revoked_at)
            break
    return CaseSnapshot(case_id, action, category, fields, profile, actor, csr_der, old)


def _desk(ctx: Context) -> IssueDesk:
    return IssueDesk(
        store=ctx.store,
        issuer=ctx.issuer,
        ca=lambda: ctx.local_ca,
        outputs_dir=ctx.settings.outputs_dir,
        crl_path=ctx.settings.crl_path,
        notice_template=ctx.settings.forms_dir / "templates" / "notice.docx",
        clerk=ctx.settings.clerk,
    )


def _record(ctx: Context, result: IssueResult, actor: str) -> None:
    """What carrying out the case did, on the case: findings, outputs, the scheduled revocation, its status."""
    if result.findings:
        ctx.store.replace_findings(result.case_id, "issue", list(result.findings))
    for out in result.outputs:
        ctx.store.record_output(result.case_id, out.key, out.path, ctx.store.blobs.put(out.data))
    for due in result.scheduled:
        ctx.store.schedule_revocation(due.serial, due.at, by_case=due.by_case)
    ctx.store.transition(result.case_id, result.status, actor=actor, detail=result.detail)


def _deliver(
    ctx: Context, case_id: str, fields: Mapping[str, Field], profile: OfficeProfile, attachments: list[Path]
) -> bool:
    """Zip bundle and .eml in the outbox always; SMTP when configured.  True when mail was sent now."""
    smtp = ctx.settings.smtp
    sender = str(smtp.get("sender", "ca-office@localhost"))
    how = Delivery(
        outputs_dir=ctx.settings.outputs_dir,
        outbox_dir=ctx.settings.outbox_dir,
        sender=sender,
        smtp=SmtpConfig(
            host=str(smtp["host"]),
            port=int(smtp.get("port", 587)),
            security=str(smtp.get("security", "starttls")),
            username=smtp.get("username"),
            password=os.environ.get(str(smtp.get("password_env", "CERT_INTAKE_SMTP_PASSWORD"))),
            sender=sender,
        )
        if smtp.get("host")
        else None,
    )
    return deliver(
        ctx.store,
        how,
        case_id,
        recipient=fields["email"].value if "email" in fields else None,
        applicant=fields["applicant_name"].value if "applicant_name" in fields else "",
        office_name=profile.name,
        attachments=attachments,
    )


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
        if case.status in (CaseStatus.RECEIVED, CaseStatus.FAILED):
            run_extract(ctx, case_id)
            case = ctx.store.get_case(case_id)
        if case.status == CaseStatus.EXTRACTED:
            run_validate(ctx, case_id)
            case = ctx.store.get_case(case_id)
        if case.status == CaseStatus.VALIDATED and case.route == str(Route.REVIEW):  # stopped between the two steps
            ctx.store.transition(case_id, CaseStatus.REVIEW, detail="doubt → reviewer")
        elif (case.status == CaseStatus.VALIDATED and case.route == str(Route.ISSUE)) or case.status in (
            CaseStatus.APPROVED,
            CaseStatus.ISSUING,
        ):
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


# a case in one of these is marked failed when an exception stops it (later ones are done or wait for a person)
FAILABLE = (CaseStatus.RECEIVED, CaseStatus.EXTRACTED, CaseStatus.VALIDATED, CaseStatus.APPROVED, CaseStatus.ISSUING)


def _fail(ctx: Context, case_id: str, exc: BaseException) -> None:
    reason = f"{type(exc).__name__}: {exc}"
    case = ctx.store.get_case(case_id)
    if case.status in FAILABLE:
        ctx.store.transition(case_id, CaseStatus.FAILED, detail=reason[:2000], failure=reason[:2000])


def _deadline(ctx: Context, office: str, received: date) -> str | None:
    """When the office must have answered: received + the profile's working days (holidays from the profile)."""
    profile = ctx.profiles.get(office)
    days = int(profile.raw.get("deadline_working_days", 0) or 0) if profile else 0
    if not days or profile is None:
        return None
    holidays = [date.fromisoformat(str(d)) for d in profile.raw.get("holidays") or []]
    return add_working_days(received, days, holidays).isoformat()


def case_result(ctx: Context, case_id: str) -> CaseResult:
    """The case as the architecture doc's JSON contract shows it."""
    case = ctx.store.get_case(case_id)
    status = CaseStatus(case.status)
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
    unrouted = str(Route.REVIEW) if status in (CaseStatus.FAILED, CaseStatus.DUPLICATE) else None
    return CaseResult(
        case_id=case.id,
        office=case.office,
        source=source,
        documents=tuple({k: v for k, v in d.items() if k != "sha256"} for d in case.documents),
        fields=ctx.store.fields(case_id),
        findings=tuple(ctx.store.findings(case_id)),
        route=case.route or unrouted,
        proposal=case.proposal,
        deadline=_deadline(ctx, case.office, case.created_at.date()),
        status=status,
        outputs=outputs,
        duplicate_of=case.duplicate_of,
        failure=case.failure,
        timings=dict(ctx.timings[case_id]) if case_id in ctx.timings else None,
    )


def case_contract(ctx: Context, case_id: str) -> dict[str, Any]:
    """The JSON object of the architecture doc's contract (``case_result(...).to_json()``)."""
    return case_result(ctx, case_id).to_json()
