"""Extract: classify each file of a case, read it (text layer first, OCR otherwise), pull out fields.

Plain functions over plain data; the OCR engine is handed in (loaded once per process by the caller).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from PIL import Image

from pipeline.extract import der, gridlines, images
from pipeline.extract.checkbox import ticked_options
from pipeline.extract.classify import classify_der, classify_text, name_hint, sniff
from pipeline.extract.forms import (
    AttachmentSpecs,
    FormExtraction,
    OfficeProfile,
    TextItem,
    category_from_text,
    extract_form,
    extract_labeled,
    norm_label,
)
from pipeline.extract.marks import seal_field, signature_field
from pipeline.extract.ocr import LineRecognizer, OcrEngine, OcrPage
from pipeline.extract.repair import repair_fields
from pipeline.extract.textlayer import TextLayerError, docx_items, pdf_items, xlsx_items
from pipeline.models import (
    DocKind,
    Document,
    Evidence,
    Extraction,
    Field,
    Finding,
    TextSource,
    error,
    info,
    warning,
)

log = logging.getLogger(__name__)
EngineFactory = Callable[[], OcrEngine]
OCR_CACHE_VERSION = "2"  # bump when image preparation or OCR post-processing changes


class OcrCache(Protocol):
    """OCR results by file hash: a re-run of a case (after a failure, a merge, a correction) does not OCR
    the same file again.  Holds, per page, the rotation extraction chose and the recognised text boxes."""

    def get(self, sha256: str, engine: str) -> list[dict[str, Any]] | None: ...

    def put(self, sha256: str, engine: str, pages: list[dict[str, Any]]) -> None: ...


@dataclass
class ReadDocument:
    name: str
    sha256: str
    container: str
    kind: DocKind
    text_source: TextSource
    pages: int
    items: list[TextItem] = field(default_factory=list)
    page_images: dict[int, Image.Image] = field(default_factory=dict)
    ocr_seconds: float = 0.0


def _page_quality(result: OcrPage) -> float:
    """How upright a page reads: confident, horizontal text lines (sideways or upside-down pages score low)."""
    if not result.boxes:
        return 0.0
    horizontal = [b for b in result.boxes if (b.bbox[2] - b.bbox[0]) >= (b.bbox[3] - b.bbox[1])]
    return sum(b.score * len(b.text) for b in horizontal) / max(1, sum(len(b.text) for b in result.boxes))


UPRIGHT = 0.75


def _reads_lines(engine: OcrEngine) -> bool:
    return bool(getattr(engine, "reads_lines", hasattr(engine, "recognize_lines")))


def _read_page(engine: OcrEngine, image: Image.Image) -> OcrPage:
    """A ruled form: its text lines come from the pixels (gridlines) and only the recogniser runs; any
    other page, or a ruled one whose lines read badly, gets the engine's full detector + recogniser."""
    if _reads_lines(engine):
        lines = gridlines.text_lines(image)
        if lines:
            result = cast(LineRecognizer, engine).recognize_lines(image, lines)
            if _page_quality(result) >= UPRIGHT:
                return result
            full = engine.recognize(image)
            return OcrPage(full.width, full.height, full.boxes, full.seconds + result.seconds, full.engine)
    return engine.recognize(image)


