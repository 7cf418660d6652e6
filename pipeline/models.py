"""Plain data types exchanged between the stages (frozen dataclasses, no behaviour beyond (de)serialising)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

BBox = tuple[float, float, float, float]
"""x0, y0, x1, y1 in pixels of the page image (OCR) or PDF points (text layer)."""


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Route(StrEnum):
    ISSUE = "issue"
    REVIEW = "review"
    REJECT = "reject"


class CaseStatus(StrEnum):
    """Where a case stands (architecture doc, case lifecycle).  The strings are what the database, the audit
    rows and the JSON contract hold; the moves between them are :data:`CASE_TRANSITIONS`."""

    RECEIVED = "received"
    EXTRACTED = "extracted"
    VALIDATED = "validated"
    REVIEW = "review"  # waits for a person
    AWAITING = "awaiting"  # 补正: waiting for the applicant's materials
    APPROVED = "approved"
    ISSUING = "issuing"
    ISSUED = "issued"
    DELIVERED = "delivered"
    REVOKED = "revoked"
    REJECTED = "rejected"
    FAILED = "failed"  # an exception stopped it; a re-run picks it up
    DUPLICATE = "duplicate"  # a submission already seen
    MERGED = "merged"  # its files went into another case
    IMPORTED = "imported"  # a certificate issued before this system (cert-intake certs import); never processed

    def can_move_to(self, to: str) -> bool:
        return to in CASE_TRANSITIONS[self]

    @property
    def final(self) -> bool:
        """Carried out or closed: no stage works on the case again (``issued`` still moves to ``delivered`` when its
        mail goes out; a carried-out case to ``revoked``)."""
        return self in FINAL_STATUSES


_S = CaseStatus

# The case lifecycle: every allowed move, the one table the store checks (``Store.transition``).  Re-running a
# stage on a case is a self-transition.
CASE_TRANSITIONS: Mapping[CaseStatus, frozenset[CaseStatus]] = {
    _S.RECEIVED: frozenset({_S.RECEIVED, _S.EXTRACTED, _S.FAILED, _S.DUPLICATE, _S.MERGED}),
    _S.EXTRACTED: frozenset({_S.EXTRACTED, _S.VALIDATED, _S.FAILED, _S.MERGED}),
    _S.VALIDATED: frozenset({_S.VALIDATED, _S.EXTRACTED, _S.REVIEW, _S.ISSUING, _S.FAILED, _S.MERGED}),
    _S.REVIEW: frozenset(
        {
            _S.REVIEW,
            _S.EXTRACTED,
            _S.VALIDATED,
            _S.APPROVED,
            _S.REJECTED,
            _S.AWAITING,
            _S.DUPLICATE,
            _S.RECEIVED,
            _S.MERGED,
        }
    ),
    _S.AWAITING: frozenset({_S.AWAITING, _S.RECEIVED, _S.REVIEW, _S.REJECTED, _S.MERGED}),
    _S.APPROVED: frozenset({_S.ISSUING, _S.REVIEW, _S.FAILED}),
    _S.ISSUING: frozenset({_S.ISSUED, _S.REVOKED, _S.FAILED}),
    _S.ISSUED: frozenset({_S.DELIVERED, _S.REVOKED}),
    _S.DELIVERED: frozenset({_S.REVOKED}),
    _S.FAILED: frozenset({_S.RECEIVED, _S.EXTRACTED, _S.VALIDATED, _S.MERGED}),
    _S.REJECTED: frozenset(),
    _S.DUPLICATE: frozenset(),
    _S.MERGED: frozenset(),
    _S.REVOKED: frozenset(),
    _S.IMPORTED: frozenset(),
}
FINAL_STATUSES = frozenset({_S.ISSUED, _S.DELIVERED, _S.REJECTED, _S.DUPLICATE, _S.MERGED, _S.REVOKED, _S.IMPORTED})


def transition_allowed(frm: str, to: str) -> bool:
    """Whether the lifecycle allows ``frm`` → ``to`` (an unknown status allows nothing)."""
    try:
        return CaseStatus(to) in CASE_TRANSITIONS[CaseStatus(frm)]
    except ValueError:
        return False


class DocKind(StrEnum):
    APPLICATION_FORM = "application_form"
    BUSINESS_LICENSE = "business_license"
    ID_CARD = "id_card"
    PRODUCT_CERT = "product_cert"
    INVOICE = "invoice"
    CSR = "csr"
    CERTIFICATE = "certificate"
    OTHER = "other"


class TextSource(StrEnum):
    OCR = "ocr"
    PDF_TEXT = "pdf_text"
    DOCX = "docx"
    XLSX = "xlsx"
    DER = "der"
    NONE = "none"


@dataclass(frozen=True)
class Evidence:
    document: str
    page: int = 1
    bbox: BBox | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "document": self.document,
            "page": self.page,
            "bbox": [round(v, 1) for v in self.bbox] if self.bbox else None,
        }


@dataclass(frozen=True)
class Field:
    value: str
    confidence: float
    evidence: Evidence | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "confidence": round(self.confidence, 4),
            "evidence": self.evidence.to_json() if self.evidence else None,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Field:
        ev = data.get("evidence")
        evidence = None
        if ev:
            bbox = tuple(ev["bbox"]) if ev.get("bbox") else None
            evidence = Evidence(ev["document"], ev.get("page", 1), bbox)
        return Field(str(data["value"]), float(data["confidence"]), evidence)


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    field: str | None
    message_zh: str
    evidence: Evidence | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": str(self.severity),
            "field": self.field,
            "message": self.message_zh,
            "evidence": self.evidence.to_json() if self.evidence else None,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Finding:
        ev = data.get("evidence")
        evidence = (
            Evidence(ev["document"], ev.get("page", 1), tuple(ev["bbox"]) if ev.get("bbox") else None) if ev else None
        )
        return Finding(data["code"], Severity(data["severity"]), data.get("field"), data["message"], evidence)


def error(code: str, field_name: str | None, message: str, evidence: Evidence | None = None) -> Finding:
    return Finding(code, Severity.ERROR, field_name, message, evidence)


def warning(code: str, field_name: str | None, message: str, evidence: Evidence | None = None) -> Finding:
    return Finding(code, Severity.WARNING, field_name, message, evidence)


def info(code: str, field_name: str | None, message: str, evidence: Evidence | None = None) -> Finding:
    return Finding(code, Severity.INFO, field_name, message, evidence)


@dataclass(frozen=True)
class SourceFile:
    """One file of a submission as it arrived (name sanitised, bytes in the blob store)."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Document:
    name: str
    sha256: str
    kind: DocKind
    pages: int
    text_source: TextSource
    first_page: int | None = None  # set when the file is a stack of several documents

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "kind": str(self.kind),
            "pages": self.pages,
            "text_source": str(self.text_source),
            "sha256": self.sha256,
        }
        if self.first_page is not None:
            out["first_page"] = self.first_page
        return out


