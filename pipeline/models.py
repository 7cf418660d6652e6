"""Plain data types exchanged between the stages (frozen dataclasses, no behaviour beyond (de)serialising)."""

from __future__ import annotations

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