def _ocr_pages(
    engine_factory: EngineFactory,
    pages: list[tuple[int, Image.Image]],
    doc: ReadDocument,
    cache: OcrCache | None = None,
) -> None:
    engine = engine_factory()
    key = f"{engine.name}/{OCR_CACHE_VERSION}"
    cached = {int(p["page"]): p for p in (cache.get(doc.sha256, key) or [])} if cache is not None else {}
    if cached and all(number in cached for number, _img in pages):
        for number, img in pages:  # preparation is deterministic: redo it, skip the OCR
            entry = cached[number]
            doc.page_images[number] = images.prepare(images.rotate_page(img, int(entry["rotation"]))).image
            doc.items.extend(TextItem(t, tuple(b), sc, number) for t, b, sc in entry["items"])
        return
    record: list[dict[str, Any]] = []
    for number, img in pages:
        prepared = images.prepare(img)
        page_img, result, rotation = prepared.image, _read_page(engine, prepared.image), 0
        doc.ocr_seconds += result.seconds
        if _page_quality(result) < UPRIGHT:  # a page fed sideways or upside down: try the other three ways
            for degrees in (180, 90, 270):
                turned = images.prepare(images.rotate_page(img, degrees)).image
                again = engine.recognize(turned)
                doc.ocr_seconds += again.seconds
                if _page_quality(again) > _page_quality(result):
                    page_img, result, rotation = turned, again, degrees
                if _page_quality(result) >= UPRIGHT:
                    break
        doc.page_images[number] = page_img
        doc.items.extend(TextItem(b.text, b.bbox, b.score, number) for b in result.boxes)
        record.append(
            {"page": number, "rotation": rotation, "items": [[b.text, list(b.bbox), b.score] for b in result.boxes]}
        )
    if cache is not None:
        cache.put(doc.sha256, key, record)


def read_document(
    name: str,
    sha: str,
    data: bytes,
    engine_factory: EngineFactory,
    findings: list[Finding],
    cache: OcrCache | None = None,
) -> ReadDocument:
    """Read one file; problems become findings, never exceptions."""
    container = sniff(data, name)
    doc = ReadDocument(name, sha, container, DocKind.OTHER, TextSource.NONE, 0)
    if container == "empty":
        findings.append(error("FILE_EMPTY", None, f"文件“{name}”为空（0 字节）", Evidence(name)))
        return doc
    if container == "der":
        doc.kind, doc.text_source, doc.pages = classify_der(data), TextSource.DER, 1
        if doc.kind == DocKind.OTHER:
            findings.append(
                error(
                    "DER_UNREADABLE",
                    None,
                    f"文件“{name}”看似证书或证书请求，但无法解析：{der.parse_csr(data).error}",
                    Evidence(name),
                )
            )
        return doc
    try:
        if container == "image":
            pages = images.load_pages(data)
            doc.text_source, doc.pages = TextSource.OCR, len(pages)
            _ocr_pages(engine_factory, list(enumerate(pages, start=1)), doc, cache)
        elif container == "pdf":
            layer = pdf_items(data)
            doc.items, doc.pages = layer.items, layer.pages
            doc.text_source = TextSource.PDF_TEXT if layer.items else TextSource.OCR
            if layer.page_images:
                numbered = list(zip(layer.image_page_numbers, layer.page_images, strict=True))
                _ocr_pages(engine_factory, numbered, doc, cache)
        elif container == "docx":
            layer = docx_items(data)
            doc.items, doc.pages, doc.text_source = layer.items, 1, TextSource.DOCX
        elif container == "xlsx":
            layer = xlsx_items(data)
            doc.items, doc.pages, doc.text_source = layer.items, layer.pages, TextSource.XLSX
        else:
            findings.append(
                warning(
                    "FILE_TYPE_UNSUPPORTED",
                    None,
                    f"文件“{name}”的格式无法识别（{container}），请人工查看",
                    Evidence(name),
                )
            )
            return doc
    except images.ImageRejected as exc:
        findings.append(error(exc.code, None, f"图像文件“{name}”无法处理：{exc.reason}", Evidence(name)))
        return doc
    except TextLayerError as exc:
        findings.append(error(exc.code, None, f"文件“{name}”无法读取：{exc.reason}", Evidence(name)))
        return doc
    return doc


def detect_office(docs: list[ReadDocument], profiles: dict[str, OfficeProfile], default: str) -> OfficeProfile:
    text = "".join(norm_label(it.text) for d in docs for it in d.items)
    for profile in profiles.values():
        if any(norm_label(k) in text for k in profile.form_keywords if len(norm_label(k)) > 8):
            return profile
    return profiles[default]