@dataclass(frozen=True)
class Extraction:
    """What the extract stage produced for a case."""

    documents: list[Document]
    fields: dict[str, Field]
    findings: list[Finding]
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class IssuedOutputs:
    serial: str
    sign_cert: str
    chain: str
    not_before: str
    not_after: str
    extra: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, str]:
        out = {
            "serial": self.serial,
            "sign_cert": self.sign_cert,
            "chain": self.chain,
            "not_before": self.not_before,
            "not_after": self.not_after,
        }
        out.update(self.extra)
        return out


def as_plain(obj: Any) -> Any:
    """Dataclass → JSON-friendly dict (for logging/debug)."""
    return asdict(obj)


@dataclass(frozen=True)
class CaseResult:
    """One case as the JSON contract of ``cert-intake process --json`` shows it (architecture doc)."""

    case_id: str
    office: str
    source: Mapping[str, Any]  # kind, path, and subject / subject_company when known
    documents: tuple[Mapping[str, Any], ...]  # name, kind, pages, text_source (first_page in a stack)
    fields: Mapping[str, Field]
    findings: tuple[Finding, ...]
    route: str | None
    proposal: Any
    deadline: str | None  # ISO date the office must have answered by
    status: CaseStatus
    outputs: Mapping[str, Any]  # output paths, and the signing certificate's serial and not_after
    duplicate_of: str | None = None
    failure: str | None = None
    timings: Mapping[str, float] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "case_id": self.case_id,
            "office": self.office,
            "source": dict(self.source),
            "documents": [dict(d) for d in self.documents],
            "fields": {k: f.to_json() for k, f in self.fields.items()},
            "findings": [f.to_json() for f in self.findings],
            "route": self.route,
            "proposal": self.proposal,
            "deadline": self.deadline,
            "status": str(self.status),
            "outputs": dict(self.outputs),
        }
        if self.duplicate_of:
            out["duplicate_of"] = self.duplicate_of
        if self.failure:
            out["failure"] = self.failure
        if self.timings is not None:
            out["timings"] = {k: round(v, 3) for k, v in self.timings.items()}
        return out
