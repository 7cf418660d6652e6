"""Text layers: PDF words (pdfplumber), DOCX tables (python-docx), XLSX cells (openpyxl).

Each source also yields its table **cells** (boxes per page), so forms from every source are read by one
cell reader (``cellform``): PDF cells come from pdfplumber's table finder, DOCX and XLSX cells from the
document's own table model laid out on a synthetic grid (column → x, row → y; a merged or spanning cell is
one box over the grid cells it covers, each paragraph one line inside it).
"""

from __future__ import annotations

import io
import logging
import zipfile
from dataclasses import dataclass, field

from PIL import Image

from pipeline.extract.forms import TextItem
from pipeline.models import BBox

log = logging.getLogger(__name__)

CELL_W, CELL_H = 1000.0, 100.0
MAX_PDF_PAGES = 20
RENDER_DPI = 200


@dataclass(frozen=True)
class TextLayer:
    items: list[TextItem]
    pages: int
    page_images: list[Image.Image]  # pages that had no text and need OCR (PDF only)
    image_page_numbers: list[int]
    cells: dict[int, list[BBox]] = field(default_factory=dict)  # page → table cell boxes


class TextLayerError(ValueError):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _grid_item(text: str, row: int, col: int, span: int = 1) -> TextItem:
    return TextItem(text, (col * CELL_W, row * CELL_H, (col + span) * CELL_W - 10, row * CELL_H + 50), 1.0, 1)


def docx_items(data: bytes) -> TextLayer:
    try:
        from docx import Document

        doc = Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises KeyError/ValueError/BadZipFile/… on junk
        raise TextLayerError("DOCX_CORRUPT", f"cannot open DOCX: {type(exc).__name__}: {exc}") from exc
    items: list[TextItem] = []
    cells: list[BBox] = []
    row_no = 0
    for para in doc.paragraphs:
        if para.text.strip():
            items.append(_grid_item(para.text.strip(), row_no, 0, 8))
            row_no += 1
    for table in doc.tables:
        row_no = _docx_table(table, row_no, items, cells) + 1
    return TextLayer(items, 1, [], [], {1: cells})


def _docx_table(table: object, top: int, items: list[TextItem], cells: list[BBox]) -> int:
    """Lay a python-docx table on the grid: one box per distinct cell (spans and vertical merges
    included), one line item per paragraph.  Returns the grid row after the table."""
    seen: dict[int, list[int]] = {}  # id(_tc) → [row0, col0, row1, col1, index in order]
    order: list[object] = []
    rows = list(table.rows)  # type: ignore[attr-defined]
    for r, row in enumerate(rows):
        for c, cell in enumerate(row.cells):
            key = id(cell._tc)
            if key in seen:
                span = seen[key]
                span[2], span[3] = max(span[2], r), max(span[3], c)
            else:
                seen[key] = [r, c, r, c]
                order.append(cell)
    for cell in order:
        r0, c0, r1, c1 = seen[id(cell._tc)]  # type: ignore[attr-defined]
        box: BBox = (c0 * CELL_W, (top + r0) * CELL_H, (c1 + 1) * CELL_W, (top + r1 + 1) * CELL_H)
        cells.append(box)
        paras = [p.text.strip() for p in cell.paragraphs if p.text.strip()]  # type: ignore[attr-defined]
        step = (box[3] - box[1]) / (len(paras) + 1)
        for k, text in enumerate(paras):
            y = box[1] + step * (k + 0.5)
            items.append(TextItem(text, (box[0] + 10, y, box[2] - 10, y + step * 0.8), 1.0, 1))
    return top + len(rows)


def xlsx_items(data: bytes) -> TextLayer:
    try:
        from openpyxl import load_workbook

        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        raise TextLayerError("XLSX_CORRUPT", f"cannot open XLSX: {type(exc).__name__}: {exc}") from exc
    items: list[TextItem] = []
    cells: list[BBox] = []
    row_base = 0
    formulas = _has_formulas(data)
    merged = _merged_ranges(data)
    for sheet_no, ws in enumerate(wb.worksheets):
        spans = merged.get(sheet_no, {})
        covered = {(r, c) for (r0, c0), (r1, c1) in spans.items() for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)}
        for r, row in enumerate(ws.iter_rows(values_only=True, max_row=500, max_col=40)):
            for c, value in enumerate(row):
                r1, c1 = spans.get((r, c), (r, c))
                if (r, c) in covered and (r, c) not in spans:
                    continue  # inside a merged range: its top-left cell holds the value
                box: BBox = (c * CELL_W, (row_base + r) * CELL_H, (c1 + 1) * CELL_W, (row_base + r1 + 1) * CELL_H)
                cells.append(box)
                if value is not None and str(value).strip():
                    y = box[1] + 10
                    items.append(TextItem(str(value).strip(), (box[0] + 10, y, box[2] - 10, y + 50), 1.0, 1))
        row_base += (ws.max_row or 0) + 2
    wb.close()
    if not items and formulas:
        raise TextLayerError(
            "XLSX_NO_VALUES", "the workbook holds formulas without saved results (open and save it in Excel/WPS first)"
        )
    return TextLayer(items, len(wb.worksheets), [], [], {1: cells})