def extract_case(
    files: list[tuple[str, str, bytes]],
    profiles: dict[str, OfficeProfile],
    default_office: str,
    engine_factory: EngineFactory,
    attachments: AttachmentSpecs | None = None,
    cache: OcrCache | None = None,
) -> tuple[OfficeProfile, Extraction, list[ReadDocument]]:
    """files: (name, sha256, bytes).  Returns the office profile, the extraction and the read documents."""
    start = time.perf_counter()
    findings: list[Finding] = []
    docs = [read_document(name, sha, data, engine_factory, findings, cache) for name, sha, data in files]
    profile = detect_office(docs, profiles, default_office)
    fields: dict[str, Field] = {}
    form_docs = []
    for doc in docs:
        if doc.kind != DocKind.OTHER or not doc.items:
            continue
        fx = extract_form(
            doc.items, profile, doc.name, with_bbox=doc.text_source in (TextSource.OCR, TextSource.PDF_TEXT)
        )
        kind = classify_text("".join(it.text for it in doc.items), profile.form_keywords, fx.labels_found)
        if kind == DocKind.OTHER:
            kind = name_hint(doc.name) or DocKind.OTHER
        doc.kind = kind
        if kind == DocKind.APPLICATION_FORM:
            if fx.missing and doc.page_images:
                fx = _second_look(doc, fx, profile, engine_factory)
            form_docs.append((doc, fx))
    if len(form_docs) > 1:
        findings.append(
            warning("MULTIPLE_FORMS", None, f"案件中有 {len(form_docs)} 份申请表，仅读取第一份：{form_docs[0][0].name}")
        )
    if form_docs:
        doc, fx = form_docs[0]
        fields.update(fx.fields)
        fields.update(_marks(doc))
        cat = _category(doc, fx, profile)
        if cat is not None:
            fields["category"] = cat
        elif fx.category_texts:
            findings.append(
                warning(
                    "CATEGORY_UNREADABLE",
                    "category",
                    "无法识别申请类别的勾选情况，请人工确认",
                    Evidence(doc.name, 1, fx.category_box),
                )
            )
    if attachments is not None:
        fields.update(_attachment_fields(docs, attachments))
    fields, repairs = repair_fields(fields)
    findings.extend(repairs)
    fields.update(_der_fields(files, docs))
    timings = {
        "extract_s": time.perf_counter() - start,
        "ocr_s": sum(d.ocr_seconds for d in docs),
        "ocr_pages": float(sum(len(d.page_images) for d in docs)),
    }
    documents = [Document(d.name, d.sha256, d.kind, d.pages, d.text_source) for d in docs]
    if not any(d.kind == DocKind.APPLICATION_FORM for d in docs):
        findings.append(info("NO_APPLICATION_FORM_READ", None, "未在材料中识别到申请表"))
    return profile, Extraction(documents, fields, findings, timings), docs


SECOND_LOOK_SCALE = 2.0


def _second_look(
    doc: ReadDocument, fx: FormExtraction, profile: OfficeProfile, engine_factory: EngineFactory
) -> FormExtraction:
    """OCR again, enlarged, the cells whose label was found but whose value the page-level pass missed."""
    engine = engine_factory()
    added: list[TextItem] = []
    for page, (x0, y0, x1, y1) in fx.missing.values():
        img = doc.page_images.get(page)
        if img is None or x1 - x0 < 8 or y1 - y0 < 8:
            continue
        box = (int(max(0, x0)), int(max(0, y0)), int(min(img.width, x1)), int(min(img.height, y1)))
        crop = img.crop(box)
        crop = crop.resize((int(crop.width * SECOND_LOOK_SCALE), int(crop.height * SECOND_LOOK_SCALE)))
        result = engine.recognize(crop)
        doc.ocr_seconds += result.seconds
        for b in result.boxes:
            bx0, by0, bx1, by1 = (v / SECOND_LOOK_SCALE for v in b.bbox)
            added.append(TextItem(b.text, (bx0 + box[0], by0 + box[1], bx1 + box[0], by1 + box[1]), b.score, page))
    if not added:
        return fx
    doc.items.extend(added)
    return extract_form(doc.items, profile, doc.name)


