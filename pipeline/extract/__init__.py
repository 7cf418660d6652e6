"""Extract: classify each file of a case, read it (text layer first, OCR otherwise), pull out fields.

Plain functions over plain data; the OCR engine is handed in (loaded once per process by the caller).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from PIL import Image
from rapidfuzz import fuzz
from stdnum.exceptions import ValidationError

from pipeline.extract import gridlines, images
from pipeline.extract.cellform import read_cells
from pipeline.extract.cells import build_page
from pipeline.extract.checkbox import beside_tick, empty_box_at_slot, slot_ticks, ticked_options
from pipeline.extract.classify import classify_der, classify_text, name_hint, sniff
from pipeline.extract.forms import (
    TICKED,
    FormExtraction,
    TextItem,
    category_from_text,
    clean_value,
    extract_form,
    extract_labeled,
    norm_label,
)
from pipeline.extract.marks import SIGNED_NAME_CONFIDENCE, seal_field, signature_field, signed_name
from pipeline.extract.ocr import LineRecognizer, OcrEngine, OcrPage, coarse, reads_lines
from pipeline.extract.photo import flat_page
from pipeline.extract.repair import repair_fields
from pipeline.extract.reread import email_read_twice, name_read_again
from pipeline.extract.textlayer import TextLayerError, docx_items, pdf_items, xlsx_items
from pipeline.identifiers import validate_resident_id
from pipeline.models import (
    BBox,
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
from pipeline.names import same_name
from pipeline.pki import der
from pipeline.profiles import AttachmentSpecs, OfficeProfile

log = logging.getLogger(__name__)
EngineFactory = Callable[[], OcrEngine]
OCR_CACHE_VERSION = "11"  # bump when image preparation or OCR post-processing changes


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
    cells: dict[int, list[BBox]] = field(default_factory=dict)  # page → table cell boxes (ruled pages)


def _page_quality(result: OcrPage) -> float:
    """How upright a page reads: confident, horizontal text lines (sideways or upside-down pages score low)."""
    if not result.boxes:
        return 0.0
    horizontal = [b for b in result.boxes if (b.bbox[2] - b.bbox[0]) >= (b.bbox[3] - b.bbox[1])]
    return sum(b.score * len(b.text) for b in horizontal) / max(1, sum(len(b.text) for b in result.boxes))


UPRIGHT = 0.9  # upright pages read 0.97–1.0 (scans and photos), upside-down ones 0.56–0.77
LINES_READ = 0.6  # share of a ruled page's line boxes the recogniser must read for the page to count as read


@dataclass
class PageRead:
    image: Image.Image
    result: OcrPage
    rotation: int
    ruled: gridlines.RuledPage | None


LINE_SAMPLE = 18  # lines of a ruled page read first, spread over the page
# a line at most this many times as wide as it is tall (seven characters) is short: a form's labels and most of
# its values.  The sample is drawn from such lines: cheap to read, and enough of them to tell an upright form (when
# lines were batched, a sample of any lines cost ~15 % more: its long lines padded the short ones batched with them)
SHORT_LINE = 320 / 48
# a sample reading worse than this is not worth reading on: upside-down forms read 0.56–0.77, and a page whose
# "lines" are the speckle of a photocopied fold (an invoice copy of seed 96969: 332 boxes, 44 read) reads few
SAMPLE_READ, SAMPLE_UPRIGHT = 0.4, 0.8


def _lines_read(engine: OcrEngine, image: Image.Image, ruled: gridlines.RuledPage) -> OcrPage | None:
    """The ruled page read line by line, or None when too few lines read well (upside down, not text).
    A sample of the lines is read first and the rest only when the sample reads like an upright form: an
    upside-down form in a stack, or a copy whose fold or speckle made hundreds of "lines", is given up after
    LINE_SAMPLE lines instead of after all of them (the sample's readings are kept)."""
    reader = cast(LineRecognizer, engine)
    lines = ruled.lines
    picked = _sample(lines)
    first = reader.recognize_lines(image, [lines[i] for i in sorted(picked)])
    if len(first.boxes) < SAMPLE_READ * len(picked) or _page_quality(first) < SAMPLE_UPRIGHT:
        return None
    rest = reader.recognize_lines(image, [b for i, b in enumerate(lines) if i not in picked])
    position: dict[BBox, int] = {}
    for i, b in enumerate(lines):
        position.setdefault(b, i)
    boxes = tuple(sorted((*first.boxes, *rest.boxes), key=lambda b: position.get(b.bbox, len(lines))))
    result = OcrPage(first.width, first.height, boxes, first.seconds + rest.seconds, first.engine)
    if len(result.boxes) >= LINES_READ * len(lines) and _page_quality(result) >= UPRIGHT:
        return result
    return None


def _sample(lines: list[BBox]) -> set[int]:
    """LINE_SAMPLE of the lines, spread evenly over the page in reading order, short lines only where the page
    has enough of them (a form's labels and most of its values)."""
    short = [i for i, b in enumerate(lines) if b[2] - b[0] <= SHORT_LINE * (b[3] - b[1])]
    pool = short if len(short) >= LINE_SAMPLE else list(range(len(lines)))
    count = min(LINE_SAMPLE, len(pool))
    return {pool[k * len(pool) // count] for k in range(count)}


def _full(engine: OcrEngine, image: Image.Image) -> OcrPage:
    return engine.recognize(image)


def _turned(prepared: Image.Image, degrees: int) -> Image.Image:
    """The deskewed page turned by a multiple of 90°: turning keeps it deskewed (the skew found on the page
    lying on its side came from the rules that are its columns, as straight as its rows)."""
    return images.rotate_page(prepared, degrees % 360)


def _read_page(engine: OcrEngine, img: Image.Image) -> tuple[PageRead, float]:
    """A ruled form: its text lines come from the pixels (gridlines) and only the recogniser runs — upright,
    then turned 180° (a page fed upside down in a stack), or a quarter either way for a form on its side.
    Any other page, or a ruled one whose lines read badly, gets the engine's full detector + recogniser,
    and the other orientations when it reads poorly; a form found lying on its side that way is then read
    from its rules after all."""
    seconds = 0.0
    prepared = images.prepare(img).image
    ruled_seen = False
    upright: gridlines.RuledPage | None = None  # the upright page's analysis, kept for a page without a grid
    if reads_lines(engine):
        upright = gridlines.analyse(prepared)
        # a portrait form lying on its side in a stack is read from its rules turned a quarter (0.5 s) rather
        # than by the full detector, turned, and read from its rules after all (1.9 s: e2e seed 95959's
        # stack, untuned, a whole case at 0.75 of the bare OCR)
        turns = (0, 180) if upright is not None else (90, 270) if gridlines.on_its_side(prepared) else ()
        for degrees in turns:
            page = _turned(prepared, degrees)
            ruled = upright if degrees == 0 else gridlines.analyse(page)
            if ruled is None:
                continue
            ruled_seen = True
            start = time.perf_counter()
            result = _lines_read(engine, page, ruled)
            seconds += time.perf_counter() - start
            if result is not None:
                return PageRead(page, result, degrees, ruled), seconds
    # no grid: a licence, ID card, certificate or invoice copy — large print, the detector works on a
    # reduced copy; a ruled page that read badly gets the full-size detector
    read = _full if ruled_seen else coarse
    # the coarse read may have read the page turned the way its sample of lines asked
    first = read(engine, prepared) if ruled_seen else coarse(engine, prepared, orient=True)
    seconds += first.seconds
    best = PageRead(_turned(prepared, first.turn), first, first.turn, None)
    # fed sideways or upside down and not (well) read yet: the other ways
    for degrees in (d for d in (0, 180, 90, 270) if d != first.turn):
        if _page_quality(best.result) >= UPRIGHT:
            break
        turned = _turned(prepared, degrees)
        again = read(engine, turned)
        seconds += again.seconds
        if _page_quality(again) > _page_quality(best.result):
            best = PageRead(turned, again, degrees, None)
    analysed = best.rotation == 0 and reads_lines(engine)  # that page was analysed above
    best.ruled = upright if analysed else gridlines.analyse(best.image)
    if best.ruled is not None and best.rotation in (90, 270) and reads_lines(engine):
        # a form lying on its side (in a stack): read from its rules as an upright form is — the detector
        # ran a value wrapped over three close lines of a narrow cell into its first line (seed 33445's
        # stack: 通用名 厦门市海辰数, at 1.0, for 厦门市海辰数据服务有限公司)
        start = time.perf_counter()
        lines = _lines_read(engine, best.image, best.ruled)
        seconds += time.perf_counter() - start
        if lines is not None:
            best.result = lines
    return best, seconds


def _ocr_pages(
    engine_factory: EngineFactory,
    pages: list[tuple[int, Image.Image]],
    doc: ReadDocument,
    cache: OcrCache | None = None,
) -> None:
    pages = [(number, flat_page(img)) for number, img in pages]  # a photo's page flat; a scan as it is
    engine = engine_factory()
    key = f"{engine.name}/{OCR_CACHE_VERSION}"
    cached = {int(p["page"]): p for p in (cache.get(doc.sha256, key) or [])} if cache is not None else {}
    if cached and all(number in cached for number, _img in pages):
        for number, img in pages:  # preparation is deterministic: redo it, skip the OCR
            entry = cached[number]
            page_img = _turned(images.prepare(img).image, int(entry["rotation"]))
            doc.page_images[number] = page_img
            ruled = gridlines.analyse(page_img)
            if ruled is not None:
                doc.cells[number] = ruled.cells
            doc.items.extend(TextItem(t, tuple(b), sc, number) for t, b, sc in entry["items"])
        return
    record: list[dict[str, Any]] = []
    for number, img in pages:
        read, seconds = _read_page(engine, img)
        doc.ocr_seconds += seconds
        doc.page_images[number] = read.image
        if read.ruled is not None:
            doc.cells[number] = read.ruled.cells
        doc.items.extend(TextItem(b.text, b.bbox, b.score, number) for b in read.result.boxes)
        record.append(
            {
                "page": number,
                "rotation": read.rotation,
                "items": [[b.text, list(b.bbox), b.score] for b in read.result.boxes],
            }
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
            doc.items, doc.pages, doc.cells = layer.items, layer.pages, dict(layer.cells)
            doc.text_source = TextSource.PDF_TEXT if layer.items else TextSource.OCR
            if layer.page_images:
                numbered = list(zip(layer.image_page_numbers, layer.page_images, strict=True))
                _ocr_pages(engine_factory, numbered, doc, cache)
        elif container == "docx":
            layer = docx_items(data)
            doc.items, doc.pages, doc.text_source, doc.cells = layer.items, 1, TextSource.DOCX, dict(layer.cells)
        elif container == "xlsx":
            layer = xlsx_items(data)
            doc.items, doc.pages, doc.text_source = layer.items, layer.pages, TextSource.XLSX
            doc.cells = dict(layer.cells)
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


TITLE_MATCH = 85.0


def detect_office(docs: list[ReadDocument], profiles: dict[str, OfficeProfile], default: str) -> OfficeProfile:
    """The office whose form title the case's text carries, best fuzzy match of a line against each
    profile's long keywords (a title read with a wrong character still names its office)."""
    lines = [norm_label(it.text) for d in docs for it in d.items]
    text = "".join(lines)
    best, best_score = profiles[default], 0.0
    for profile in profiles.values():
        for keyword in (norm_label(k) for k in profile.form_keywords):
            if len(keyword) <= 8:
                continue
            score = 100.0 if keyword in text else max((fuzz.ratio(keyword, line) for line in lines), default=0.0)
            if score > best_score:
                best, best_score = profile, score
    return best if best_score >= TITLE_MATCH else profiles[default]


@dataclass
class Part:
    """One document inside a file: the whole file, or a run of pages of a scanned stack (申请表, 营业执照,
    身份证 … scanned into one PDF).  Evidence keeps the file's name and the original page numbers."""

    doc: ReadDocument
    pages: tuple[int, ...]
    kind: DocKind

    @property
    def items(self) -> list[TextItem]:
        return [it for it in self.doc.items if it.page in self.pages]


def _label_hits(text: str, profile: OfficeProfile) -> int:
    labels = {norm_label(a) for f in profile.fields for a in f.labels} | {norm_label(profile.category_label)}
    return sum(1 for a in labels if len(a) >= 3 and a in text)


def page_kind(items: list[TextItem], profile: OfficeProfile) -> DocKind:
    """What one page is, by its content only."""
    text = norm_label("".join(it.text for it in items))
    return classify_text(text, profile.form_keywords, _label_hits(text, profile))


ID_FRONT = ("公民身份号码", "身份号码")


def split_parts(doc: ReadDocument, profile: OfficeProfile) -> list[Part]:
    """Classify each page on its own and cut the file into documents: a page of another kind starts a new
    document, a page that says nothing (a form's second page, a licence's back) continues the one before,
    and every ID-card front is a copy of its own."""
    if doc.kind != DocKind.OTHER or not doc.items:
        return [Part(doc, tuple(range(1, max(doc.pages, 1) + 1)), doc.kind)]
    numbers = sorted({it.page for it in doc.items} | set(range(1, doc.pages + 1)))
    parts: list[Part] = []
    for number in numbers:
        items = [it for it in doc.items if it.page == number]
        kind = page_kind(items, profile) if items else DocKind.OTHER
        front = kind == DocKind.ID_CARD and any(w in norm_label(it.text) for it in items for w in ID_FRONT)
        last = parts[-1] if parts else None
        if last is not None and (
            kind == DocKind.OTHER
            or (kind == last.kind and kind != DocKind.ID_CARD)
            or (kind == DocKind.ID_CARD == last.kind and not front)
        ):
            last.pages = (*last.pages, number)
            continue
        parts.append(Part(doc, (number,), kind))
    if len(parts) == 1 and parts[0].kind == DocKind.OTHER:
        parts[0].kind = name_hint(doc.name) or DocKind.OTHER  # the name only breaks a tie with the content
    return parts


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
    parts = [part for doc in docs for part in split_parts(doc, profile)]
    fields: dict[str, Field] = {}
    form_parts: list[tuple[Part, FormExtraction]] = []
    for part in parts:
        if part.kind == DocKind.APPLICATION_FORM:
            fx = _read_form(part, profile)
            if fx.missing and part.doc.page_images:
                fx = _second_look(part, fx, profile, engine_factory)
            form_parts.append((part, fx))
    if len(form_parts) > 1:
        findings.append(
            warning(
                "MULTIPLE_FORMS",
                None,
                f"案件中有 {len(form_parts)} 份申请表，仅读取第一份：{form_parts[0][0].doc.name}",
            )
        )
    if form_parts:
        part, fx = form_parts[0]
        fields.update(fx.fields)
        if "email" in fields and part.doc.text_source == TextSource.OCR:
            page = fields["email"].evidence.page if fields["email"].evidence else None
            image = part.doc.page_images.get(page) if page is not None else None
            fields["email"], doubt = email_read_twice(fields["email"], part.doc.items, image, engine_factory())
            findings.extend([doubt] if doubt else [])
        fields.update(_marks(part, {fields[k].value for k in PEOPLE if k in fields}))
        cat = _category(part.doc, fx, profile)
        if cat is not None:
            fields["category"] = cat
        elif fx.category_texts:
            findings.append(
                warning(
                    "CATEGORY_UNREADABLE",
                    "category",
                    "无法识别申请类别的勾选情况，请人工确认",
                    Evidence(part.doc.name, fx.category_texts[0].page, fx.category_box),
                )
            )
    if attachments is not None:
        fields.update(_attachment_fields(parts, attachments))
        _names_read_again(fields, docs, profile.confidence_threshold, engine_factory)
    fields, repairs = repair_fields(fields)
    findings.extend(repairs)
    fields.update(_der_fields(files, docs))
    confirmed = corroborated(fields)
    fields.update(confirmed)
    findings[:] = confirmed_repairs(findings, confirmed)
    timings = {
        "extract_s": time.perf_counter() - start,
        "ocr_s": sum(d.ocr_seconds for d in docs),
        "ocr_pages": float(sum(len(d.page_images) for d in docs)),
    }
    documents = [_document(p, sum(1 for q in parts if q.doc is p.doc) > 1) for p in parts]
    for doc in docs:  # the read documents carry the kind of their (first) part
        doc.kind = next(p.kind for p in parts if p.doc is doc)
    if not any(p.kind == DocKind.APPLICATION_FORM for p in parts):
        findings.append(info("NO_APPLICATION_FORM_READ", None, "未在材料中识别到申请表"))
    return profile, Extraction(documents, fields, findings, timings), docs


def _document(part: Part, split: bool) -> Document:
    doc = part.doc
    pages = len(part.pages) if split else doc.pages
    return Document(doc.name, doc.sha256, part.kind, pages, doc.text_source, part.pages[0] if split else None)


def _read_form(part: Part, profile: OfficeProfile) -> FormExtraction:
    """The form's fields through its cells where the pages have a table, by rows of text otherwise."""
    doc = part.doc
    with_bbox = doc.text_source in (TextSource.OCR, TextSource.PDF_TEXT)
    items = part.items
    ruled = [build_page(n, doc.cells[n], items) for n in part.pages if doc.cells.get(n)]
    if ruled:
        fx = read_cells(ruled, profile, doc.name, with_bbox)
        if fx is not None:
            return fx
    return extract_form(items, profile, doc.name, with_bbox=with_bbox)


SECOND_LOOK_SCALE = 2.0


def _second_look(
    part: Part, fx: FormExtraction, profile: OfficeProfile, engine_factory: EngineFactory
) -> FormExtraction:
    """OCR again, enlarged, the cells whose label was found but whose value the page-level pass missed."""
    doc = part.doc
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
    return _read_form(part, profile)


PEOPLE = ("legal_rep_name", "handler_name")  # who may sign the form


def _names_read_again(
    fields: dict[str, Field], docs: list[ReadDocument], threshold: float, engine_factory: EngineFactory
) -> None:
    """Each ID copy's name read under the threshold and unlike the form's name for the person whose ID number
    that copy prints, read again with wider cuts (``name_read_again``)."""
    for person in PEOPLE:
        name, number = fields.get(person), fields.get(person.replace("_name", "_id_number"))
        if name is None or number is None:
            continue
        for key in _copies_printing(fields, number):
            copy = fields[key]
            if copy.value == name.value or copy.confidence >= threshold or copy.evidence is None:
                continue
            doc = next((d for d in docs if d.name == copy.evidence.document), None)
            if doc is None:
                continue
            image = doc.page_images.get(copy.evidence.page)
            fields[key] = name_read_again(copy, name.value, doc.items, image, engine_factory())


def _copies_printing(fields: dict[str, Field], number: Field, least: float = 0.0) -> list[str]:
    """The name keys (``id_card.N.name``) of the ID copies whose number, read at ``least`` or better, is
    ``number``'s."""
    out = []
    for key in (k for k in fields if re.fullmatch(r"id_card\.\d+\.number", k)):
        name = key.replace(".number", ".name")
        copy = fields[key]
        if name in fields and copy.confidence >= least and copy.value.upper() == number.value.upper():
            out.append(name)
    return out


def _marks(part: Part, signers: set[str]) -> dict[str, Field]:
    """seal_present / signature_present (是/否) from the scan; text layers cannot show them.  A signature
    the OCR reads, after 签字, as the name of one who may sign (``签字:洪娟 宇`` for 洪娟宇) is sure, however
    little ink a name written small leaves (seed 75757, untuned: 0.86, a clean case to review)."""
    doc = part.doc
    out: dict[str, Field] = {}
    scanned = [n for n in part.pages if n in doc.page_images]
    if not scanned:
        return out
    # the promise block with seal and signature ends the form: the last page with the 签字 label, else the
    # last with any text — a duplex scanner's blank back page (or a blank page scanned after the form) is not
    # where the seal is looked for
    items = part.items
    written = [n for n in scanned if any(it.page == n for it in items)]
    signed = [n for n in written if any(it.page == n and "签字" in norm_label(it.text) for it in items)]
    page = max(signed or written or scanned)
    img = doc.page_images[page]
    seal = out["seal_present"] = seal_field(img, doc.name, page)
    found = seal.evidence.bbox if seal.value == "是" and seal.evidence is not None else None
    sig = signature_field(img, doc.items, doc.name, page, found)
    if sig is not None and sig.confidence < SIGNED_NAME_CONFIDENCE and signed_name(items, page) in signers:
        # the name the OCR reads is written there, even where the area measured after the label's end has
        # little of it (the OCR line ran on over the name's first characters) or none counted (a name
        # written inside a grey seal's disk, read in a box of its own)
        sig = Field("是", SIGNED_NAME_CONFIDENCE, sig.evidence)
    if sig is not None:
        out["signature_present"] = sig
    return out


def _attachment_fields(parts: list[Part], specs: AttachmentSpecs) -> dict[str, Field]:
    """Namespaced fields of the licence, ID copies (numbered), product certificate and invoice."""
    out: dict[str, Field] = {}
    others = specs.stop_labels + tuple(a for group in specs.by_kind.values() for f in group for a in f.labels)
    id_copies = 0
    for part in parts:
        group = specs.by_kind.get(str(part.kind))
        items = part.items
        if not group or not items:
            continue
        with_bbox = part.doc.text_source in (TextSource.OCR, TextSource.PDF_TEXT)
        found = extract_labeled(items, group, others, part.doc.name, with_bbox)
        if part.kind == DocKind.ID_CARD:
            id_copies += 1
            if "id_card.number" not in found:
                number = _id_number_by_check_digit(items, part.doc.name, with_bbox)
                found.update({"id_card.number": number} if number is not None else {})
            found = {k.replace("id_card.", f"id_card.{id_copies}.", 1): v for k, v in found.items()}
        for key, value in found.items():
            out.setdefault(key, value)
    return out


def _id_number_by_check_digit(items: list[TextItem], document: str, with_bbox: bool) -> Field | None:
    """An ID copy's number where its label was not read: the one line that is a whole resident ID number
    with a right check digit (a black-and-white copy loses the card's pale printed labels, not the number)."""
    found: list[tuple[str, TextItem]] = []
    for it in items:
        try:
            number, _kind = validate_resident_id(clean_value("id_number", it.text))
        except ValidationError:
            continue
        found.append((number, it))
    if len({number for number, _it in found}) != 1:
        return None
    number, it = found[0]
    return Field(number, it.score, Evidence(document, it.page, it.bbox if with_bbox else None))


BESIDE_CONFIDENCE = 0.92  # a tick before its empty box that both the OCR and the pixels place


def _category(doc: ReadDocument, fx: FormExtraction, profile: OfficeProfile) -> Field | None:
    """The ticked 申请类别: box ink on the scan; a tick glyph in the text (typed ☑/■/√, or a √ the OCR read
    before the box) where the pixels show no ticked box; never guessed."""
    options = profile.category_options
    if not fx.category_texts:
        return None
    evidence = Evidence(doc.name, fx.category_texts[0].page, fx.category_box)
    glyphs = category_from_text(fx.category_texts, options)
    marked = [it.score for it in fx.category_texts if any(g in it.text for g in TICKED)] or [0.0]
    glyph_conf = 0.99 if doc.text_source != TextSource.OCR else min(0.95, min(marked))
    page_img = doc.page_images.get(fx.category_texts[0].page)
    slots: tuple[list[str], float] | None = None
    if page_img is not None and fx.category_box is not None:
        result = ticked_options(page_img, fx.category_box, fx.category_texts, options)
        slots = slot_ticks(page_img, fx.category_texts, options)
        if result is not None:
            ticked, boxes, conf = result
            if not ticked and slots is not None and len(slots[0]) == 1:
                if empty_box_at_slot(boxes, fx.category_texts, options, slots[0][0]):
                    # the slot's ink is the outline of a box smaller than a character, found clean and
                    # empty: no tick (seed 18181: 更新's 16-px box over √□注销, 注销 read at 0.85)
                    slots = ([], 0.5)
            if glyphs is not None and len(glyphs) > 1 and ticked != glyphs:
                # the OCR read a tick before two options (√□新办 √□注销) where the box contours saw another
                # set (characters of the note taken for inked boxes): what the form shows is two ticks
                return Field("、".join(glyphs), 0.5, evidence)
            if slots is not None and slots[0] and slots[0] != ticked:  # box contours and slot ink disagree
                if len(slots[0]) == 1 and (not ticked or slots[0] == glyphs):
                    return Field(slots[0][0], min(slots[1], 0.85 if slots[0] != glyphs else 0.95), evidence)
                conf = min(conf, 0.5)
            elif not ticked and glyphs and len(glyphs) == 1:
                return Field(glyphs[0], glyph_conf, evidence)
            elif len(ticked) == 1:  # each witness that agrees with the box contours vouches for them
                if glyphs == ticked:  # the tick the OCR read
                    conf = max(conf, glyph_conf)
                if slots is not None and slots[0] == ticked:  # the ink at the option's slot
                    conf = max(conf, min(slots[1], 0.95))
                elif glyphs and glyphs != ticked:
                    # the OCR read the tick before another option, and no ink at the slot backs the contours:
                    # a box lost in a blurred photo, its outline taken for a pen's ink (seed 58585, untuned:
                    # √□注销 typed, the □ of 新办 not found as a square, 新办 at 0.95)
                    conf = min(conf, 0.5)
            return Field("、".join(ticked), conf if len(ticked) == 1 else min(conf, 0.5), evidence)
        if slots is not None and slots[0]:  # no clean box contour: a pen tick across the box
            ticked, conf = slots[0], min(slots[1], 0.92)
            if glyphs and glyphs != ticked:
                conf = min(conf, 0.5)
                ticked = glyphs if len(glyphs) > 1 else ticked  # two ticks read: the form shows two
            return Field("、".join(ticked), conf if len(ticked) == 1 else min(conf, 0.5), evidence)
    if glyphs is None:
        return None
    conf = glyph_conf if doc.text_source != TextSource.OCR else min(glyph_conf, 0.8)
    if (
        doc.text_source == TextSource.OCR
        and len(glyphs) == 1
        and page_img is not None
        and slots is not None
        and not slots[0]
        and beside_tick(page_img, fx.category_texts, options, glyphs[0], fx.category_box)
    ):  # a tick written before the box (√□新办): the OCR's tick, no box inked, the ink where the tick is read
        conf = min(glyph_conf, BESIDE_CONFIDENCE)
    return Field("、".join(glyphs), conf if len(glyphs) == 1 else 0.5, evidence)


CORROBORATING = (("applicant_name", "csr.subject_o"), ("common_name", "csr.subject_cn"))
CORROBORATED_CONFIDENCE = 0.95
# a code or a person's name on the form read (or repaired) exactly as an attachment's copy, itself read
# surely, prints it
WITNESSES = {
    "org_code": ("license.org_code",),
    "legal_rep_id_number": ("id_card.*.number",),
    "handler_id_number": ("id_card.*.number",),
    "legal_rep_name": ("license.legal_rep", "id_card.*.name"),
    "handler_name": ("id_card.*.name",),
}
WITNESS_CONFIDENCE = 0.9
# an ID copy's name vouches at this confidence when the copy prints, read surely, the ID number the form
# gives that person: the copy is that person's, and the name read alike on two prints in two typefaces is
# no misread (e2e seed 47474, untuned: 韩静丽 at 0.85 on the form and 0.90 on the copy, a clean case held)
LINKED_WITNESS_CONFIDENCE = 0.85


def _witnesses(fields: dict[str, Field], pattern: str) -> list[Field]:
    if "*" not in pattern:
        return [fields[pattern]] if pattern in fields else []
    head, _, tail = pattern.partition("*")
    return [f for k, f in fields.items() if k.startswith(head) and k.endswith(tail) and len(k) > len(head + tail)]


def corroborated(fields: dict[str, Field]) -> dict[str, Field]:
    """Read values another document spells exactly the same way: names the CSR's subject (digital, exact)
    matches — an OCR score a little under the office's threshold is no doubt then, since a misread would not
    match the CSR character for character — and codes (统一社会信用代码, ID numbers) and people's names that
    the licence or an ID copy, read surely on another page, prints identically: two reads of different prints
    that agree on all 18 characters of a check-digit code, or on every character of a name (黄静霞 read at
    0.75 on a stack's form, at 0.997 on its licence and 0.97 on the ID copy), are no misread."""
    out: dict[str, Field] = {}
    for key, witness in CORROBORATING:
        read, digital = fields.get(key), fields.get(witness)
        if read and digital and read.confidence < CORROBORATED_CONFIDENCE and same_name(read.value, digital.value):
            out[key] = Field(read.value, CORROBORATED_CONFIDENCE, read.evidence)
    for key, patterns in WITNESSES.items():
        read = fields.get(key)
        if read is None or read.confidence >= CORROBORATED_CONFIDENCE:
            continue
        where = (read.evidence.document, read.evidence.page) if read.evidence else None
        linked = _linked_copies(fields, key)
        for w in (w for p in patterns for w in _witnesses(fields, p)):
            other = (w.evidence.document, w.evidence.page) if w.evidence else None
            least = LINKED_WITNESS_CONFIDENCE if any(w is c for c in linked) else WITNESS_CONFIDENCE
            if w.value == read.value and w.confidence >= least and other != where:
                out[key] = Field(read.value, CORROBORATED_CONFIDENCE, read.evidence)
                break
    return out


def _linked_copies(fields: dict[str, Field], person: str) -> list[Field]:
    """The names of the ID copies that print, read surely, the ID number the form gives ``person`` (a
    ``*_name`` key), itself read surely."""
    number = fields.get(person.replace("_name", "_id_number")) if person.endswith("_name") else None
    if number is None or number.confidence < WITNESS_CONFIDENCE:
        return []
    return [fields[key] for key in _copies_printing(fields, number, WITNESS_CONFIDENCE)]


def confirmed_repairs(findings: list[Finding], confirmed: dict[str, Field]) -> list[Finding]:
    """A repair whose result another document prints identically is confirmed: the warning becomes a note."""
    out = []
    for f in findings:
        if f.code == "OCR_REPAIRED" and f.field in confirmed:
            message = f.message_zh.replace("请核对原件", "已与附件复印件核对一致")
            f = info("OCR_REPAIR_CONFIRMED", f.field, message, f.evidence)
        out.append(f)
    return out


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
