"""What a file is: by content (magic bytes, DER structure, text keywords); the file name is only a hint."""

from __future__ import annotations

from pipeline.extract.textlayer import office_kind
from pipeline.models import DocKind
from pipeline.pki import der

IMAGE_MAGIC = {
    b"\xff\xd8\xff": "jpeg",
    b"\x89PNG\r\n\x1a\n": "png",
    b"II*\x00": "tiff",
    b"MM\x00*": "tiff",
    b"BM": "bmp",
    b"GIF8": "gif",
}

KEYWORDS: list[tuple[DocKind, tuple[str, ...]]] = [
    (DocKind.PRODUCT_CERT, ("商用密码产品认证证书", "产品认证证书", "认证委托人")),
    (DocKind.BUSINESS_LICENSE, ("营业执照", "统一社会信用代码证")),
    (DocKind.ID_CARD, ("公民身份号码", "居民身份证", "签发机关")),
    (DocKind.INVOICE, ("发票", "价税合计")),
]


def sniff(data: bytes, name: str) -> str:
    """Container type: pdf | image | docx | xlsx | der | empty | unknown."""
    if not data:
        return "empty"
    if data[:5] == b"%PDF-":
        return "pdf"
    for magic in IMAGE_MAGIC:
        if data.startswith(magic):
            return "image"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image"
    if data[:2] == b"PK":
        kind = office_kind(data)
        if kind:
            return kind
        lower = name.lower()  # a broken OOXML zip: let its reader report what is wrong
        return "docx" if lower.endswith(".docx") else "xlsx" if lower.endswith(".xlsx") else "zip"
    if der.looks_like_der_sequence(data):
        return "der"
    lower = name.lower()
    if lower.endswith((".csr", ".req", ".p10", ".pem", ".cer", ".crt", ".der")):
        return "der"
    return "unknown"


def classify_der(data: bytes) -> DocKind:
    if der.is_csr(data):
        return DocKind.CSR
    if der.is_certificate(data):
        return DocKind.CERTIFICATE
    return DocKind.OTHER


def classify_text(text: str, form_keywords: tuple[str, ...], label_hits: int) -> DocKind:
    compact = "".join(text.split())
    if any(k in compact for k in form_keywords) or label_hits >= 5:
        return DocKind.APPLICATION_FORM
    for kind, words in KEYWORDS:
        if any(w in compact for w in words):
            return kind
    return DocKind.OTHER


def name_hint(name: str) -> DocKind | None:
    hints = [
        ("申请表", DocKind.APPLICATION_FORM),
        ("营业执照", DocKind.BUSINESS_LICENSE),
        ("身份证", DocKind.ID_CARD),
        ("认证证书", DocKind.PRODUCT_CERT),
        ("发票", DocKind.INVOICE),
    ]
    for word, kind in hints:
        if word in name:
            return kind
    return None