MERGE_READ_LIMIT = 5 * 1024 * 1024  # merged ranges need the full (not read-only) loader: small books only


def _merged_ranges(data: bytes) -> dict[int, dict[tuple[int, int], tuple[int, int]]]:
    """Per sheet: (row, col) of each merged range's top-left cell (0-based) → its bottom-right cell."""
    if len(data) > MERGE_READ_LIMIT:
        return {}
    try:
        from openpyxl import load_workbook

        wb = load_workbook(io.BytesIO(data), read_only=False, data_only=True)
    except Exception:  # the read-only pass reports what is wrong with the file
        return {}
    out: dict[int, dict[tuple[int, int], tuple[int, int]]] = {}
    for i, ws in enumerate(wb.worksheets):
        out[i] = {
            (m.min_row - 1, m.min_col - 1): (m.max_row - 1, m.max_col - 1)
            for m in ws.merged_cells.ranges
            if m.max_row <= 500 and m.max_col <= 40
        }
    wb.close()
    return out


def _has_formulas(data: bytes) -> bool:
    try:
        from openpyxl import load_workbook

        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
        found = any(
            isinstance(v, str) and v.startswith("=")
            for ws in wb.worksheets
            for row in ws.iter_rows(values_only=True, max_row=200, max_col=40)
            for v in row
        )
        wb.close()
        return found
    except Exception:  # the data_only pass reports what is wrong with the file
        return False


def pdf_items(data: bytes) -> TextLayer:
    import pdfplumber
    from pdfminer.pdfparser import PDFSyntaxError

    try:
        pdf = pdfplumber.open(io.BytesIO(data))
    except PDFSyntaxError as exc:
        raise TextLayerError("PDF_CORRUPT", f"not a readable PDF: {exc}") from exc
    except Exception as exc:
        # pdfplumber wraps pdfminer's errors: look at the wrapped one too (PDFPasswordIncorrect, PDFEncryptionError…)
        names = " ".join(type(e).__name__ for e in (exc, exc.__context__, *exc.args) if isinstance(e, BaseException))
        name = type(exc).__name__
        code = "PDF_ENCRYPTED" if "Password" in names or "Encrypt" in names else "PDF_CORRUPT"
        reason = "encrypted, a password is needed" if code == "PDF_ENCRYPTED" else f"{name}: {exc}"
        raise TextLayerError(code, f"cannot open PDF: {reason}") from exc
    items: list[TextItem] = []
    images: list[Image.Image] = []
    image_pages: list[int] = []
    cells: dict[int, list[BBox]] = {}
    with pdf:
        n = len(pdf.pages)
        if n > MAX_PDF_PAGES:
            raise TextLayerError("PDF_TOO_MANY_PAGES", f"PDF has {n} pages (limit {MAX_PDF_PAGES})")
        for i, page in enumerate(pdf.pages, start=1):
            try:
                words = page.extract_words(keep_blank_chars=False, use_text_flow=True)
            except Exception as exc:
                log.warning("pdf page %d: text extraction failed: %s", i, exc)
                words = []
            if sum(len(w["text"]) for w in words) >= 10:
                items.extend(
                    TextItem(w["text"], (float(w["x0"]), float(w["top"]), float(w["x1"]), float(w["bottom"])), 1.0, i)
                    for w in words
                )
                cells[i] = _pdf_cells(page, i)
            else:
                images.append(render_page(data, i - 1))
                image_pages.append(i)
    return TextLayer(items, n, images, image_pages, cells)


def _pdf_cells(page: object, number: int) -> list[BBox]:
    """Table cells of a text-layer page (pdfplumber's ruling-line table finder; merged cells come whole)."""
    try:
        tables = page.find_tables()  # type: ignore[attr-defined]
    except Exception as exc:  # a malformed page: its words are still read, without cells
        log.warning("pdf page %d: table finder failed: %s", number, exc)
        return []
    return [(float(c[0]), float(c[1]), float(c[2]), float(c[3])) for t in tables for c in t.cells if c is not None]


def render_page(data: bytes, index: int, scale: float = RENDER_DPI / 72) -> Image.Image:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(data)
    try:
        page = doc[index]
        bitmap = page.render(scale=scale)
        return bitmap.to_pil().convert("RGB")
    finally:
        doc.close()


def office_kind(data: bytes) -> str | None:
    """'docx' / 'xlsx' for OOXML zips, None otherwise."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
    except Exception:  # zipfile raises NotImplementedError, EOFError, … on damaged headers
        return None
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    return None
