"""Text layers: PDF words (pdfplumber), DOCX tables (python-docx), XLSX cells (openpyxl).

Table cells are laid out on a synthetic grid (column → x, row → y) so the same label → right-hand
value geometry works for scans and for office documents.  Merged cells appear once.
"""

from __future__ import annotations

import io
import logging
import zipfile
from dataclasses import dataclass

from PIL import Image

from pipeline.extract.forms import TextItem

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
    row_no = 0
    for para in doc.paragraphs:
        if para.text.strip():
            items.append(_grid_item(para.text.strip(), row_no, 0, 8))
            row_no += 1
    for table in doc.tables:
        for row in table.rows:
            cells = list(row.cells)
            col = 0
            while col < len(cells):
                span = 1  # a merged cell repeats across the grid columns it spans
                while col + span < len(cells) and cells[col + span]._tc is cells[col]._tc:
                    span += 1
                text = cells[col].text.strip()
                if text:
                    items.append(_grid_item(text, row_no, col, span))
                col += span
            row_no += 1
        row_no += 1
    return TextLayer(items, 1, [], [])


def xlsx_items(data: bytes) -> TextLayer:
    try:
        from openpyxl import load_workbook

        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        raise TextLayerError("XLSX_CORRUPT", f"cannot open XLSX: {type(exc).__name__}: {exc}") from exc
    items: list[TextItem] = []
    row_base = 0
    formulas = _has_formulas(data)
    for ws in wb.worksheets:
        for r, row in enumerate(ws.iter_rows(values_only=True, max_row=500, max_col=40)):
            for c, value in enumerate(row):
                if value is not None and str(value).strip():
                    items.append(_grid_item(str(value).strip(), row_base + r, c))
        row_base += (ws.max_row or 0) + 2
    wb.close()
    if not items and formulas:
        raise TextLayerError(
            "XLSX_NO_VALUES", "the workbook holds formulas without saved results (open and save it in Excel/WPS first)"
        )
    return TextLayer(items, len(wb.worksheets), [], [])


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
            else:
                images.append(render_page(data, i - 1))
                image_pages.append(i)
    return TextLayer(items, n, images, image_pages)


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