def _marks(doc: ReadDocument) -> dict[str, Field]:
    """seal_present / signature_present (是/否) from the scan; text layers cannot show them."""
    out: dict[str, Field] = {}
    if not doc.page_images:
        return out
    page = max(doc.page_images)  # the promise block with seal and signature ends the form
    img = doc.page_images[page]
    out["seal_present"] = seal_field(img, doc.name, page)
    sig = signature_field(img, doc.items, doc.name, page)
    if sig is not None:
        out["signature_present"] = sig
    return out


def _attachment_fields(docs: list[ReadDocument], specs: AttachmentSpecs) -> dict[str, Field]:
    """Namespaced fields of the licence, ID copies (numbered), product certificate and invoice."""
    out: dict[str, Field] = {}
    others = specs.stop_labels + tuple(a for group in specs.by_kind.values() for f in group for a in f.labels)
    id_copies = 0
    for doc in docs:
        group = specs.by_kind.get(str(doc.kind))
        if not group or not doc.items:
            continue
        with_bbox = doc.text_source in (TextSource.OCR, TextSource.PDF_TEXT)
        found = extract_labeled(doc.items, group, others, doc.name, with_bbox)
        if doc.kind == DocKind.ID_CARD:
            id_copies += 1
            found = {k.replace("id_card.", f"id_card.{id_copies}.", 1): v for k, v in found.items()}
        for key, value in found.items():
            out.setdefault(key, value)
    return out


def _category(doc: ReadDocument, fx: FormExtraction, profile: OfficeProfile) -> Field | None:
    options = profile.category_options
    if not fx.category_texts:
        return None
    evidence = Evidence(doc.name, fx.category_texts[0].page, fx.category_box)
    page_img = doc.page_images.get(fx.category_texts[0].page)
    if page_img is not None and fx.category_box is not None:
        result = ticked_options(page_img, fx.category_box, fx.category_texts, options)
        if result is not None:
            ticked, _boxes, conf = result
            return Field("、".join(ticked), conf if len(ticked) == 1 else min(conf, 0.5), evidence)
    ticked_txt = category_from_text(fx.category_texts, options)
    if ticked_txt is None:
        return None
    conf = 0.99 if doc.text_source != TextSource.OCR else 0.8
    return Field("、".join(ticked_txt), conf if len(ticked_txt) == 1 else 0.5, evidence)


def _der_fields(files: list[tuple[str, str, bytes]], docs: list[ReadDocument]) -> dict[str, Field]:
    out: dict[str, Field] = {}
    for (name, _sha, data), doc in zip(files, docs, strict=True):
        if doc.kind == DocKind.CSR and "csr.subject_cn" not in out:
            p = der.parse_csr(data)
            ev = Evidence(name)
            for attr, key in (("common_name", "csr.subject_cn"), ("organization_name", "csr.subject_o")):
                if attr in p.subject:
                    out[key] = Field(p.subject[attr], 1.0, ev)
            if p.key:
                out["csr.key_algorithm"] = Field(p.key.algorithm, 1.0, ev)
            if p.fingerprint:
                out["csr.key_fingerprint"] = Field(p.fingerprint, 1.0, ev)
        elif doc.kind == DocKind.CERTIFICATE and "cert.serial" not in out:
            c = der.parse_certificate(data)
            if c.serial_hex:
                out["cert.serial"] = Field(c.serial_hex, 1.0, Evidence(name))
            if "common_name" in c.subject:
                out["cert.subject_cn"] = Field(c.subject["common_name"], 1.0, Evidence(name))
    return out
